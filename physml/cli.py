"""physml command line: ``physml list [MODEL]``, ``physml run MODEL|all|FILE.py:FUNCTION``, ``--version``.

``physml run FILE.py:FUNCTION`` runs :func:`physml.compare` on the ``pm.Model`` that FUNCTION returns
(:mod:`physml.cli_user_model`); ``physml list MODEL`` prints a model's settings and methods
(:mod:`physml.cli_list`); argument and ``--out`` checks live in :mod:`physml.cli_checks`.

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
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from physml.cli_checks import (SEED_MAX, check_data, check_out, missing_folders, parse_methods, parse_seed,
                               parse_settings, remove_empty)

INTERRUPTED_MESSAGE = "physml: interrupted; no partial results were kept"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        print(f"physml: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="physml", description="Statistical physics <-> machine learning, made runnable.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    ls = sub.add_parser("list", help="list the models, or one model's settings and methods")
    ls.add_argument("model", nargs="?", help="a model name: print its settings (defaults, allowed values) and methods")
    _run_arguments(sub.add_parser("run", help="fit a model with several methods and write a comparison report"))
    return p


def _run_arguments(r: argparse.ArgumentParser) -> None:
    """The options of ``physml run`` (one place to add more)."""
    r.add_argument("model", help="a model name from 'physml list', 'all', or FILE.py:FUNCTION (a function "
                   "returning your own pm.Model with observed data; default FUNCTION make_model)")
    r.add_argument("--methods", help="comma-separated methods (default: the model's own list)")
    r.add_argument("--quick", action="store_true", help="short chains (a smoke run)")
    r.add_argument("--out", default="results", help="output folder (default: results)")
    r.add_argument("--seed", default="0", help=f"random seed (integer in 0..{SEED_MAX}, default 0)")
    r.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a model setting, e.g. --set prior=independent (repeatable)")
    r.add_argument("--data", help="data file (CSV with --target, .json, .npy ... as the model accepts)")
    r.add_argument("--target", help="response column of a CSV data file")
    r.add_argument("--quiet", action="store_true", help="no progress messages")
    r.add_argument("--workers", help="run the model's sweep on a local Dask cluster of N worker processes")
    r.add_argument("--scheduler", help="run the model's sweep on this Dask scheduler, [tcp://]HOST:PORT "
                   "(default: $DASK_SCHEDULER_ADDRESS, else serial)")


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


def _run_one(name: str, work: Callable[[Path], object], out_root: Path) -> None:
    """Run ``work(scratch)`` (one model's report into a scratch folder) and move the folder onto
    ``out_root/name``; on any failure or interrupt delete the scratch folder and the folders this run made."""
    from physml.analyses.common import remove_stale_scratch, replace_folder, scratch_path

    missing = missing_folders(out_root)
    scratch = scratch_path(out_root, name)  # made by the first file the analysis writes
    try:
        remove_stale_scratch(out_root)
        work(scratch)
        with _GUARD.deferred():
            _GUARD.check()
            replace_folder(scratch, out_root / name)
    except BaseException:
        with _GUARD.deferred():
            shutil.rmtree(scratch, ignore_errors=True)
            remove_empty(missing)
        raise


def _run_user_model(args) -> int:
    """``physml run FILE.py:FUNCTION``: everything checked (and the model built) before ``--out`` is made."""
    from physml.cli_user_model import prepare_run
    from physml.compare import summary_text

    name, plan = prepare_run(args, parse_methods(args.methods), parse_seed(args.seed))
    out_root = Path(args.out)
    check_out(out_root, [name])
    summaries = []
    _run_one(name, lambda scratch: summaries.append(plan.run(scratch, not args.quiet)), out_root)
    print(summary_text(summaries[0], out_root / name))
    return 0


def _run(args) -> int:
    from physml.analyses import ANALYSES, analysis
    from physml.cli_user_model import is_model_file
    from physml.inference.executor import use_executor

    if args.model != "all" and args.model not in ANALYSES:
        if is_model_file(args.model):
            return _run_user_model(args)
        raise ValueError(f"model must be one of {sorted(ANALYSES)} or 'all' (or FILE.py:FUNCTION for your own "
                         f"PyMC model), got {args.model!r}")
    settings, methods = parse_settings(args.settings), parse_methods(args.methods)
    request = {"settings": settings, "methods": methods, "quick": args.quick, "seed": parse_seed(args.seed),
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
        check_data(args.data)
    names = list(ANALYSES) if args.model == "all" else [args.model]
    out_root = Path(args.out)
    check_out(out_root, names)
    executor = _executor(args.workers, args.scheduler)
    t0 = time.perf_counter()
    with executor as ex, use_executor(ex):  # a cluster starts (or a scheduler answers) before --out is made
        for name in names:
            module = analysis(name)
            _run_one(name, lambda scratch: module.run(scratch, **request), out_root)
            if not args.quiet:
                print(f"physml: {name}: report in {out_root / name / 'report.md'}", file=sys.stderr)
    if not args.quiet:
        print(f"physml: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


def _executor(workers: str | None, scheduler: str | None):
    """``--workers`` / ``--scheduler`` → the executor of the run's sweeps (serial without either)."""
    from physml.inference.executor import executor_from_options

    if workers is not None:
        try:
            workers = int(workers)
        except ValueError:
            raise ValueError(f"--workers must be an integer >= 1, got {workers!r}") from None
    return executor_from_options(workers, scheduler)


def _version() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        print(f"physml {version('physml')}")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from physml import __version__

        print(f"physml {__version__} (not installed)")
    return 0


def _command(args) -> int:
    from physml.cli_list import describe_model, list_models

    if args.command == "list":
        return describe_model(args.model) if args.model else list_models()
    return _run(args)


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
    if isinstance(err, BrokenPipeError) and sys.stdout is not None:  # `physml list | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version()
    if args.command is None:
        parser.error("give a command: list or run (or --version)")
    _GUARD.program = argv is None
    if argv is None:  # the program, not a caller's process: figures go to files only, never to a window
        import matplotlib
        matplotlib.use("Agg")
    # physml prints its own one-line progress; PyMC's per-fit chatter would drown it.
    logging.getLogger("pymc").setLevel(logging.ERROR)
    # a warning (unconverged VI, divergent draws, ...) is one line; the report lists it again under Warnings
    warnings.formatwarning = _one_line_warning
    try:
        with _GUARD:
            try:
                status = _command(args)
                _GUARD.check()
                return status
            except BaseException as err:  # noqa: BLE001 - sorted by _exit_status, re-raised if a bug
                return _exit_status(err, getattr(args, "out", None))
    except KeyboardInterrupt:  # raised again before _exit_status marked the run as ended
        return _exit_status(KeyboardInterrupt(), None)


if __name__ == "__main__":
    raise SystemExit(main())
