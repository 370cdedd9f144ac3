"""Free-energy estimators (TI, bridge, PSIS-IS, AIS, SMC) at three budgets each on two regressions: error vs wall time against exact −ln p(y).

Models and their exact references
  * ``conjugate``: the NIG regression of :mod:`physml.models.regression` (synthetic, n = 40, d = 3,
    correlated predictors); reference: the closed-form log evidence.
  * ``sblrc``: posteriordb's ``blr`` on the ``sblrc`` data (n = 100, d = 5; β ~ N(0, 10), σ ~ HalfNormal(10),
    strongly correlated posterior); reference: β integrated out analytically given σ, then 1-D
    quadrature over σ (``regression.log_evidence_independent``), printed next to an independent
    evaluation here (Cholesky of the β-posterior precision, ``scipy.integrate.quad`` over σ itself);
    −ln p(y) = 194.96759. The reference has no Monte Carlo error, so error/se uses the estimator's se.

Estimators (budgets at full size; ``--quick``: the conjugate model, the smallest budget halved): ``ti`` (power posteriors, 500 / 1000 / 2000
draws per rung), ``bridge`` (from 250 / 1000 / 4000 NUTS draws × 2 chains; wall time includes the
NUTS run), ``psis_is`` (500 / 2000 / 8000 draws from a full-rank Gaussian fitted to NUTS draws, a
stand-in VI fit: cost counted as the draws from q only), ``ais`` (HMC kernel, 100 / 300 / 1000
temperatures × 64 runs), ``smc`` (PyMC's SMC, 250 / 1000 / 2000 particles × 2 chains, if registered).
Timing: per model, the compiled density and tempered nutpie model are built first (reported); each
estimator then makes one cold call at its smallest budget (its own lazily compiled functions
included, reported as ``cold s``) and every budget row is a warm call.

Run ``python benchmarks/free_energy.py [--quick] [--models conjugate,sblrc]``; prints a markdown
table: estimator, budget, −ln Z ± se, error, error in se units, cold and warm wall time, and whether
the estimator flagged itself ("unreliable" note).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import integrate, linalg, optimize, stats

from timing import load_note, quiet_pymc, timed

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "posteriordb" / "sblrc.json"


def blr_free_energy_by_quadrature(data, prior) -> float:
    r"""−ln p(y) of posteriordb's ``blr`` by an evaluation independent of ``regression.log_evidence_independent``.

    Given σ, β ~ N(0, s² I) and y | β, σ ~ N(Xβ, σ² I) give, with the β-posterior precision
    :math:`A = X^\top X/σ^2 + I/s^2` and :math:`b = X^\top y/σ^2`,
    :math:`\ln p(y\mid σ) = -\tfrac n2\ln(2\pi σ^2) - \tfrac{y^\top y}{2σ^2} + \tfrac12 b^\top A^{-1} b
    - \tfrac12\ln|A| - d\ln s`; then :math:`p(y) = \int_0^\infty \mathrm{HalfNormal}(σ; σ_0)\, p(y\mid σ)\,dσ`
    by adaptive quadrature in σ, split at the mode.
    """
    X, y = data.X, data.y
    n, d = X.shape
    s2 = prior.beta_sd ** 2
    xtx, xty, yy = X.T @ X, X.T @ y, float(y @ y)
    half_normal = stats.halfnorm(scale=prior.sigma_sd)

    def log_joint(sig):
        factor = linalg.cho_factor(xtx / sig ** 2 + np.eye(d) / s2, lower=True)
        b = xty / sig ** 2
        log_lik = (-0.5 * n * math.log(2 * math.pi * sig ** 2) - 0.5 * yy / sig ** 2
                   + 0.5 * b @ linalg.cho_solve(factor, b) - np.sum(np.log(np.diag(factor[0])))
                   - 0.5 * d * math.log(s2))
        return log_lik + half_normal.logpdf(sig)

    mode = optimize.minimize_scalar(lambda s: -log_joint(s), bounds=(1e-8, 10 * prior.sigma_sd), method="bounded",
                                    options={"xatol": 1e-12}).x
    peak = log_joint(mode)
    parts = [integrate.quad(lambda s: math.exp(log_joint(s) - peak), lo, hi, epsabs=0.0, epsrel=1e-10, limit=500)[0]
             for lo, hi in ((0.0, mode), (mode, 2 * mode), (2 * mode, np.inf))]
    return -(peak + math.log(sum(parts)))


def _models(names):
    from physml.models import regression as reg

    out = {}
    if "conjugate" in names:
        data = reg.synthetic_data()
        prior = reg.ConjugatePrior(data.d)
        out["conjugate"] = (reg.conjugate_model(data, prior), -reg.log_evidence_exact(data, prior),
                            "exact (NIG closed form)")
    if "sblrc" in names:
        data, prior = reg.load_data(DATA), reg.IndependentPrior()
        exact = -reg.log_evidence_independent(data, prior)
        check = blr_free_energy_by_quadrature(data, prior)
        print(f"[sblrc] -ln p(y) by quadrature: {exact:.8f} (log_evidence_independent), {check:.8f} "
              f"(independent evaluation here), difference {exact - check:+.1e}", file=sys.stderr)
        out["sblrc"] = (reg.independent_model(data, prior), exact, "exact (β analytic, σ by quadrature)")
    return out


def _estimators(model, q_mean, q_chol, seed):
    """{name: call(budget) -> FreeEnergy} for the estimators available here."""
    import xarray as xr

    from physml.inference.evidence.pymc_ais import ais_pymc
    from physml.inference.evidence.bridge_sampling import bridge_sampling
    from physml.inference.evidence.importance_sampling import gaussian_log_weights, importance_sampling, vi_log_weights_tree
    from physml.inference.registry import FREE_ENERGY_ESTIMATORS
    from physml.inference.evidence.power_posteriors import power_posterior_ti, sample_power_posterior

    def bridge(b):
        tr = sample_power_posterior(model, 1.0, draws=b["draws"], tune=500, chains=2, seed=seed)
        return bridge_sampling(model, tr["posterior"], seed=seed)

    def psis(b):
        lp, lq, _ = gaussian_log_weights(model, q_mean, chol=q_chol, n_draws=b["n_draws"], seed=seed)
        res = xr.DataTree()
        res["vi_log_weights"] = vi_log_weights_tree(lp, lq)
        return importance_sampling(model, res, seed=seed)

    calls = {"ti": lambda b: power_posterior_ti(model, seed=seed, **b), "bridge": bridge, "psis_is": psis,
             "ais": lambda b: ais_pymc(model, seed=seed, **b)}
    if "smc" in FREE_ENERGY_ESTIMATORS:
        calls["smc"] = lambda b: FREE_ENERGY_ESTIMATORS["smc"].estimate(model, xr.DataTree(), seed=seed, **b)
    return calls


def _row(mname, est, b, call, exact, cold):
    label = ", ".join(f"{k}={v}" for k, v in b.items())
    try:
        rec, wall = timed(call, b)
    except Exception as err:  # a benchmark row, not a crash
        return (mname, est, label, *[float("nan")] * 4, cold, float("nan"), f"failed: {type(err).__name__}: {err}"[:80])
    err = rec.value - exact
    flags = (["UNRELIABLE (self-flagged)"] if rec.note.startswith("unreliable") else []) + \
        ([f"k={rec.pareto_k:.2f}"] if np.isfinite(rec.pareto_k) else [])
    print(f"[{mname}] {est} {b}: {rec.value:.4f} ± {rec.se:.4f} err {err:+.4f} in {wall:.2f}s", file=sys.stderr)
    return (mname, est, label, rec.value, rec.se, err, err / rec.se if rec.se > 0 else float("nan"), cold, wall,
            "; ".join(flags))


def run(names=("conjugate", "sblrc"), quick=False, seed=0, out=sys.stdout):
    from physml.inference.model_density import model_density
    from physml.inference.evidence.power_posteriors import sample_power_posterior

    scale = 0.5 if quick else 1.0
    budgets = {
        # default (auto) ladder: t_1 from prior draws, 4 rungs/decade, then (k/20)^5; budget = draws per rung
        "ti": [dict(draws=int(d * scale), tune=500) for d in (500, 1000, 2000)],
        "bridge": [dict(draws=int(d * scale)) for d in (250, 1000, 4000)],
        "psis_is": [dict(n_draws=int(d * scale)) for d in (500, 2000, 8000)],
        "ais": [dict(n_temperatures=int(k * scale), n_runs=64) for k in (100, 300, 1000)],
        "smc": [dict(draws=int(d * scale), chains=2) for d in (250, 1000, 2000)],
    }
    if quick:
        budgets = {est: blist[:1] for est, blist in budgets.items()}
    print(load_note(), file=out)
    rows = []
    for mname, (model, exact, ref_kind) in _models(names).items():
        def build():
            dens = model_density(model)
            sample_power_posterior(model, 1.0, draws=10, tune=10, chains=1, seed=seed)  # compiles the tempered model
            return dens
        dens, compile_s = timed(build)
        print(f"[{mname}] compiled density + tempered nutpie model in {compile_s:.1f} s", file=sys.stderr)
        # a stand-in VI fit: full-rank Gaussian from NUTS draws (unconstrained)
        tr_q = sample_power_posterior(model, 1.0, draws=1000, tune=500, chains=2, seed=seed + 7)
        th = dens.to_unconstrained(tr_q["posterior"]).reshape(-1, dens.ndim)
        q_mean, q_chol = th.mean(0), np.linalg.cholesky(1.2 * np.atleast_2d(np.cov(th.T)))
        for est, call in _estimators(model, q_mean, q_chol, seed).items():
            try:
                _, cold = timed(call, budgets[est][0])
            except Exception:  # the warm row reports the failure
                cold = float("nan")
            rows.extend(_row(mname, est, b, call, exact, cold if i == 0 else float("nan"))
                        for i, b in enumerate(budgets[est]))
        rows.append((mname, "reference", ref_kind, exact, 0.0, 0.0, float("nan"), compile_s, float("nan"),
                     "cold s = compile of density + tempered model"))
    print("| model | estimator | budget | −ln Z | se | error | error/se | cold s | warm s | note |", file=out)
    print("|---|---|---|---|---|---|---|---|---|---|", file=out)
    for r in rows:
        z, cold, warm = (f"{v:{fmt}}" if np.isfinite(v) else "–"
                         for v, fmt in ((r[6], "+.2f"), (r[7], ".2f"), (r[8], ".2f")))
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:+.4f} | {z} | {cold} | {warm} | {r[9]} |",
              file=out)
    print(load_note(), file=out)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the smallest budget only, halved; conjugate model only")
    p.add_argument("--models", default=None, help="comma-separated: conjugate,sblrc (default: both; quick: conjugate)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    quiet_pymc()
    models = a.models or ("conjugate" if a.quick else "conjugate,sblrc")
    run(tuple(models.split(",")), quick=a.quick, seed=a.seed)


if __name__ == "__main__":
    main()
