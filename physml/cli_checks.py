"""Checks of ``physml run``'s arguments and its ``--out`` folder, before anything is created.

Every check raises ``ValueError`` with the one line the command line prints (exit status 2).
"""

from __future__ import annotations

from pathlib import Path

SEED_MAX = 2**32 - 1


def parse_settings(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items as {KEY: VALUE} (strings; each analysis types them)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        if key.strip() in out:
            raise ValueError(f"--set {key.strip()} is given twice")
        out[key.strip()] = value.strip()
    return out


def parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(f"--seed must be an integer in 0..{SEED_MAX}, got {text!r}") from None
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"--seed must be an integer in 0..{SEED_MAX}, got {seed}")
    return seed


def parse_methods(text: str | None) -> list[str] | None:
    methods = [m.strip() for m in text.split(",") if m.strip()] if text else []
    for m in methods:
        if methods.count(m) > 1:
            raise ValueError(f"--methods names {m!r} twice")
    return methods or None


def check_data(path: str) -> None:
    """The data file exists, is a regular file and can be read (its format is the model's to check)."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"--data {path}: file not found")
    if p.is_dir():
        raise ValueError(f"--data {path} is a directory; give a data file")
    if not p.is_file():
        raise ValueError(f"--data {path} is not a regular file")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as err:
        raise ValueError(f"--data {path}: cannot read it: {err.strerror}") from None


def missing_folders(path: Path) -> list[Path]:
    """The folders of ``path`` that do not exist yet, outermost first."""
    missing = []
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing[::-1]


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders a run made (innermost first) where they are still empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def check_out(out_root: Path, names: list[str]) -> None:
    """``--out`` can hold the results: a probe makes the folder and a scratch folder in it, then
    removes what it made, so a rejected run leaves nothing behind."""
    try:
        _probe_out(out_root, names)
    except OSError as err:
        raise ValueError(f"--out {out_root}: cannot write there: {err.strerror}") from None


def _probe_out(out_root: Path, names: list[str]) -> None:
    from physml.analyses.common import scratch_path

    if out_root.exists() and not out_root.is_dir():
        raise ValueError(f"--out {out_root} exists and is not a folder")
    for name in names:
        final = out_root / name
        if (final.exists() or final.is_symlink()) and not final.is_dir():
            raise ValueError(f"--out {out_root}: {final} exists and is not a folder")
    missing = missing_folders(out_root)
    try:
        for folder in missing:
            folder.mkdir()
        probe = scratch_path(out_root, "probe")
        probe.mkdir()
        probe.rmdir()
    finally:
        remove_empty(missing)
