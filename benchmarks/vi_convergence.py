"""physml ADVI (``fit_vi``, defaults) vs ``pm.fit(n=30000)`` (PyMC's default n is 10000; otherwise its defaults), meanfield and fullrank, 3 seeds.

Models
  * ``sblrc``: posteriordb ``blr`` on ``sblrc`` (sds ~1e-3, correlations ~0.8).  Targets: the
    mean-field optimum 1/sqrt(Lambda_ii) from the reference draws' precision (mean-field) and
    the reference sds (full-rank), in the unconstrained space (beta, log sigma).
  * ``conjugate``: NIG regression with predictors correlated at 0.95 (tests/vi_targets.py).
    Targets: the closed-form optimum of the mean-field ADVI family
    (models/regression_meanfield.advi_meanfield_optimum) and the exact posterior sds
    (beta: Student-t; log sigma^2: sqrt(trigamma(a_n))).
  * ``eight_schools``: the non-centred eight schools (hierarchical; tests/inference/vi/eight_schools_reference.py).
    Targets for both families: the exact posterior means and sds by quadrature (no closed-form family optimum;
    ln tau's Gaussian optimum lies near 0.63 of its exact sd, the other sds within 5 %), and F = 31.311 nats.

Timing, the same for both sides: per model × family one cold call (seed 0, the first of its kind in
this process: graph building and compilation included; physml compiles once per model, so its
full-rank cold call reuses the mean-field one's density), then one warm call per seed; the seed
rows report the warm calls and the cold table the first calls (physml first, then pm.fit, which
shares PyTensor's on-disk C cache).  physml's time covers the whole ``fit_vi``: Laplace start,
optimisation and the evaluation with 4000 draws of q; pm.fit's the ``pm.fit`` call (reading its
mean and sd out afterwards excluded).

Density evaluations are counted at the compiled density (points, not batches): with gradient
(Laplace start incl. finite-difference Hessians, then 32 per step) and value only (the 4000
evaluation draws); ``pm.fit`` evaluates value and gradient once per step (``obj_n_mc`` = 1).
For each row: converged flag, steps, evaluations, warm seconds, the worst |sd/target - 1| and
|mean error| in target sds, the same for ``pm.fit``, and the time ratio physml / pm.fit.

Run ``python benchmarks/vi_convergence.py [--quick] [--models sblrc,conjugate,eight_schools] [--no-pm-fit]``
(quick: sblrc mean-field only, one seed, pm.fit n = 3000; ``--no-pm-fit`` skips PyMC, whose full-rank fit takes
minutes on eight schools).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "inference" / "vi"))
from timing import load_note, quiet_pymc, ratio, timed  # noqa: E402


def _targets(names):
    from scipy.special import polygamma

    from vi_targets import conjugate_regression, meanfield_optimum_from_draws, sblrc
    from physml.models.regression import nig_posterior
    from physml.models.regression_meanfield import advi_meanfield_optimum, conjugate_problem

    out = {}
    if "sblrc" in names:
        m, ref = sblrc()
        out["sblrc"] = dict(model=m, mean=ref.mean(0), mean_sd=ref.std(0, ddof=1),
                            sd={"meanfield": meanfield_optimum_from_draws(ref), "fullrank": ref.std(0, ddof=1)})
    if "conjugate" in names:
        m, a = conjugate_regression()
        o, post = advi_meanfield_optimum(**a), nig_posterior(*conjugate_problem(**a))
        sd_beta = np.sqrt(np.diag(post.beta_cov))
        sd_ls2 = float(np.sqrt(polygamma(1, post.a_n)))
        # value_vars order of the conjugate model: sigma2_log__, beta[0..p-1]
        out["conjugate"] = dict(model=m, mean=np.r_[o["mean_log_sigma2"], o["mean_beta"]],
                                mean_sd=np.r_[sd_ls2, sd_beta],
                                sd={"meanfield": np.r_[o["sd_log_sigma2"], o["sd_beta"]],
                                    "fullrank": np.r_[sd_ls2, sd_beta]})
    if "eight_schools" in names:
        from eight_schools_reference import eight_schools_noncentered, exact_posterior

        f_exact, mean, sd = exact_posterior()
        out["eight_schools"] = dict(model=eight_schools_noncentered(), mean=mean, mean_sd=sd,
                                    sd={"meanfield": sd, "fullrank": sd}, free_energy=f_exact)
    return out


PM_FIT_N = 30000  # pm.fit's default is 10000


def _pm_fit(model, family, seed, n=PM_FIT_N):
    """pm.fit's (mean, sd) in ``model.value_vars`` flat order, steps, and the wall time of the pm.fit call."""
    import pymc as pm

    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        approx, wall = timed(pm.fit, n, method="advi" if family == "meanfield" else "fullrank_advi",
                             random_seed=seed, progressbar=False)
    mean, std = approx.mean.eval(), approx.std.eval()
    # reorder to model.value_vars flat order
    order = []
    for v in model.value_vars:
        _, sl, _, _ = approx.ordering[v.name]
        order.extend(range(sl.start, sl.stop))
    return mean[order], std[order], n, wall


