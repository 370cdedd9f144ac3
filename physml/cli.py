"""physml command line: ``physml list`` and ``physml run MODEL|all``.

The contract:

- Bad input — model, methods, seed, settings, sizes whose memory estimate does not fit, a data
  file, an ``--out`` that cannot be written — prints one line on stderr, exits with status 2
  and creates nothing: everything is checked before ``--out`` is made.
- Each model's results are built in a hidden scratch folder ``OUT/.MODEL.PID.run-XXXX`` and
  moved onto ``OUT/MODEL`` by renames only (the old folder is moved aside first, deleted last);
  scratch left by a killed run is removed by the next run.
- Ctrl-C always ends the run with status 130 and one line, and keeps nothing of the
  interrupted model, even where a library swallowed the KeyboardInterrupt.
"""

from __future__ import annotations

import _thread
import argparse
import logging
import shutil
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

INTERRUPTED_MESSAGE = "physml: interrupted; no partial results were kept"
SEED_MAX = 2**32 - 1


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        print(f"physml: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="physml", description="Statistical physics <-> machine learning, made runnable.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the models")
    r = sub.add_parser("run", help="fit a model with several methods and write a comparison report")
    r.add_argument("model", help="a model name from 'physml list', or 'all'")
    r.add_argument("--methods", help="comma-separated methods (default: the model's own list)")
    r.add_argument("--quick", action="store_true", help="short chains (a smoke run)")
    r.add_argument("--out", default="results", help="output folder (default: results)")
    r.add_argument("--seed", default="0", help=f"random seed (integer in 0..{SEED_MAX}, default 0)")
    r.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a model setting, e.g. --set prior=independent (repeatable)")
    r.add_argument("--data", help="data file (CSV with --target, .json, .npy ... as the model accepts)")
    r.add_argument("--target", help="response column of a CSV data file")
    r.add_argument("--quiet", action="store_true", help="no progress messages")
    return p


class SigintGuard:
    """SIGINT → recorded, and KeyboardInterrupt raised in the main thread.

    Numba, llvmlite, nutpie and PyMC sometimes catch a KeyboardInterrupt (a ctypes callback
    reports it as "Exception ignored", a sampler stops early and returns a shorter trace). The
    record survives that: ``physml.analyses.common.INTERRUPTED`` stops the analysis at its next
    write or progress message, the CLI checks ``requested`` after every model, and a thread
    raises the interrupt again every second until the run has ended. Inside ``deferred()``
    (moving or deleting folders) and once the run has ended a SIGINT is only recorded.
    """

    REDELIVER_S = 1.0

    def __init__(self):
        self.requested, self.ended, self.deferring, self.program = False, False, 0, False
        self.previous = self.previous_hook = self.redeliver = None
        self.stop = threading.Event()

    def __enter__(self):
        self.requested, self.ended, self.deferring = False, False, 0
        self._analyses_flag(clear=True)
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only: nothing to guard
        self.stop.clear()
        self.redeliver = threading.Thread(target=self._redeliver, name="physml-sigint", daemon=True)
        self.redeliver.start()
        self.previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        self.previous = signal.signal(signal.SIGINT, self._handle)  # last: from here on SIGINT is ours
        return self

    def __exit__(self, *exc):
        self.ended = True
        self._analyses_flag(clear=True)  # the analyses run normally again when called from Python
        self.stop.set()
        if self.redeliver is not None:
            self.redeliver.join()
            self.redeliver = None
        if self.previous is not None:
            # As the program, ignore a Ctrl-C during the seconds Python takes to shut numba and
            # PyMC down: the run is over, and Python's own handler would die by SIGINT silently.
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.program else self.previous)
            sys.unraisablehook = self.previous_hook
            self.previous = None

    def _handle(self, signum, frame):
        self.requested = True
        self._analyses_flag()
        if not (self.deferring or self.ended):
            raise KeyboardInterrupt

    def _redeliver(self):
        """Raise the interrupt again every second after the first, in case a library swallowed it."""
        while not self.stop.wait(self.REDELIVER_S):
            if self.requested and not (self.deferring or self.ended):
                _thread.interrupt_main(signal.SIGINT)

    def _unraisable(self, unraisable):
        """A KeyboardInterrupt that a ctypes callback could not raise is recorded already: no traceback."""
        if not (self.requested and issubclass(unraisable.exc_type, KeyboardInterrupt)):
            self.previous_hook(unraisable)

    def _analyses_flag(self, clear: bool = False) -> None:
        """Set (or clear) the analyses' flag; it needs no setting before that module is imported."""
        common = sys.modules.get("physml.analyses.common")
        if common is not None:
            common.INTERRUPTED.clear() if clear else common.INTERRUPTED.set()

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self):
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1


_GUARD = SigintGuard()


def _parse_settings(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        if key.strip() in out:
            raise ValueError(f"--set {key.strip()} is given twice")
        out[key.strip()] = value.strip()
    return out


def _parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(f"--seed must be an integer in 0..{SEED_MAX}, got {text!r}") from None
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"--seed must be an integer in 0..{SEED_MAX}, got {seed}")
    return seed


def _parse_methods(text: str | None) -> list[str] | None:
    methods = [m.strip() for m in text.split(",") if m.strip()] if text else []
    for m in methods:
        if methods.count(m) > 1:
            raise ValueError(f"--methods names {m!r} twice")
    return methods or None


