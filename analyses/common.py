"""Report machinery shared by every model's analysis: atomic writes, tables, progress.

Every file is written to a temporary name in the same folder and renamed, so an
interrupted run never leaves a truncated ``.nc``, ``summary.json`` or figure. A whole
result folder is built under a hidden scratch name ``.MODEL.PID.run-XXXX`` and moved into
place by renames (:func:`replace_folder`); scratch left by a killed process is removed by
the next run (:func:`remove_stale_scratch`).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

#: Set by the command line's SIGINT handler. Numba, nutpie and PyMC sometimes catch a
#: KeyboardInterrupt and carry on (a sampler returns a shorter trace); every write and every
#: progress message checks this flag, so an interrupted run stops at its next step.
INTERRUPTED = threading.Event()

_SCRATCH = re.compile(r"^\.(?P<name>[^.]+)\.(?P<pid>\d+)\.(?P<kind>run|old)-[0-9a-f]+$")


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if the run was interrupted (even if a library swallowed it)."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextmanager
def atomic_path(path: Path, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    raise_if_interrupted()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        raise_if_interrupted()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def scratch_path(out_root: Path, name: str, kind: str = "run") -> Path:
    """A fresh hidden name next to ``out_root/name`` carrying this process's id (not created)."""
    return Path(out_root) / f".{name}.{os.getpid()}.{kind}-{secrets.token_hex(4)}"


def replace_folder(new: Path, final: Path) -> None:
    """Move folder ``new`` onto ``final`` by renames: the old ``final`` is moved aside first and
    deleted last, so a kill at any moment leaves the old or the new results, never neither."""
    new, final = Path(new), Path(final)
    aside = None
    if final.exists() or final.is_symlink():
        aside = scratch_path(final.parent, final.name, "old")
        final.rename(aside)
    try:
        new.rename(final)
    except BaseException:
        if aside is not None:
            aside.rename(final)
        raise
    if aside is not None:
        _delete(aside)


def _delete(path: Path) -> None:
    """Delete a folder tree, or the link or file that stands where one was expected."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_scratch(out_root: Path) -> list[Path]:
    """Clean up after killed runs in ``out_root``: delete their scratch folders, and put back a
    result folder that was moved aside when its replacement never arrived. Returns what it handled.

    Only names ``.MODEL.PID.run-XXXX`` / ``.MODEL.PID.old-XXXX`` whose process is gone are touched.
    """
    out_root, handled = Path(out_root), []
    if not out_root.is_dir():
        return handled
    for entry in sorted(out_root.iterdir()):
        match = _SCRATCH.match(entry.name)
        if not match or _process_alive(int(match["pid"])):
            continue
        final = out_root / match["name"]
        if match["kind"] == "old" and not (final.exists() or final.is_symlink()):
            entry.rename(final)
        else:
            _delete(entry)
        handled.append(entry)
    return handled


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _json_default(obj):
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def clean_for_json(obj):
    """Replace non-finite floats by None (strict JSON has no NaN/inf)."""
    if isinstance(obj, dict):
        return {str(k): clean_for_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_for_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return clean_for_json(obj.tolist())
    return obj


def write_json_atomic(path: Path, data: dict) -> Path:
    text = json.dumps(clean_for_json(data), indent=2, default=_json_default, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def save_datatree_atomic(dt: xr.DataTree, path: Path) -> Path:
    """Write ``dt`` to netCDF through a temporary file (netCDF4 engine)."""
    with atomic_path(path, suffix=".nc") as tmp:
        dt.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def save_figure_atomic(fig, path: Path, dpi: int = 110) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def fmt(x, digits: int = 4) -> str:
    """Format a number for a report table ('—' for None/NaN)."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "—"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 10 ** (-digits)):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"


def pm_fmt(value, se, digits: int = 4) -> str:
    """'value ± se', rounded to the se's second significant digit (the error bar is part of the number)."""
    try:
        v, e = float(value), float(se)
    except (TypeError, ValueError):
        return fmt(value, digits)
    if not math.isfinite(v):
        return "—"
    if not (math.isfinite(e) and e > 0):
        return fmt(v, digits)
    decimals = max(0, 1 - math.floor(math.log10(e)))
    return f"{v:.{decimals}f} ± {e:.{decimals}f}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured markdown table; cells are formatted with :func:`fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in row) + " |")
    return "\n".join(lines)


class Progress:
    """One-line progress messages on stderr with elapsed time (quiet when disabled)."""

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled, self.t0 = label, enabled, time.perf_counter()

    def __call__(self, message: str) -> None:
        raise_if_interrupted()
        if self.enabled:
            print(f"[{self.label} {time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr, flush=True)
