r"""Calibration of every free-energy estimator against exact answers: coverage, z, self-flags, wall time.

Each estimator × model (see :mod:`calibration_tasks`) runs with R independent seeds. With
:math:`z_r = (\hat F_r - F)/\mathrm{se}_r` over the runs that returned a number:

* coverage of ±2 se: :math:`\#\{|z_r| < 2\}/R`, nominal :math:`p = P(|N(0,1)| < 2) = 0.9545`; its band is the
  central 95 % binomial range :math:`[\mathrm{Bin}^{-1}_{R,p}(0.025), \mathrm{Bin}^{-1}_{R,p}(0.975)]/R`
  where a calibrated estimator's coverage falls 19 times in 20;
* mean z ± :math:`\mathrm{sd}(z)/\sqrt R` (bias in se units), and sd of z with its 95 % χ² band
  :math:`\sqrt{\chi^2_{R-1}(0.025, 0.975)/(R-1)}` (above: se too small; below: se too large);
* the rate of self-flagging (note starts ``unreliable:``) and the coverage among unflagged runs:
  **FIX OR FLAG** where it is below 0.85 — the estimator is wrong and does not say so ("within the band
  at this R" where a calibrated estimator could still land there: small R);
* the median wall time of one run (its own sampling included; a process's first run also compiles).

Verdicts, first that applies: FIX OR FLAG; N failed (an estimator raised: its message is listed); all
flagged; se too large (sd z below its band); se too small (coverage or sd z outside its band); ok. With
about 40 rows, one or two land outside a 95 % band by chance.

Upper bounds (−ELBO, naive mean field's F_MF) are not estimates: for them the fraction of runs with
:math:`\hat F \ge F - 2\,\mathrm{se}` (bound holds; nominal ≥ P(N(0,1) > −2) = 0.977, band as above, below it
**BOUND FAILS**) and the mean gap :math:`\hat F - F` (= KL(q‖p) for −ELBO) ± its se.

Writes, atomically (the folder is built under a scratch name and renamed into place), to ``--out``
(default ``results/calibration/``): ``calibration.md`` (the tables), ``records.json`` (every raw record —
value, se, exact, flagged, note, wall — with the summary rows and the settings) and ``calibration.png``
(coverage per estimator × model with its band; z of every run).

Run ``python benchmarks/calibration.py [--quick] [--repeats R] [--models a,b] [--estimators x,y]
[--workers N | --scheduler ADDR] [--store DIR] [--seed S] [--out DIR]``. Default R = 50 (about an hour on 2 free
cores with ``--workers 2``); ``--quick``: R = 3, quick budgets, no 16×16 Ising (a few minutes). Tasks run
serially by default, on a local Dask cluster of N worker processes (``--workers N``) or on an existing
scheduler (``--scheduler`` or ``DASK_SCHEDULER_ADDRESS``), through :mod:`physml.inference.executor`; each
worker builds and compiles its models once; the records are the same either way. Every finished task is
kept in ``--store`` (default ``.OUT.tasks`` beside ``--out``), so a rerun after Ctrl-C or a kill resumes
from the finished tasks; the store is deleted once the outputs are written. Bad arguments, a scheduler that
does not answer within 5 s, or a store of another sweep: one line, exit 2. Ctrl-C: one line, exit 130, no
outputs written.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

import calibration_tasks as ct
from physml.analyses.common import raise_if_interrupted
from physml.inference.executor import TaskStore, executor_from_options, run_sweep, use_executor
from timing import load_note, quiet_pymc

FIX_BELOW = 0.85
BAND_LEVEL = 0.95
K_SE = 2.0
DEFAULT_REPEATS, QUICK_REPEATS = 50, 3
INTERRUPTED_MESSAGE = "calibration: interrupted; no results written"


# ------------------------------------------------------------------ bands
def nominal_coverage(k: float = K_SE, *, one_sided: bool = False) -> float:
    """P(|Z| < k) (two-sided) or P(Z > −k) (one-sided) for Z ~ N(0, 1)."""
    return float(stats.norm.cdf(k)) if one_sided else float(1 - 2 * stats.norm.sf(k))


def binomial_band(r: int, p: float, level: float = BAND_LEVEL) -> tuple[float, float]:
    """Central ``level`` range of the fraction of r Bernoulli(p) successes."""
    tail = (1 - level) / 2
    return float(stats.binom.ppf(tail, r, p)) / r, float(stats.binom.ppf(1 - tail, r, p)) / r


def sd_band(r: int, level: float = BAND_LEVEL) -> tuple[float, float]:
    """Central ``level`` range of the sample sd of r iid N(0, 1) values (χ²_{r−1})."""
    tail = (1 - level) / 2
    return tuple(float(math.sqrt(stats.chi2.ppf(q, r - 1) / (r - 1))) for q in (tail, 1 - tail))


# ------------------------------------------------------------------ summary
def _finite(records):
    return [r for r in records if math.isfinite(r["value"]) and math.isfinite(r["se"])]


def _coverage(z) -> float:
    return float(np.mean(np.abs(z) < K_SE)) if len(z) else float("nan")


def _common(records) -> dict:
    ok = _finite(records)
    return {"model": records[0]["model"], "estimator": records[0]["estimator"], "runs": len(records),
            "failed": len(records) - len(ok), "flagged_rate": float(np.mean([r["flagged"] for r in records])),
            "median_wall_s": float(np.median([r["wall"] for r in records])), "exact": records[0]["exact"],
            "errors": sorted({r["error"] for r in records if r["error"]})[:3]}


def summarise_estimate(records) -> dict:
    """Coverage, z statistics, flag rate and wall time of one estimator × model (see the module docstring)."""
    row = {**_common(records), "bound": False}
    ok = _finite(records)
    z = np.array([(r["value"] - r["exact"]) / r["se"] if r["se"] > 0 else math.copysign(math.inf, r["value"] -
                  r["exact"]) for r in ok])
    unflagged = np.array([zi for zi, r in zip(z, ok) if not r["flagged"]])
    n = len(z)
    finite_z = z[np.isfinite(z)]
    row.update({
        "coverage": _coverage(z), "coverage_band": binomial_band(n, nominal_coverage()) if n else None,
        "mean_z": float(finite_z.mean()) if finite_z.size else float("nan"),
        "mean_z_se": float(finite_z.std(ddof=1) / math.sqrt(finite_z.size)) if finite_z.size > 1 else float("nan"),
        "sd_z": float(finite_z.std(ddof=1)) if finite_z.size > 1 else float("nan"),
        "sd_z_band": sd_band(finite_z.size) if finite_z.size > 1 else None,
        "unflagged_runs": int(unflagged.size), "coverage_unflagged": _coverage(unflagged),
        "z": [float(v) for v in z], "z_flagged": [r["flagged"] for r in ok],
    })
    row["verdict"] = _estimate_verdict(row)
    return row


def _estimate_verdict(row) -> str:
    if row["unflagged_runs"] and row["coverage_unflagged"] < FIX_BELOW:
        lo, _ = binomial_band(row["unflagged_runs"], nominal_coverage())
        return "FIX OR FLAG" + (" (within the band at this R)" if row["coverage_unflagged"] >= lo else "")
    if row["failed"]:
        return f"{row['failed']} failed"
    if not row["unflagged_runs"]:
        return "all flagged"
    lo, hi = row["coverage_band"]
    if row["coverage"] > hi or (row["sd_z_band"] and row["sd_z"] < row["sd_z_band"][0]):
        return "se too large"
    if row["coverage"] < lo or (row["sd_z_band"] and row["sd_z"] > row["sd_z_band"][1]):
        return "se too small"
    return "ok"


def summarise_bound(records) -> dict:
    """Bound-holds fraction (F̂ ≥ F − 2 se) and mean gap F̂ − F of an upper bound."""
    row = {**_common(records), "bound": True}
    ok = _finite(records)
    gap = np.array([r["value"] - r["exact"] for r in ok])
    holds = np.array([g >= -K_SE * r["se"] for g, r in zip(gap, ok)])
    n = len(ok)
    row.update({
        "bound_holds": float(holds.mean()) if n else float("nan"),
        "bound_band": binomial_band(n, nominal_coverage(one_sided=True)) if n else None,
        "mean_gap": float(gap.mean()) if n else float("nan"),
        "mean_gap_se": float(gap.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "gap": [float(g) for g in gap],
    })
    below = n and row["bound_holds"] < row["bound_band"][0]
    row["verdict"] = "BOUND FAILS" if below else (f"{row['failed']} failed" if row["failed"] else "ok")
    return row


def summarise(records) -> list[dict]:
    """One summary row per (model, estimator), in task order."""
    groups: dict = {}
    for r in records:
        groups.setdefault((r["model"], r["estimator"]), []).append(r)
    return [summarise_bound(g) if est in ct.UPPER_BOUNDS else summarise_estimate(g)
            for (_, est), g in groups.items()]


# ------------------------------------------------------------------ report
def _band(b) -> str:
    return f"[{b[0]:.2f}, {b[1]:.2f}]" if b else "—"


def _num(x, fmt=".2f") -> str:
    return "—" if x is None or not math.isfinite(x) else format(x, fmt)


def tables_markdown(rows: list[dict]) -> str:
    est = [r for r in rows if not r["bound"]]
    bnd = [r for r in rows if r["bound"]]
    lines = ["| model | estimator | R | coverage ±2se [95% band] | mean z ± se | sd z [95% band] | flagged | "
             "coverage unflagged (n) | median wall s | verdict |", "|" + "---|" * 10]
    for r in est:
        lines.append(f"| {r['model']} | {r['estimator']} | {r['runs']} | {_num(r['coverage'])} "
                     f"{_band(r['coverage_band'])} | {_num(r['mean_z'], '+.2f')} ± {_num(r['mean_z_se'])} | "
                     f"{_num(r['sd_z'])} {_band(r['sd_z_band'])} | {_num(r['flagged_rate'])} | "
                     f"{_num(r['coverage_unflagged'])} ({r['unflagged_runs']}) | {_num(r['median_wall_s'], '.3g')} | "
                     f"{'**' + r['verdict'] + '**' if r['verdict'] != 'ok' else 'ok'} |")
    if bnd:
        lines += ["", "Upper bounds (F̂ ≥ F on average): fraction with F̂ ≥ F − 2 se, and the gap F̂ − F.", "",
                  "| model | estimator | R | bound holds [95% band] | mean gap ± se (nats) | flagged | median wall s "
                  "| verdict |", "|" + "---|" * 8]
        for r in bnd:
            lines.append(f"| {r['model']} | {r['estimator']} | {r['runs']} | {_num(r['bound_holds'])} "
                         f"{_band(r['bound_band'])} | {_num(r['mean_gap'], '.4g')} ± {_num(r['mean_gap_se'], '.2g')} "
                         f"| {_num(r['flagged_rate'])} | {_num(r['median_wall_s'], '.3g')} | "
                         f"{'**' + r['verdict'] + '**' if r['verdict'] != 'ok' else 'ok'} |")
    return "\n".join(lines)


def report_markdown(rows, settings: dict) -> str:
    head = [f"# Free-energy estimator calibration ({'quick' if settings['quick'] else 'full'}, "
            f"R = {settings['repeats']} seeds from {settings['seed']})", "",
            f"Total wall {settings['wall_s']:.0f} s on {settings['workers']} ({settings['resumed']} tasks read back "
            f"from an interrupted run); {settings['load_before']} "
            f"before, {settings['load_after']} after.", "",
            "z = (F̂ − F_exact)/se. Bands: where a calibrated estimator lands 19 times in 20. "
            f"**FIX OR FLAG**: coverage among unflagged runs below {FIX_BELOW}. See the docstring of "
            "benchmarks/calibration.py.", ""]
    errors = [f"- {r['model']} / {r['estimator']}: {e}" for r in rows for e in r["errors"]]
    models = ["", "## Models", ""] + [f"- `{m}`: {ct.MODELS[m].description}" for m in dict.fromkeys(
        r["model"] for r in rows)]
    return "\n".join(head + [tables_markdown(rows)] + models + (["", "## Errors", ""] + errors if errors else [])) + "\n"


def figure(rows):
    """Left: coverage of ±2 se (filled: all runs, hollow: unflagged; squares: bound holds) and its 95 % band;
    right: z of every run (hollow: flagged). Red: FIX OR FLAG / BOUND FAILS."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.arange(len(rows))[::-1]
    fig, (ax, az) = plt.subplots(1, 2, figsize=(12, 1.5 + 0.28 * len(rows)), sharey=True)
    for yi, r in zip(y, rows):
        colour = "C3" if r["verdict"].startswith(("FIX OR FLAG", "BOUND FAILS")) else "C0"
        band = r["bound_band"] if r["bound"] else r["coverage_band"]
        if band:
            ax.plot(band, [yi, yi], color="0.75", lw=6, solid_capstyle="butt")
        if r["bound"]:
            ax.plot(r["bound_holds"], yi, "s", color=colour)
            continue
        ax.plot(r["coverage"], yi, "o", color=colour)
        ax.plot(r["coverage_unflagged"], yi, "o", mfc="none", color=colour)
        z = np.clip(np.asarray(r["z"], float), -10, 10)
        flagged = np.asarray(r["z_flagged"], bool)
        jitter = yi + np.linspace(-0.25, 0.25, z.size)
        az.plot(z[~flagged], jitter[~flagged], ".", ms=4, color=colour)
        az.plot(z[flagged], jitter[flagged], "o", ms=3, mfc="none", color="0.4")
    ax.axvline(nominal_coverage(), color="k", lw=0.8)
    ax.axvline(FIX_BELOW, color="C3", ls="--", lw=0.8)
    ax.set_yticks(y, [f"{r['model']} / {r['estimator']}" for r in rows], fontsize=7)
    ax.set_xlabel("coverage of ±2 se (grey: 95% band for R; hollow: unflagged runs; square: bound holds)")
    for v in (-K_SE, K_SE):
        az.axvline(v, color="k", lw=0.8, ls=":")
    az.set_xlabel("z = (F̂ − F)/se, clipped to ±10 (hollow grey: self-flagged runs)")
    fig.tight_layout()
    return fig


