"""ADVI driver (physml ``advi`` / ``fullrank_advi``) versus ``pm.fit`` defaults, measured in the same run.

Models
  * ``sblrc``: posteriordb ``blr`` on ``sblrc`` (sds ~1e-3, correlations ~0.8).  Targets: the
    mean-field optimum 1/sqrt(Lambda_ii) from the reference draws' precision (mean-field) and
    the reference sds (full-rank), in the unconstrained space (beta, log sigma).
  * ``conjugate``: NIG regression with predictors correlated at 0.95 (tests/test_vi_models.py).
    Targets: the closed-form optimum of the mean-field ADVI family
    (models/regression_meanfield.advi_meanfield_optimum) and the exact posterior sds
    (beta: Student-t; log sigma^2: sqrt(trigamma(a_n))).

For each model x family x seed it prints: converged flag, steps, logp evaluations, seconds
(optimisation incl. Laplace start, excluding compilation which is done first), the worst
|sd/target - 1| and |mean error| in target sds, and the same for ``pm.fit(30000, method=...)``
with PyMC's defaults.  Ratios are physml / pm.fit.

Run ``python benchmarks/vi_convergence.py [--quick]`` (quick: one seed, no pm.fit fullrank).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _targets():
    from scipy.special import polygamma

    from test_vi_models import conjugate_regression, meanfield_optimum_from_draws, sblrc
    from physml.models.regression_meanfield import advi_meanfield_optimum, nig_posterior

    out = {}
    m, ref = sblrc()
    out["sblrc"] = dict(model=m, mean=ref.mean(0), mean_sd=ref.std(0, ddof=1),
                        sd={"meanfield": meanfield_optimum_from_draws(ref), "fullrank": ref.std(0, ddof=1)})
    m, a = conjugate_regression()
    o, post = advi_meanfield_optimum(**a), nig_posterior(**a)
    sd_beta = np.sqrt(post["b_n"] / (post["a_n"] - 1) * np.diag(np.linalg.inv(post["Lambda_n"])))
    sd_ls2 = float(np.sqrt(polygamma(1, post["a_n"])))
    # value_vars order of the conjugate model: sigma2_log__, beta[0..p-1]
    out["conjugate"] = dict(model=m, mean=np.r_[o["mean_log_sigma2"], o["mean_beta"]],
                            mean_sd=np.r_[sd_ls2, sd_beta],
                            sd={"meanfield": np.r_[o["sd_log_sigma2"], o["sd_beta"]],
                                "fullrank": np.r_[sd_ls2, sd_beta]})
    return out


def _pm_fit(model, family, seed, n=30000):
    import pymc as pm

    t0 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        approx = pm.fit(n, method="advi" if family == "meanfield" else "fullrank_advi", random_seed=seed,
                        progressbar=False)
    wall = time.perf_counter() - t0
    mean, std = approx.mean.eval(), approx.std.eval()
    # reorder to model.value_vars flat order
    order = []
    for v in model.value_vars:
        _, sl, _, _ = approx.ordering[v.name]
        order.extend(range(sl.start, sl.stop))
    return mean[order], std[order], wall, n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    from physml.inference import diagnostics
    from physml.inference.vi import compiled_logp, fit_vi

    seeds = [0] if args.quick else [0, 1, 2]
    rows = []
    for name, t in _targets().items():
        compiled_logp(t["model"])
        for family in ("meanfield", "fullrank"):
            for seed in seeds:
                t0 = time.perf_counter()
                dt = fit_vi(t["model"], family, draws=100, seed=seed)
                wall = time.perf_counter() - t0
                dg = diagnostics(dt)
                vp = dt["vi_params"].to_dataset()
                ratio = vp["sd"].values / t["sd"][family]
                merr = np.abs(vp["mean"].values - t["mean"]) / t["mean_sd"]
                row = dict(model=name, family=family, seed=seed, converged=dg["converged"], steps=dg["n_steps"],
                           evals=dg["n_steps"] * 32, secs=wall, sd_ratio=ratio, mean_err=merr)
                if not (args.quick and family == "fullrank"):
                    pm_mean, pm_std, pm_wall, pm_steps = _pm_fit(t["model"], family, seed)
                    row.update(pm_ratio=pm_std / t["sd"][family], pm_mean_err=np.abs(pm_mean - t["mean"]) / t["mean_sd"],
                               pm_secs=pm_wall, pm_steps=pm_steps)
                rows.append(row)
                print(f"# {name} {family} seed {seed}: sd/target = {np.round(ratio, 3).tolist()}"
                      + (f"; pm.fit sd/target = {np.round(row['pm_ratio'], 2).tolist()}" if "pm_ratio" in row else ""),
                      flush=True)

    print("\n| model | family | seed | converged | steps | logp evals | s | max abs(sd/target-1) | max mean err (sd) "
          "| pm.fit steps | pm.fit s | pm.fit max abs(sd/target-1) | pm.fit max mean err | time ratio physml/pm.fit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pm_cols = (f"{r['pm_steps']} | {r['pm_secs']:.1f} | {np.max(np.abs(r['pm_ratio'] - 1)):.3f} | "
                   f"{np.max(r['pm_mean_err']):.2f} | {r['secs'] / r['pm_secs']:.2f}") if "pm_ratio" in r else "– | – | – | – | –"
        print(f"| {r['model']} | {r['family']} | {r['seed']} | {r['converged']} | {r['steps']} | {r['evals']} | "
              f"{r['secs']:.2f} | {np.max(np.abs(r['sd_ratio'] - 1)):.3f} | {np.max(r['mean_err']):.3f} | {pm_cols} |")
    return rows


if __name__ == "__main__":
    main()
