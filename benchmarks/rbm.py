"""RBM benchmarks: AIS error vs wall time (BAS 9×6, 16×12), learners at equal wall time (5 s, BAS 9×6), NUTS ESS/s (BAS 9×4).

* AIS (Salakhutdinov–Murray, base-rate start) on bars-and-stripes RBMs trained by CD-1 (100 epochs):
  ln Ẑ ± se against exact enumeration at n_betas × n_runs = 1001×100, 3001×100, 14501×100, 14501×500.
* Exact-gradient vs CD-1 vs PCD learning, each given the same training wall time; exact train LL.
* nutpie NUTS on the Bayesian RBM (200 rows, σ = 2), 2 chains × 1000 draws + 1000 tune: compilation
  (once), warm sampling ``fit(..., free_energy=())`` (nutpie + ArviZ diagnostics) and the default
  bridge-sampling estimate of −ln p(data), each timed on its own; ESS/s uses the sampling time only.

Run: python benchmarks/rbm.py [--quick]  (quick: 30 epochs, two AIS settings, 1 s budgets, 200 draws).
"""

from __future__ import annotations

import argparse

import numpy as np

from physml.inference.rbm import contrastive_divergence as cd
from physml.inference.rbm import ais as rbm_ais
from physml.models import rbm
from timing import load_note, timed


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
    from arviz_stats import ess

    from physml.inference import fit
    from physml.inference.registry import FREE_ENERGY_ESTIMATORS

    print("## NUTS (nutpie) on the Bayesian RBM (BAS 3×3, 200 rows, 9×4, σ = 2)\n")
    data = rbm.bars_and_stripes(3, 200, seed=0)
    model = rbm.build_bayesian_rbm(data, 4, prior_sigma=2.0)
    _, compile_s = timed(fit, model, "nuts", draws=10, tune=10, chains=1, seed=0, free_energy=())  # compile once
    draws = 200 if quick else 1000
    dt, wall = timed(fit, model, "nuts", draws=draws, tune=draws, chains=2, seed=1, free_energy=())
    bridge, bridge_s = timed(FREE_ENERGY_ESTIMATORS["bridge"].estimate, model, dt, seed=1)
    post = dt["posterior"].to_dataset()
    e = ess(post[["log_z", "mean_log_likelihood", "W"]], method="bulk")
    print("| quantity | min ESS (bulk) | ESS/s (sampling) | note |")
    print("|---|---|---|---|")
    for name, note in [("log_z", "symmetry-invariant"), ("mean_log_likelihood", "symmetry-invariant"),
                       ("W", "raw: mixes modes")]:
        v = float(e[name].min())
        print(f"| {name} | {v:.0f} | {v / wall:.1f} | {note} |")
    print(f"\ncompile {compile_s:.1f} s (once, with a 10-draw run); sampling {wall:.1f} s for 2 chains × {draws} "
          f"(+{draws} tune, incl. diagnostics); bridge sampling {bridge_s:.1f} s: −ln p(data) = "
          f"{bridge.value:.3f} ± {bridge.se:.3f}{'; ' + bridge.note if bridge.note else ''}\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 epochs, two AIS settings, 1 s budgets, 200 draws")
    quick = ap.parse_args().quick
    print(load_note() + "\n")
    ais_table(quick)
    learners_table(quick)
    nuts_table(quick)
    print(load_note())
