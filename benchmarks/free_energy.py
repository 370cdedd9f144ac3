"""Free-energy estimators side by side: error versus wall time at three budgets.

Models
  * ``conjugate``: the NIG regression of :mod:`physml.models.regression` (synthetic,
    correlated predictors); reference = the exact log evidence.
  * ``sblrc``: posteriordb's ``blr`` on the ``sblrc`` data (β ~ N(0, 10), σ ~ HalfNormal(10),
    strongly correlated posterior, no closed form); reference = bridge sampling at a large
    budget (the most precise estimator here), its se quoted.

Estimators: ``ti`` (power posteriors), ``bridge`` (from NUTS draws; wall time includes the
NUTS run), ``psis_is`` (from a full-rank Gaussian fitted to NUTS draws, as a stand-in VI fit:
cost counted as the draws from q only), ``ais`` (HMC kernel), ``smc`` (PyMC's SMC, if registered).
Compilation is done once per model before timing (every estimator reuses it).

Run ``python benchmarks/free_energy.py [--quick] [--models conjugate,sblrc]``; prints a
markdown table: estimator, budget, −ln Z ± se, error, error in se units, wall time, and
whether the estimator flagged itself ("unreliable" note).  The full run takes about 3-4
minutes on 2 cores (two compilations of ~15 s each included).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "posteriordb" / "sblrc.json"


def _models(names):
    from physml.models import regression as reg

    out = {}
    if "conjugate" in names:
        data = reg.synthetic_data()
        prior = reg.ConjugatePrior(data.d)
        out["conjugate"] = (reg.conjugate_model(data, prior), -reg.log_evidence_exact(data, prior))
    if "sblrc" in names:
        path = DATA
        data = reg.load_data(path)
        out["sblrc"] = (reg.independent_model(data, reg.IndependentPrior()), None)
    return out


def _timed(fn):
    t0 = time.perf_counter()
    rec = fn()
    return rec, time.perf_counter() - t0


def run(names=("conjugate", "sblrc"), quick=False, seed=0, out=sys.stdout):
    import xarray as xr

    from physml.inference.ais import ais_pymc
    from physml.inference.bridge_sampling import bridge_sampling
    from physml.inference.importance_sampling import gaussian_log_weights, importance_sampling, vi_log_weights_tree
    from physml.inference.model_density import model_density
    from physml.inference.registry import FREE_ENERGY_ESTIMATORS
    from physml.inference.thermodynamic_integration import _tempered, sample_power_posterior, thermodynamic_integration

    scale = 0.5 if quick else 1.0
    budgets = {
        # default (auto) ladder: t_1 from prior draws, 4 rungs/decade, then (k/20)^5; budget = draws per rung
        "ti": [dict(draws=int(d * scale), tune=500) for d in (500, 1000, 2000)],
        "bridge": [dict(draws=int(d * scale)) for d in (250, 1000, 4000)],
        "psis_is": [dict(n_draws=int(d * scale)) for d in (500, 2000, 8000)],
        "ais": [dict(n_temperatures=int(k * scale), n_runs=64) for k in (100, 300, 1000)],
        "smc": [dict(draws=int(d * scale), chains=2) for d in (250, 1000, 2000)],
    }
    rows = []
    for mname, (model, exact) in _models(names).items():
        t0 = time.perf_counter()
        dens = model_density(model)
        _tempered(model)
        compile_s = time.perf_counter() - t0
        print(f"[{mname}] compiled density + tempered nutpie model in {compile_s:.1f} s", file=sys.stderr)
        # reference
        ref_se = 0.0
        if exact is None:
            tr = sample_power_posterior(model, 1.0, draws=int(10000 * scale), tune=1000, chains=2, seed=seed + 99)
            ref = bridge_sampling(model, tr["posterior"], seed=seed + 99)
            exact, ref_se = ref.value, ref.se
            print(f"[{mname}] reference: bridge at {int(10000 * scale)} x 2 draws: {exact:.4f} ± {ref_se:.4f}",
                  file=sys.stderr)
        # a stand-in VI fit: full-rank Gaussian from NUTS draws (unconstrained)
        tr_q = sample_power_posterior(model, 1.0, draws=1000, tune=500, chains=2, seed=seed + 7)
        th = dens.to_unconstrained(tr_q["posterior"]).reshape(-1, dens.ndim)
        q_mean, q_chol = th.mean(0), np.linalg.cholesky(1.2 * np.atleast_2d(np.cov(th.T)))

        for est, blist in budgets.items():
            if est == "smc" and "smc" not in FREE_ENERGY_ESTIMATORS:
                continue
            for b in blist:
                try:
                    if est == "ti":
                        rec, wall = _timed(lambda: thermodynamic_integration(model, seed=seed, **b))
                    elif est == "bridge":
                        def f():
                            tr = sample_power_posterior(model, 1.0, draws=b["draws"], tune=500, chains=2, seed=seed)
                            return bridge_sampling(model, tr["posterior"], seed=seed)
                        rec, wall = _timed(f)
                    elif est == "psis_is":
                        def f():
                            lp, lq, _ = gaussian_log_weights(model, q_mean, chol=q_chol, n_draws=b["n_draws"],
                                                             seed=seed)
                            res = xr.DataTree()
                            res["vi_log_weights"] = vi_log_weights_tree(lp, lq)
                            return importance_sampling(model, res, seed=seed)
                        rec, wall = _timed(f)
                    elif est == "ais":
                        rec, wall = _timed(lambda: ais_pymc(model, seed=seed, **b))
                    else:
                        rec, wall = _timed(lambda: FREE_ENERGY_ESTIMATORS["smc"].estimate(
                            model, xr.DataTree(), seed=seed, **b))
                except Exception as err:  # a benchmark row, not a crash
                    rows.append((mname, est, str(b), float("nan"), float("nan"), float("nan"), float("nan"),
                                 float("nan"), f"failed: {type(err).__name__}: {err}"[:80]))
                    continue
                err = rec.value - exact
                flags = []
                if rec.note.startswith("unreliable"):
                    flags.append("UNRELIABLE (self-flagged)")
                if np.isfinite(rec.pareto_k):
                    flags.append(f"k={rec.pareto_k:.2f}")
                rows.append((mname, est, ", ".join(f"{k}={v}" for k, v in b.items()), rec.value, rec.se, err,
                             err / rec.se if rec.se > 0 else float("nan"), wall, "; ".join(flags)))
                print(f"[{mname}] {est} {b}: {rec.value:.4f} ± {rec.se:.4f} err {err:+.4f} in {wall:.2f}s",
                      file=sys.stderr)
        rows.append((mname, "reference", "exact" if ref_se == 0 else "bridge, large budget", exact, ref_se,
                     0.0, float("nan"), float("nan"), ""))
    print("| model | estimator | budget | −ln Z | se | error | error/se | wall s | note |", file=out)
    print("|---|---|---|---|---|---|---|---|---|", file=out)
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:+.4f} | {r[6]:+.2f} | {r[7]:.2f} | {r[8]} |",
              file=out)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="half-size budgets")
    p.add_argument("--models", default="conjugate,sblrc")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    run(tuple(a.models.split(",")), quick=a.quick, seed=a.seed)


if __name__ == "__main__":
    main()