def write_outputs(out: Path, records, rows, settings) -> None:
    from physml.analyses.common import (remove_stale_scratch, replace_folder, save_figure_atomic, scratch_path,
                                        write_json_atomic, write_text_atomic)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(out.parent)
    scratch = scratch_path(out.parent, out.name)
    write_json_atomic(scratch / "records.json", {"settings": settings, "summary": rows, "records": records})
    write_text_atomic(scratch / "calibration.md", report_markdown(rows, settings))
    save_figure_atomic(figure(rows), scratch / "calibration.png")
    replace_folder(scratch, out)


# ------------------------------------------------------------------ running
class Progress:
    """One stderr line per finished (model, estimator) group."""

    def __init__(self, tasks):
        self.left: dict = {}
        for t in tasks:
            self.left.setdefault((t.model, t.estimator), []).append(t)
        self.done: dict = {key: [] for key in self.left}
        self.t0, self.finished, self.total = time.perf_counter(), 0, len(self.left)

    def __call__(self, record) -> None:
        key = (record["model"], record["estimator"])
        self.done[key].append(record)
        if len(self.done[key]) < len(self.left[key]):
            return
        self.finished += 1
        recs = self.done[key]
        row = summarise_bound(recs) if key[1] in ct.UPPER_BOUNDS else summarise_estimate(recs)
        what = (f"bound holds {row['bound_holds']:.2f}" if row["bound"] else
                f"coverage ±2se {row['coverage']:.2f} (unflagged {row['coverage_unflagged']:.2f})")
        print(f"[calibration {time.perf_counter() - self.t0:7.1f}s] {self.finished}/{self.total} {key[0]} / {key[1]}: "
              f"{len(recs)} runs, {row['failed']} failed, {what}, flagged {row['flagged_rate']:.2f}, "
              f"median wall {row['median_wall_s']:.2f} s, {row['verdict']}",
              file=sys.stderr, flush=True)


