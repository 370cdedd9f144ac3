r"""Per-task results on disk, so an interrupted sweep resumes from its finished tasks.

A task's file is ``FOLDER/<spec_key(spec)>.pkl`` with ``spec_key = sha256(canonical JSON of the spec)``
(dataclasses by type name and fields, dict keys sorted, floats by their shortest repr, arrays by dtype, shape
and values): the same spec always maps to the same file. Each file is written to a temporary name in the
folder, flushed to disk and renamed into place (``os.replace``), so a kill at any moment leaves a task either
finished or absent, never half-written.

``FOLDER/sweep.json`` records the sweep the folder belongs to (``sweep_key``: a hash of the task function's
qualified name and every spec key in order). Opening a store for another sweep is a ``ValueError`` that
names ``store`` — results of one sweep are never mixed into another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

MANIFEST = "sweep.json"
_MISSING = object()


def _canonical(x):
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"__type__": type(x).__qualname__,
                **{f.name: _canonical(getattr(x, f.name)) for f in dataclasses.fields(x)}}
    if isinstance(x, dict):
        return {"__dict__": [[_canonical(k), _canonical(v)] for k, v in sorted(x.items(), key=lambda kv: repr(kv[0]))]}
    if isinstance(x, (list, tuple)):
        return [_canonical(v) for v in x]
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.dtype.str, "shape": list(x.shape), "values": _canonical(x.tolist())}
    if isinstance(x, np.generic):
        return _canonical(x.item())
    if isinstance(x, float):
        return {"__float__": repr(x)}  # exact, and NaN / inf stay JSON-safe
    if x is None or isinstance(x, (bool, int, str)):
        return x
    raise TypeError(f"task spec: cannot hash a {type(x).__name__} (use dataclasses, dicts, lists, tuples, "
                    "numbers, strings, numpy arrays)")


def spec_key(spec: Any) -> str:
    """sha256 hex digest of the canonical JSON form of ``spec`` (equal specs → equal keys, in any process)."""
    text = json.dumps(_canonical(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def sweep_key(task_fn: Callable, task_specs: Sequence[Any]) -> str:
    """A hash naming the sweep: the task function (module.qualname) and every spec key, in order."""
    h = hashlib.sha256(f"{task_fn.__module__}.{task_fn.__qualname__}".encode())
    for spec in task_specs:
        h.update(spec_key(spec).encode())
    return h.hexdigest()


class TaskStore:
    """A folder of finished tasks' results of one sweep (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.sweep: str | None = None

    def open(self, sweep: str, description: str = "") -> "TaskStore":
        """Create the folder or check that it belongs to ``sweep``; delete leftovers of interrupted writes."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"store must be a folder, got the file {self.folder}")
        manifest = self.folder / MANIFEST
        if manifest.exists():
            found = json.loads(manifest.read_text())
            if found.get("sweep") != sweep:
                raise ValueError(f"store {self.folder} belongs to another sweep ({found.get('description') or '?'}, "
                                 f"{found.get('n_tasks', '?')} tasks); delete it or choose another store folder")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_atomic(manifest, json.dumps({"sweep": sweep, "description": description}).encode())
        for tmp in self.folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self.sweep = sweep
        return self

    def path(self, spec: Any) -> Path:
        return self.folder / f"{spec_key(spec)}.pkl"

    def load(self, spec: Any, default: Any = _MISSING) -> Any:
        """The stored result of ``spec``, or ``default`` (``KeyError`` when none is given) if it has none."""
        try:
            return pickle.loads(self.path(spec).read_bytes())
        except FileNotFoundError:
            if default is _MISSING:
                raise KeyError(spec) from None
            return default

    def save(self, spec: Any, result: Any) -> None:
        self._write_atomic(self.path(spec), pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))

    def finished(self) -> int:
        """How many task results the folder holds."""
        return sum(1 for _ in self.folder.glob("*.pkl")) if self.folder.is_dir() else 0

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _write_atomic(path: Path, payload: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
