"""Large data: `physml run regression --data big.csv --target y --methods advi --quick` as n grows.

Each n (1e4 … 1e7 rows, d = 3 predictors, y = Xβ + ε) is measured in a fresh subprocess, so peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that n alone: wall and CPU time of the whole
analysis (read the CSV, exact reference from sufficient statistics, ADVI fit, report), ADVI's own wall
time, and its accuracy against the exact conjugate posterior — z = (mean − exact) / MCSE and sd / exact sd.
The baseline, measured in the same run, is ``minibatch=off`` (VI on all rows) at the n from ``AUTO_MIN_ROWS``
up to ``--baseline-max-n`` (where it is affordable); the ratio to it is printed.  A warm-up run first fills the
compile caches, so every n is measured warm.  Targets (issue 18): n = 1e6: peak RSS ≤ 1.5 GB, ADVI ≤ 60 s on 2 cores,
|z| ≤ 4, |sd ratio − 1| ≤ 5 %; cost linear in n.

    python benchmarks/large_data.py [--max-n 1e7] [--out docs/large_data] [--csv-dir /tmp/physml-large]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from physml.inference.vi.minibatch import AUTO_MIN_ROWS

TARGET_RSS_GB, TARGET_ADVI_S, TARGET_Z, TARGET_SD = 1.5, 60.0, 4.0, 0.05
BETA = np.array([1.0, 0.25, -0.5])


def write_csv(path: Path, n: int, seed: int = 1, block: int = 500_000) -> Path:
    """n rows of x1, x2, x3 ~ N(0, 1), y = Xβ + N(0, 1), written in blocks (never the whole file in memory)."""
    import pandas as pd

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".part")
    with open(tmp, "w") as f:
        f.write("x1,x2,x3,y\n")
        for start in range(0, n, block):
            m = min(block, n - start)
            X = rng.normal(size=(m, 3))
            frame = pd.DataFrame(np.column_stack([X, X @ BETA + rng.normal(size=m)]))
            frame.to_csv(f, header=False, index=False, float_format="%.6g")
    tmp.rename(path)
    return path


def child(csv: str, minibatch: str) -> dict:
    """One analysis run in this (fresh) process; its measurements as a dict."""
    from physml.analyses import regression as analysis

    import xarray as xr

    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        summary = analysis.run(Path(out), settings={"target": "y", "minibatch": minibatch}, methods=["advi"],
                               quick=True, seed=1, data=csv, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        q = xr.open_datatree(Path(out) / "advi.nc")["vi_params"].to_dataset().load()
    ref, fit = summary["reference"]["posterior"], summary["fits"]["advi"]
    post = fit["posterior"]
    z = {k: (post[k]["mean"] - ref[k]["mean"]) / post[k]["mcse_mean"] for k in post if k in ref}
    sd_ratio = {k: post[k]["sd"] / ref[k]["sd"] for k in post if k in ref}
    return {"wall_s": wall, "cpu_s": cpu, "advi_s": fit["wall_time_s"], "peak_rss_gb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 2**20, "z": z, "sd_ratio_draws": sd_ratio, "sd_ratio": q_sd_ratio(q, ref),
        "converged": bool(fit["diagnostics"].get("converged")), "minibatch_rows": summary["settings"]["minibatch_rows"]}


def q_sd_ratio(q, ref: dict) -> dict:
    """sd of the fitted q (no Monte Carlo error) / exact sd: β_j directly, σ = exp(u/2) with u = ln σ² ~ N(m, s²)."""
    mean, sd = dict(zip(q["param"].values, q["mean"].values)), dict(zip(q["param"].values, q["sd"].values))
    out = {f"beta[x{j + 1}]": sd[f"beta[{j}]"] / ref[f"beta[x{j + 1}]"]["sd"] for j in range(3)}
    m, v = mean["sigma2_log__"], sd["sigma2_log__"] ** 2
    out["sigma"] = math.exp(m / 2 + v / 8) * math.sqrt(math.expm1(v / 4)) / ref["sigma"]["sd"]
    return out


def measure(csv: Path, minibatch: str) -> dict:
    """:func:`child` in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--child", str(csv), "--minibatch", minibatch],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child failed on {csv}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def linear_fit(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y ≈ a + b n`` (fixed cost a, cost per row b)."""
    b, a = np.polyfit(n, y, 1)
    return float(a), float(b)