def run_tasks(tasks, store: TaskStore | None = None) -> list[dict]:
    """Every task's record, in task order, on the current executor (serial unless one is set with
    ``use_executor``); with ``store``, tasks finished by an interrupted run are read back, not re-run."""
    progress = Progress(tasks)

    def finished(i: int, record: dict) -> None:
        progress(record)
        raise_if_interrupted()  # a sampler may have swallowed Ctrl-C and returned a short run

    return run_sweep(ct.run_task, tasks, store=store, on_result=finished, description="calibration")


# ------------------------------------------------------------------ command line
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"calibration: error: {message}\n")


def _names(text: str, allowed, what: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise ValueError(f"--{what} must be a comma-separated subset of {', '.join(allowed)}; got {text!r}")
    return names


def parse_args(argv):
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"R = {QUICK_REPEATS}, quick budgets, no 16x16 Ising")
    p.add_argument("--repeats", type=int, default=None, help=f"seeds per estimator x model (default "
                   f"{DEFAULT_REPEATS}; quick {QUICK_REPEATS})")
    p.add_argument("--models", default=None, help=f"comma-separated, from: {', '.join(ct.MODELS)}")
    p.add_argument("--estimators", default=None, help="comma-separated, from: " + ", ".join(
        dict.fromkeys(e for names in ct.FAMILY_ESTIMATORS.values() for e in names)))
    p.add_argument("--workers", type=int, default=None, help="a local Dask cluster of N worker processes "
                   "(default: serial, or the scheduler in $DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--scheduler", default=None, help="an existing Dask scheduler, [tcp://]HOST:PORT")
    p.add_argument("--store", type=Path, default=None, help="folder of finished tasks (default .OUT.tasks next "
                   "to --out; an interrupted run resumes from it; deleted after a complete run)")
    p.add_argument("--seed", type=int, default=0, help="first seed (seeds S .. S+R-1)")
    p.add_argument("--out", type=Path, default=Path("results/calibration"))
    a = p.parse_args(argv)
    a.repeats = a.repeats if a.repeats is not None else (QUICK_REPEATS if a.quick else DEFAULT_REPEATS)
    try:
        if a.repeats < 2:
            raise ValueError(f"--repeats must be >= 2 (an sd of z needs two runs), got {a.repeats}")
        a.executor = executor_from_options(a.workers, a.scheduler)
        if a.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {a.seed}")
        if a.out.exists() and not a.out.is_dir():
            raise ValueError(f"--out must be a folder, got the file {a.out}")
        a.store = a.store or a.out.parent / f".{a.out.name}.tasks"
        if a.store.exists() and not a.store.is_dir():
            raise ValueError(f"--store must be a folder, got the file {a.store}")
        a.models = _names(a.models, tuple(ct.MODELS), "models") or (ct.QUICK_MODELS if a.quick else tuple(ct.MODELS))
        all_estimators = tuple(dict.fromkeys(e for names in ct.FAMILY_ESTIMATORS.values() for e in names))
        a.estimators = _names(a.estimators, all_estimators, "estimators")
    except ValueError as err:
        p.error(str(err))
    return a