def _check_data(path: str) -> None:
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


def _missing_folders(path: Path) -> list[Path]:
    """The folders of ``path`` that do not exist yet, outermost first."""
    missing = []
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing[::-1]


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a run made (innermost first) where they are still empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def _check_out(out_root: Path, names: list[str]) -> None:
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
    missing = _missing_folders(out_root)
    try:
        for folder in missing:
            folder.mkdir()
        probe = scratch_path(out_root, "probe")
        probe.mkdir()
        probe.rmdir()
    finally:
        _remove_empty(missing)


def _run_one(name: str, request: dict, out_root: Path) -> None:
    """Run one analysis into a scratch folder and move it onto ``out_root/name``; on any failure
    or interrupt delete the scratch folder and the folders this run made."""
    from physml.analyses import analysis
    from physml.analyses.common import remove_stale_scratch, replace_folder, scratch_path

    module = analysis(name)
    missing = _missing_folders(out_root)
    scratch = scratch_path(out_root, name)  # made by the first file the analysis writes
    try:
        remove_stale_scratch(out_root)
        module.run(scratch, **request)
        with _GUARD.deferred():
            _GUARD.check()
            replace_folder(scratch, out_root / name)
    except BaseException:
        with _GUARD.deferred():
            shutil.rmtree(scratch, ignore_errors=True)
            _remove_empty(missing)
        raise


def _run(args) -> int:
    from physml.analyses import ANALYSES

    if args.model != "all" and args.model not in ANALYSES:
        raise ValueError(f"model must be one of {sorted(ANALYSES)} or 'all', got {args.model!r}")
    settings, methods = _parse_settings(args.settings), _parse_methods(args.methods)
    request = {"settings": settings, "methods": methods, "quick": args.quick, "seed": _parse_seed(args.seed),
               "data": args.data, "progress": not args.quiet}
    if args.model == "all" and (settings or args.data or methods or args.target):
        raise ValueError("'physml run all' uses each model's defaults; --set, --data, --target and --methods "
                         "need one MODEL")
    if args.target is not None:
        if not args.data:
            raise ValueError("--target names a column of a CSV --data file; give --data too")
        if "target" in settings:
            raise ValueError("--target and --set target=... are both given; give one")
        settings["target"] = args.target
    if args.data:
        _check_data(args.data)
    names = list(ANALYSES) if args.model == "all" else [args.model]
    out_root = Path(args.out)
    _check_out(out_root, names)
    t0 = time.perf_counter()
    for name in names:
        _run_one(name, request, out_root)
        if not args.quiet:
            print(f"physml: {name}: report in {out_root / name / 'report.md'}", file=sys.stderr)
    if not args.quiet:
        print(f"physml: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


def _list() -> int:
    from physml.analyses import ANALYSES

    for name, (_, description) in ANALYSES.items():
        print(f"{name:12s} {description}")
    return 0


def _is_output_error(err: BaseException, out: str | None) -> bool:
    """An OSError on a path inside ``--out`` (disk full, permissions changed during the run)."""
    if not isinstance(err, OSError) or out is None:
        return False
    names = [Path(str(f)).absolute() for f in (err.filename, err.filename2) if f]
    return any(p.is_relative_to(Path(out).absolute()) for p in names)


def _forget_unhandled_keyboard_interrupt() -> None:
    """Let ``python -m physml`` exit with 130 after a Ctrl-C that landed in a string ``exec``.

    CPython 3.12 marks a KeyboardInterrupt that leaves a string ``exec``/``eval`` (dataclasses and
    namedtuples build their methods that way while modules are imported) as unhandled even when a
    caller catches it, and under ``-m`` ``Py_RunMain`` then ends the process by SIGINT instead of
    our exit status. Every string ``exec`` clears that mark when it starts.
    """
    exec("pass", {})


def _exit_status(err: BaseException, out: str | None) -> int:
    """130 for an interrupt (however it surfaced), 2 and one line for bad input; anything else is a bug."""
    if _GUARD.requested or isinstance(err, KeyboardInterrupt):
        _GUARD.ended = True
        _forget_unhandled_keyboard_interrupt()
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        return 130
    if _is_output_error(err, out):
        err = ValueError(f"cannot write the results into --out {out}: {err.strerror or err}")
    if isinstance(err, ValueError):
        message = " ".join(str(err).split())
        print(f"physml: error: {message}", file=sys.stderr)
        return 2
    raise err


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning ({category.__name__}): {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; ``argv`` None means "this process is the program" (sys.argv)."""
    args = _parser().parse_args(argv)
    _GUARD.program = argv is None
    # physml prints its own one-line progress; PyMC's per-fit chatter would drown it.
    logging.getLogger("pymc").setLevel(logging.ERROR)
    # a warning (unconverged VI, divergent draws, ...) is one line; the report lists it again under Warnings
    warnings.formatwarning = _one_line_warning
    try:
        with _GUARD:
            try:
                status = _list() if args.command == "list" else _run(args)
                _GUARD.check()
                return status
            except BaseException as err:  # noqa: BLE001 - sorted by _exit_status, re-raised if a bug
                return _exit_status(err, getattr(args, "out", None))
    except KeyboardInterrupt:  # raised again before _exit_status marked the run as ended
        return _exit_status(KeyboardInterrupt(), None)


if __name__ == "__main__":
    raise SystemExit(main())