def figure(rows: list[dict], path: Path) -> None:
    """Peak RSS and CPU / wall time against n (log-log) with the fitted fixed + linear cost a + b n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    auto = sorted((r for r in rows if r["minibatch"] == "auto"), key=lambda r: r["n"])
    n = np.array([r["n"] for r in auto], dtype=float)
    grid = np.geomspace(n[0], n[-1], 50)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = ((axes[0], (("peak_rss_gb", "peak RSS", "o-"),), "GB", TARGET_RSS_GB),
              (axes[1], (("cpu_s", "CPU time, whole analysis", "o-"), ("wall_s", "wall time (shared machine)", "^:"),
                         ("advi_s", "ADVI fit (wall)", "s--")), "s", TARGET_ADVI_S))
    for ax, series, unit, target in panels:
        for key, label, style in series:
            y = np.array([r[key] for r in auto])
            a, b = linear_fit(n, y)
            line, = ax.loglog(n, y, style, label=f"{label}: {a:.3g} {unit} + {b * 1e6:.3g} {unit} per 1e6 rows")
            if key != "wall_s":
                ax.loglog(grid, a + b * grid, "-", color=line.get_color(), alpha=0.3, lw=4)
        ax.axhline(target, color="red", lw=0.8, label=f"target at n = 1e6 ({target:g} {unit})")
        ax.set_xlabel("rows n")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("physml run regression --methods advi --quick, d = 3, minibatch=auto (fresh process per n; "
                 "shaded: fitted a + b n)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=float, default=1e7)
    ap.add_argument("--baseline-max-n", type=float, default=1e5, help="largest n run with minibatch=off too")
    ap.add_argument("--csv-dir", default=str(Path(tempfile.gettempdir()) / "physml-large"))
    ap.add_argument("--out", default="docs/large_data")
    ap.add_argument("--child")
    ap.add_argument("--minibatch", default="auto")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.minibatch)))
        return
    csv_dir, out = Path(args.csv_dir), Path(args.out)
    csv_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    sizes = [int(10**k) for k in range(4, int(math.log10(args.max_n)) + 1)]
    measure(write_csv(csv_dir / f"reg_{sizes[0]}.csv", sizes[0]), "auto")  # warm-up: fills the compile caches
    for n in sizes:
        csv = write_csv(csv_dir / f"reg_{n}.csv", n)
        baseline = AUTO_MIN_ROWS <= n <= args.baseline_max_n  # below AUTO_MIN_ROWS "auto" is all rows anyway
        for mb in (("off", "auto") if baseline else ("auto",)):
            r = {"n": n, "minibatch": mb, **measure(csv, mb)}
            rows.append(r)
            zmax = max(abs(v) for v in r["z"].values())
            sdmax = max(abs(v - 1) for v in r["sd_ratio"].values())  # of q itself; draws: sd_ratio_draws
            print(f"n={n:>9} minibatch={mb:<4} rss={r['peak_rss_gb']:.2f} GB wall={r['wall_s']:.1f} s "
                  f"cpu={r['cpu_s']:.1f} s advi={r['advi_s']:.1f} s max|z|={zmax:.2f} max|sd ratio-1|={sdmax:.3f} "
                  f"converged={r['converged']}", flush=True)
    for n in sorted({r["n"] for r in rows if r["minibatch"] == "off"}):
        off, on = (next(r for r in rows if r["n"] == n and r["minibatch"] == m) for m in ("off", "auto"))
        print(f"n={n}: ADVI time minibatch / all rows = {on['advi_s'] / off['advi_s']:.2f}, "
              f"peak RSS ratio = {on['peak_rss_gb'] / off['peak_rss_gb']:.2f}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "large_data.json").write_text(json.dumps(rows, indent=1))
    figure(rows, out / "large_data.png")
    print(f"wrote {out / 'large_data.json'} and {out / 'large_data.png'}")


if __name__ == "__main__":
    main()