def _on_sigint(signum, frame):
    from physml.analyses.common import INTERRUPTED

    INTERRUPTED.set()  # survives a KeyboardInterrupt that a sampler swallows: checked after every task
    raise KeyboardInterrupt


def main(argv=None) -> int:
    a = parse_args(argv)
    tasks = ct.task_list(a.models, a.estimators, a.repeats, a.seed, a.quick)
    if not tasks:
        print("calibration: error: no estimator of --estimators applies to --models", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _on_sigint)
    quiet_pymc()
    settings = {"quick": a.quick, "repeats": a.repeats, "seed": a.seed, "workers": a.executor.description,
                "models": list(a.models), "estimators": list(a.estimators or []), "load_before": load_note(),
                "budgets": {f"{fam}/{e}": ct.BUDGETS[(fam, e)][int(a.quick)] for fam, e in ct.BUDGETS}}
    t0 = time.perf_counter()
    store = TaskStore(a.store)
    settings["resumed"] = store.finished()
    try:
        with a.executor as executor, use_executor(executor):
            records = run_tasks(tasks, store)
        raise_if_interrupted()
    except KeyboardInterrupt:
        print(f"{INTERRUPTED_MESSAGE}; {store.finished()} finished tasks kept in {a.store} (rerun to resume)",
              file=sys.stderr)
        return 130
    except ValueError as err:  # the scheduler did not answer, or the store belongs to another sweep
        print(f"calibration: error: {err}", file=sys.stderr)
        return 2
    settings.update(wall_s=time.perf_counter() - t0, load_after=load_note())
    rows = summarise(records)
    write_outputs(a.out, records, rows, settings)
    store.remove()
    print(report_markdown(rows, settings))
    print(f"wrote {a.out}/calibration.md, records.json, calibration.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
