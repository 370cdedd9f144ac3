"""RBM benchmarks: AIS error vs wall time, NUTS ESS/s on the Bayesian RBM, learners at equal wall time.

Run: python benchmarks/rbm.py [--quick]. Prints markdown tables; every ratio is measured in the same run.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from physml.inference import contrastive_divergence as cd
from physml.inference import rbm_ais
from physml.models import rbm


def trained_bas_rbm(size, n_hidden, epochs, seed=0):
    data = rbm.bars_and_stripes(size, 500, seed=seed)
    init = cd.init_params(size * size, n_hidden, seed=seed + 1, data=data)
    hist = cd.train(data, init, cd.TrainingSettings(method="cd", n_epochs=epochs, learning_rate=0.05, batch_size=10,
                                                    momentum=0.5), seed=seed + 2, monitor=False)
    return data, hist.params


def ais_table(quick):
    print("## AIS error vs wall time (Salakhutdinov–Murray schedule, base-rate start)\n")
    print("| RBM | n_betas | n_runs | ln Z exact | ln Ẑ ± se | error | |error|/se | wall (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for size, nh in [(3, 6), (4, 12)]:
        data, (W, a, b) = trained_bas_rbm(size, nh, epochs=30 if quick else 100)
        exact = rbm.log_partition_exact(W, a, b)
        a0 = rbm_ais.base_rate_visible_bias(data)
        grid = [(1001, 100), (14501, 100)] if quick else [(1001, 100), (3001, 100), (14501, 100), (14501, 500)]
        for n_betas, n_runs in grid:
            r = rbm_ais.ais_run(W, a, b, n_betas=n_betas, n_runs=n_runs, seed=7, base_visible_bias=a0)
            err = r.log_z - exact
            print(f"| {size * size}×{nh} BAS | {n_betas} | {n_runs} | {exact:.4f} | {r.log_z:.4f} ± {r.se:.4f} | "
                  f"{err:+.4f} | {abs(err) / r.se:.2f} | {r.wall_time_s:.2f} |")
    print()


def learners_table(quick):
    print("## Exact-gradient vs CD-1 vs PCD at equal wall time (BAS 3×3, 9×6)\n")
    data = rbm.bars_and_stripes(3, 500, seed=0)
    init = cd.init_params(9, 6, seed=1, data=data)
    budget = 1.0 if quick else 5.0
    print(f"budget {budget} s of training each; exact average log-likelihood at the end "
          f"(best possible: −entropy = {np.sum((f := rbm.pattern_frequencies(data))[f > 0] * np.log(f[f > 0])):.4f})\n")
    print("| learner | epochs done | training time (s) | exact train LL |")
    print("|---|---|---|---|")
    for method in ("exact", "cd", "pcd"):
        ts = cd.TrainingSettings(method=method, n_epochs=100000, learning_rate=0.05, batch_size=10, momentum=0.5)
        h = cd.train(data, init, ts, seed=2, time_budget_s=budget)
        print(f"| {method} | {len(h.log_likelihood) - 1} | {h.wall_time_s[-1]:.2f} | {h.log_likelihood[-1]:.4f} |")
    print()


def nuts_table(quick):
    from physml.inference import fit
    from arviz_stats import ess

    print("## NUTS (nutpie) on the Bayesian RBM (BAS 3×3, 200 rows, 9×4, σ = 2)\n")
    data = rbm.bars_and_stripes(3, 200, seed=0)
    model = rbm.build_bayesian_rbm(data, 4, prior_sigma=2.0)
    t0 = time.perf_counter()
    fit(model, "nuts", draws=10, tune=10, chains=1, seed=0)  # compile once (cached per model)
    compile_s = time.perf_counter() - t0
    draws = 200 if quick else 1000
    t0 = time.perf_counter()
    dt = fit(model, "nuts", draws=draws, tune=draws, chains=2, seed=1)
    wall = time.perf_counter() - t0
    post = dt["posterior"].to_dataset()
    e = ess(post[["log_z", "mean_log_likelihood", "W"]], method="bulk")
    print("| quantity | min ESS (bulk) | ESS/s | note |")
    print("|---|---|---|---|")
    for name, note in [("log_z", "symmetry-invariant"), ("mean_log_likelihood", "symmetry-invariant"),
                       ("W", "raw: mixes modes")]:
        v = float(e[name].min())
        print(f"| {name} | {v:.0f} | {v / wall:.1f} | {note} |")
    print(f"\ncompile {compile_s:.1f} s (once); sampling {wall:.1f} s for 2 chains × {draws} (+{draws} tune)\n")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    ais_table(quick)
    learners_table(quick)
    nuts_table(quick)
