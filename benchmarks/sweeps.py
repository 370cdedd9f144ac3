r"""Sweeps on 1 vs 2 Dask workers against the serial baseline measured in the same run.

The sweep is the calibration harness (:mod:`calibration_tasks`: R seeds × estimators × models, each task a
pure ``Task → record``), by default the 8×8 Ising models with spin TI / AIS / BDMC at their full budgets
(0.3–0.7 s a task on a free core). Phases, in this order, in one process:

* serial — this process (:class:`SerialExecutor`);
* ``LocalCluster(1)`` and ``LocalCluster(2)`` — single-threaded worker processes
  (:class:`physml.inference.executor.DaskExecutor`).

Each executor is timed in three parts: *start* (cluster and client), *warm-up* (one throw-away task per
(model, estimator) on every worker: imports, model builds, numba's cached kernels — what a worker pays
once, see docs/SWEEPS.md) and *sweep* (the measured tasks; ``--rounds`` sweeps per executor, the best
reported: the least disturbed by other processes on a shared machine). The serial sweep runs
with BLAS limited to one thread, as each worker is. Speed-up = serial / parallel, for the sweep alone and end
to end. The records of every sweep are compared (wall times aside): they must be identical.
Finally the per-task scheduling overhead (200 no-op tasks on the 2-worker cluster) and the numbers the
scaling model of docs/SWEEPS.md needs.

Run ``python benchmarks/sweeps.py [--repeats R] [--models a,b] [--estimators x,y]`` (default R = 6: 54 tasks,
about 2 minutes on 2 free cores). The machine's load is printed before and after: with other processes on
the cores, the 2-worker speed-up falls below 2 by the cores they take.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from threadpoolctl import threadpool_limits

import calibration_tasks as ct
from physml.inference.executor import DaskExecutor, SerialExecutor
from timing import load_note, quiet_pymc

DEFAULT_MODELS = ("ising8_K0.3", "ising8_Kc", "ising8_K0.6")
WARM_SEED = 10 ** 6  # a seed outside every measured sweep
NOOP_TASKS = 200


def warm_up(pairs) -> float:
    """One throw-away full-budget task per (model, estimator): builds and compiles in this process."""
    t0 = time.perf_counter()
    for model, estimator in pairs:
        ct.run_task(ct.Task(model, estimator, WARM_SEED))
    return time.perf_counter() - t0


def _start(executor, pairs) -> dict:
    """Enter ``executor`` and warm it up: its start and warm-up times."""
    t0 = time.perf_counter()
    executor.__enter__()
    t1 = time.perf_counter()
    if isinstance(executor, DaskExecutor):
        executor.client.run(warm_up, pairs)  # on every worker at once
    else:
        warm_up(pairs)
    return {"phase": executor.description, "start_s": t1 - t0, "warm_s": time.perf_counter() - t1, "sweeps_s": []}


def _sweep(executor, tasks, row: dict) -> None:
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # the serial baseline gets one thread too, as each worker has
        records = executor.map(ct.run_task, tasks)
    row["sweeps_s"].append(time.perf_counter() - t0)
    row.setdefault("records", []).append(_comparable(records))
    if isinstance(executor, DaskExecutor) and "overhead_per_task_s" not in row:
        t1 = time.perf_counter()
        executor.client.gather(executor.client.map(abs, range(NOOP_TASKS), pure=False))
        row["overhead_per_task_s"] = (time.perf_counter() - t1) / NOOP_TASKS
    row["walls"] = [r["wall"] for r in records]


def run_phases(tasks, pairs, rounds: int) -> list[dict]:
    """Each executor in turn (one cluster alive at a time): started, warmed, then ``rounds`` sweeps."""
    rows = []
    for executor in (SerialExecutor(), DaskExecutor(workers=1), DaskExecutor(workers=2)):
        try:
            rows.append(_start(executor, pairs))
            for _ in range(rounds):
                _sweep(executor, tasks, rows[-1])
        finally:
            executor.__exit__(None, None, None)
        rows[-1]["sweep_s"] = min(rows[-1]["sweeps_s"])  # the least disturbed round
    return rows


def _end_to_end(row: dict) -> float:
    return row["start_s"] + row["warm_s"] + row["sweep_s"]


def _comparable(records: list[dict]) -> bytes:
    """The records as JSON bytes, wall times aside (NaN compares equal to NaN here, as it must)."""
    return json.dumps([{k: v for k, v in r.items() if k != "wall"} for r in records], sort_keys=True).encode()


def report(rows, tasks) -> str:
    base = rows[0]
    walls = base["walls"]
    lines = [f"{len(tasks)} tasks; per task (serial, warm): median {statistics.median(walls):.3f} s, "
             f"mean {statistics.mean(walls):.3f} s, max {max(walls):.3f} s", "",
             "| phase | start s | warm-up s | sweep s | speed-up (sweep) | speed-up (end to end) | records identical |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        same = all(rec == base["records"][0] for rec in r["records"])
        lines.append(f"| {r['phase']} | {r['start_s']:.2f} | {r['warm_s']:.2f} | {r['sweep_s']:.2f} | "
                     f"{base['sweep_s'] / r['sweep_s']:.2f}x | {_end_to_end(base) / _end_to_end(r):.2f}x | "
                     f"{'yes' if same else 'NO'} |")
    lines += ["", "sweep s: the best of " + ", ".join(f"{r['phase']}: " + " / ".join(f"{t:.1f}" for t in r["sweeps_s"])
                                             for r in rows) + " s"]
    two, one = rows[2], rows[1]
    lines += [f"2 workers vs 1 worker (sweep): {one['sweep_s'] / two['sweep_s']:.2f}x"]
    lines += [""] + [f"scheduling overhead on {r['phase']}: {1e3 * r['overhead_per_task_s']:.2f} ms per task "
                     f"({NOOP_TASKS} no-op tasks)" for r in rows if "overhead_per_task_s" in r]
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=6, help="seeds per (model, estimator) (default 6)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"from: {', '.join(ct.MODELS)}")
    p.add_argument("--estimators", default=None, help="comma-separated (default: all that apply)")
    p.add_argument("--rounds", type=int, default=2, help="sweeps per executor, best reported (default 2)")
    a = p.parse_args(argv)
    a.models = tuple(m.strip() for m in a.models.split(",") if m.strip())
    a.estimators = tuple(e.strip() for e in a.estimators.split(",")) if a.estimators else None
    unknown = [m for m in a.models if m not in ct.MODELS]
    if a.repeats < 1 or a.rounds < 1 or unknown or not a.models:
        p.exit(2, f"sweeps: error: --repeats and --rounds must be >= 1 and --models a subset of "
                  f"{', '.join(ct.MODELS)}\n")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    quiet_pymc()
    tasks = ct.task_list(a.models, a.estimators, a.repeats, 0, quick=False)
    if not tasks:
        print("sweeps: error: no estimator of --estimators applies to --models", file=sys.stderr)
        return 2
    pairs = list(dict.fromkeys((t.model, t.estimator) for t in tasks))
    print(load_note() + " (before)")
    rows = run_phases(tasks, pairs, a.rounds)
    print(report(rows, tasks))
    print(load_note() + " (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
