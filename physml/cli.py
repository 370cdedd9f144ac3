"""physml command line: ``physml list`` and ``physml run MODEL|all``.

Bad input prints one line on stderr and exits with status 2; no result file is left behind.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path


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
    r.add_argument("--seed", default="0", help="random seed (integer >= 0, default 0)")
    r.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a model setting, e.g. --set prior=independent (repeatable)")
    r.add_argument("--data", help="data file (CSV with --target, .json, .npy ... as the model accepts)")
    r.add_argument("--target", help="response column of a CSV data file")
    r.add_argument("--quiet", action="store_true", help="no progress messages")
    return p


def _parse_settings(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _run_one(name: str, args, settings: dict, out_root: Path) -> dict:
    from physml.analyses import analysis

    module = analysis(name)
    final = out_root / name
    # Write into a scratch folder and move it into place at the end: a failed or
    # interrupted run never leaves half a result set behind.
    out_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_root))
    try:
        summary = module.run(scratch, settings=settings, methods=args.methods_list, quick=args.quick,
                             seed=args.seed_int, data=args.data, progress=not args.quiet)
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return summary


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # physml prints its own one-line progress; PyMC's per-fit chatter would drown it.
    logging.getLogger("pymc").setLevel(logging.ERROR)
    try:
        if args.command == "list":
            from physml.analyses import ANALYSES

            for name, (_, description) in ANALYSES.items():
                print(f"{name:12s} {description}")
            return 0
        try:
            args.seed_int = int(args.seed)
        except ValueError:
            raise ValueError(f"--seed must be an integer >= 0, got {args.seed!r}") from None
        if args.seed_int < 0:
            raise ValueError(f"--seed must be an integer >= 0, got {args.seed_int}")
        args.methods_list = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
        settings = _parse_settings(args.settings)
        if args.target:
            settings["target"] = args.target
        from physml.analyses import ANALYSES

        names = list(ANALYSES) if args.model == "all" else [args.model]
        if args.model != "all" and args.model not in ANALYSES:
            raise ValueError(f"model must be one of {sorted(ANALYSES)} or 'all', got {args.model!r}")
        if args.model == "all" and (settings or args.data or args.methods_list):
            raise ValueError("'physml run all' uses each model's defaults; --set, --data and --methods need one MODEL")
        out_root = Path(args.out)
        t0 = time.perf_counter()
        for name in names:
            _run_one(name, args, settings, out_root)
            if not args.quiet:
                print(f"physml: {name}: report in {out_root / name / 'report.md'}", file=sys.stderr)
        if not args.quiet:
            print(f"physml: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return 0
    except ValueError as err:
        message = " ".join(str(err).split())
        print(f"physml: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("physml: interrupted; no partial results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