class DensityEvaluations:
    """Counts the points at which a compiled :class:`ModelDensity` is evaluated, with gradient and value
    only, by wrapping its two public entry points on the instance for the duration of a ``with`` block."""

    def __init__(self, density):
        self.density, self.with_grad, self.value_only = density, 0, 0

    def __enter__(self):
        dens = self.density
        values_and_grads, log_prior_and_likelihood = dens.values_and_grads, dens.log_prior_and_likelihood

        def counted_grads(x):
            self.with_grad += np.atleast_2d(x).shape[0]
            return values_and_grads(x)

        def counted_values(x):
            self.value_only += np.atleast_2d(x).shape[0]
            return log_prior_and_likelihood(x)

        dens.values_and_grads, dens.log_prior_and_likelihood = counted_grads, counted_values
        return self

    def __exit__(self, *exc):
        del self.density.values_and_grads, self.density.log_prior_and_likelihood
        return False


def _physml_fit(model, family, seed):
    from physml.inference.vi.advi import compiled_logp, fit_vi

    t0 = time.perf_counter()
    with DensityEvaluations(compiled_logp(model)) as count:
        dt = fit_vi(model, family, draws=100, seed=seed)
    return dt, time.perf_counter() - t0, count


def _run_model(name, t, family, seeds, pm_n):
    """Cold call (seed 0) and one warm call per seed for physml and pm.fit (``pm_n`` steps; 0: no pm.fit)."""
    from physml.inference import diagnostics

    nan = np.full(len(t["mean"]), np.nan)
    pm_fit = (lambda seed: _pm_fit(t["model"], family, seed, pm_n)) if pm_n else (lambda seed: (nan, nan, 0, np.nan))
    cold = {"model": name, "family": family, "physml": _physml_fit(t["model"], family, 0)[1]}
    cold["pm_fit"] = pm_fit(0)[3]
    rows = []
    for seed in seeds:
        dt, wall, count = _physml_fit(t["model"], family, seed)
        dg = diagnostics(dt)
        vp = dt["vi_params"].to_dataset()
        sd_ratio = vp["sd"].values / t["sd"][family]
        merr = np.abs(vp["mean"].values - t["mean"]) / t["mean_sd"]
        row = dict(model=name, family=family, seed=seed, converged=dg["converged"], steps=dg["n_steps"],
                   evals=f"{count.with_grad} / {count.value_only}", secs=wall, sd_ratio=sd_ratio, mean_err=merr,
                   neg_elbo=dg["neg_elbo"] - t.get("free_energy", np.nan))
        pm_mean, pm_std, pm_steps, pm_wall = pm_fit(seed)
        row.update(pm_ratio=pm_std / t["sd"][family], pm_mean_err=np.abs(pm_mean - t["mean"]) / t["mean_sd"],
                   pm_secs=pm_wall, pm_steps=pm_steps)
        rows.append(row)
        print(f"# {name} {family} seed {seed}: sd/target = {np.round(sd_ratio, 3).tolist()}; "
              f"pm.fit sd/target = {np.round(row['pm_ratio'], 2).tolist()}", flush=True)
    return cold, rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sblrc mean-field only, one seed, pm.fit n = 3000")
    ap.add_argument("--models", default=None, help="comma-separated subset of sblrc,conjugate,eight_schools")
    ap.add_argument("--no-pm-fit", action="store_true", help="physml only (no pm.fit columns)")
    args = ap.parse_args(argv)
    quiet_pymc()
    seeds = [0] if args.quick else [0, 1, 2]
    families = ("meanfield",) if args.quick else ("meanfield", "fullrank")
    pm_n = 0 if args.no_pm_fit else 3000 if args.quick else PM_FIT_N
    models = tuple(args.models.split(",")) if args.models else ("sblrc",) if args.quick else ("sblrc", "conjugate")
    print(load_note(), flush=True)
    colds, rows = [], []
    for name, t in _targets(models).items():
        for family in families:
            cold, r = _run_model(name, t, family, seeds, pm_n)
            colds.append(cold)
            rows.extend(r)

    print("\n| model | family | seed | converged | steps | density evals (grad / value) | warm s "
          "| max abs(sd/target-1) | max mean err (sd) | −ELBO − F | pm.fit steps = grad evals | pm.fit warm s "
          "| pm.fit max abs(sd/target-1) | pm.fit max mean err | warm time ratio physml/pm.fit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pm_cols = (f"{r['pm_steps']} | {r['pm_secs']:.2f} | {np.max(np.abs(r['pm_ratio'] - 1)):.3f} | "
                   f"{np.max(r['pm_mean_err']):.2f} | {ratio(r['secs'], r['pm_secs'])}")
        print(f"| {r['model']} | {r['family']} | {r['seed']} | {r['converged']} | {r['steps']} | {r['evals']} | "
              f"{r['secs']:.2f} | {np.max(np.abs(r['sd_ratio'] - 1)):.3f} | {np.max(r['mean_err']):.3f} | "
              f"{r['neg_elbo']:.3f} | {pm_cols} |")
    print("\n| model | family | physml cold s | pm.fit cold s | cold time ratio physml/pm.fit |")
    print("|---|---|---|---|---|")
    for c in colds:
        print(f"| {c['model']} | {c['family']} | {c['physml']:.2f} | {c['pm_fit']:.2f} | "
              f"{ratio(c['physml'], c['pm_fit'])} |")
    print(load_note())
    return rows


if __name__ == "__main__":
    main()
