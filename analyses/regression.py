"""``physml run regression``: Bayesian linear regression, five methods against the exact answer.

Large data (``--data big.csv``): the CSV is streamed (``models/regression_data.py``), the exact reference
comes from sufficient statistics, and VI runs on minibatches (``--set minibatch=auto|off|SIZE``, see
:func:`minibatch_size` and ``physml.inference.vi.minibatch``).

y ~ N(Xβ, σ²): conjugate prior β | σ² ~ N(m0, σ² V0), σ² ~ InvGamma(a0, b0), with F = −ln p(y) and the
posterior exact (normal-inverse-gamma), or posteriordb's independent priors. The showcase of a model's
analysis: what to fit (:func:`plans`: sizes and free-energy estimators per method) and one call to
:func:`~physml.analyses.bayes_report.run_and_report`; the conjugate model adds a section (the exact
mean-field optimum, :func:`_vi_optimum_section`).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..inference import METHODS, diagnostics, free_energies, posterior_table
from ..inference.evidence.adaptive import FE_TIME_CAP, check_tolerance
from ..inference.vi.minibatch import AUTO_MIN_ROWS as MINIBATCH_AUTO_ROWS
from ..inference.vi.minibatch import DEFAULT_BATCH, minibatch_vi
from ..models import regression as reg
from .bayes_report import MethodPlan, run_and_report
from .common import fmt, pm_fmt
from .report import Report
from .settings import check_memory, check_methods, merge_settings

DEFAULTS = {
    "prior": "conjugate",   # or "independent" (posteriordb blr)
    "n": 40, "d": 3, "rho": 0.95, "data_seed": 20261129,
    "v0": 10.0, "a0": 2.0, "b0": 2.0,
    "beta_sd": 10.0, "sigma_sd": 10.0,
    "target": "",
    "draws": 0, "chains": 0,  # 0: each method's own default size
    "fe_tol": 0.0, "fe_time_cap": FE_TIME_CAP,  # nats (0 = off): TI and AIS grow until their error is below it
    "minibatch": "auto",  # VI on minibatches: "auto" (from MINIBATCH_AUTO_ROWS rows), "off", or a batch size
}
DEFAULT_METHODS = ("nuts", "metropolis", "advi", "fullrank_advi", "smc")
PRIORS = ("conjugate", "independent")


def base_size(quick: bool, draws: int = 0, chains: int = 0) -> dict:
    """draws, tune, chains of NUTS and VI: short in --quick mode, report-sized otherwise; ``draws``/``chains`` > 0 override."""
    for name, value in (("draws", draws), ("chains", chains)):
        if value < 0:
            raise ValueError(f"setting {name} must be an integer >= 1 (or 0 for the default), got {value}")
    size = {"draws": 500, "tune": 500, "chains": 2} if quick else {"draws": 2000, "tune": 1000, "chains": 4}
    return {**size, **({"draws": draws} if draws else {}), **({"chains": chains} if chains else {})}


def minibatch_size(setting: str, n: int, methods=("advi",)) -> int:
    """Rows per VI step from the ``minibatch`` setting (a batch of all ``n`` rows means plain VI).

    ``"auto"``: :data:`DEFAULT_BATCH` rows when ``n`` ≥ ``MINIBATCH_AUTO_ROWS`` and every method is VI, else
    all n; ``"off"``: all n; an integer: that many (at most n), VI methods only — the minibatch log density
    would also feed the evidence estimators of MCMC fits, which need exact log densities.
    """
    setting = str(setting).strip().lower()
    only_vi = all(METHODS[m].family == "vi" for m in methods if m in METHODS)
    if setting == "auto":
        return DEFAULT_BATCH if n >= MINIBATCH_AUTO_ROWS and only_vi else n
    if setting == "off":
        return n
    try:
        size = int(setting)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"setting minibatch must be 'auto', 'off' or an integer >= 1 (rows per VI step), got {setting!r}")
    if not only_vi and size < n:
        raise ValueError(f"setting minibatch={size} applies to VI methods only (advi, fullrank_advi); got methods "
                         f"{list(methods)}: fit the others in another run or set minibatch=off")
    return min(size, n)


def plans(methods, quick: bool, draws: int = 0, chains: int = 0, fe_tol: float = 0.0,
          fe_time_cap: float = FE_TIME_CAP) -> list[MethodPlan]:
    """Sizes per method (metropolis 4× the draws, SMC its own particle count) from :func:`base_size`;
    ``fe_tol`` > 0 (nats): TI and AIS grow their budgets until their error is below it (or ``fe_time_cap`` s)."""
    check_tolerance(fe_tol, fe_time_cap, prefix="setting ")
    size = base_size(quick, draws, chains)
    tol = {"fe_tol": fe_tol, "fe_time_cap": fe_time_cap} if fe_tol else {}
    out = []
    for m in methods:
        if m == "metropolis":
            out.append(MethodPlan(m, draws=size["draws"] * 4, tune=size["tune"] * 2, chains=size["chains"]))
        elif m == "smc":
            out.append(MethodPlan(m, draws=draws or (1000 if quick else 4000), tune=0, chains=chains or 4))
        elif m == "nuts":
            # NUTS carries the estimators that need posterior draws (bridge) or run their own
            # tempered sampling (TI: a power-posterior ladder; AIS: HMC moves along the same path).
            fe_options = {"ti": {"n_rungs": 10 if quick else 20, "draws": 300 if quick else 1000, **tol},
                          "ais": {"n_runs": 64 if quick else 200, "n_temperatures": 200 if quick else 1000, **tol}}
            out.append(MethodPlan(m, **size, free_energy=("bridge", "ti", "ais"), free_energy_options=fe_options))
        else:
            out.append(MethodPlan(m, **size))
    return out


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s = merge_settings(DEFAULTS, settings)
    if s["prior"] not in PRIORS:
        raise ValueError(f"setting prior must be one of {PRIORS}, got {s['prior']!r}")
    methods = list(methods) if methods else [m for m in DEFAULT_METHODS if m in METHODS]
    method_plans = plans(methods, quick, s["draws"], s["chains"], s["fe_tol"], s["fe_time_cap"])
    dataset = reg.load_data(data, s["target"] or None) if data else None
    n, d = (dataset.n, dataset.d) if data else (s["n"], s["d"])
    batch = minibatch_size(s["minibatch"], max(n, 1), methods)
    check_memory({"draws × chains": max(p.draws * p.chains * (2 * max(d, 0) + 32) for p in method_plans),
                  "n × d": max(n, 0) * (max(d, 0) + 1) + max(d, 0) ** 2})
    if not data:
        dataset = reg.synthetic_data(n=s["n"], d=s["d"], rho=s["rho"], seed=s["data_seed"])
    if s["prior"] == "conjugate":
        prior = reg.ConjugatePrior(dataset.d, v0=s["v0"], a0=s["a0"], b0=s["b0"])
        model = reg.conjugate_model(dataset, prior)
        reference = reg.exact_reference(dataset, prior, seed=seed)
        var_names = ["beta", "sigma"]
        intro = ("Conjugate Bayesian linear regression y ~ N(Xβ, σ²), β | σ² ~ N(m0, σ² V0), σ² ~ InvGamma(a0, b0). "
                 "Energy E(β, σ²) = −ln p(y, β, σ²); free energy F = −ln ∫ e^{−E} = −ln p(y), known exactly. "
                 f"Data: {dataset.source}, n = {dataset.n}, d = {dataset.d}.")
    else:
        prior = reg.IndependentPrior(beta_sd=s["beta_sd"], sigma_sd=s["sigma_sd"])
        model = reg.independent_model(dataset, prior)
        reference = reg.posteriordb_reference(data) if data else None
        var_names = ["beta", "sigma"]
        intro = ("Bayesian linear regression with independent priors (posteriordb `blr`): β ~ N(0, beta_sd), "
                 f"σ ~ HalfNormal(sigma_sd). No closed-form evidence. Data: {dataset.source}, n = {dataset.n}, d = {dataset.d}.")
    check_methods(methods, model)
    extra = _vi_optimum_section(dataset, prior) if s["prior"] == "conjugate" else None
    notes = ["Mean-field VI (advi) factorises q over parameters, so on a posterior with correlated coefficients "
             "its sds fall below the exact ones; full-rank VI can represent the correlation."]
    report_args = dict(model_name="regression", title="Bayesian linear regression", intro=intro, model=model,
                       reference=reference, plans=method_plans, var_names=var_names,
                       settings={**s, **_sizes_used(quick, s, method_plans), "data": data, "methods": methods,
                                 "quick": quick, "seed": seed, "minibatch_rows": batch},
                       out_dir=out_dir, seed=seed, progress=progress, notes=notes, extra_section=extra)
    if reg.borrows_data(dataset):
        notes.append(f"Large data (n ≥ {reg.BORROW_MIN_ROWS}): the model holds the data arrays by reference (no "
                     "copies), so the fits' `constant_data` group has no `X`; get it from the data file with "
                     "`physml.models.regression.load_data(path, target).X`.")
    if batch == dataset.n:
        return run_and_report(**report_args)
    notes.append(f"VI used minibatches of {batch} of the {dataset.n} rows per step: unbiased "
                 "log-density and gradient estimates with control variates anchored at the exact mode "
                 "(`physml.inference.vi.minibatch`); `--set minibatch=off` fits on all rows. The pointwise "
                 "log_likelihood group (draws × rows) is not stored.")
    for plan in method_plans:  # draws × n numbers: the array large data must never materialise
        plan.options["idata_kwargs"] = {"log_likelihood": False}
    with minibatch_vi(model, batch, seed=seed):
        return run_and_report(**report_args)


def _sizes_used(quick: bool, s: dict, method_plans: list[MethodPlan]) -> dict:
    """The sizes each method ran with (``draws``/``chains`` 0 mean "the default": record the default)."""
    size = base_size(quick, s["draws"], s["chains"])
    return {"draws": size["draws"], "chains": size["chains"],
            "sizes": {p.method: {"draws": p.draws, "tune": p.tune, "chains": p.chains} for p in method_plans}}


def _vi_optimum_section(dataset, prior):
    """Approximation error vs optimisation error of mean-field ADVI, against the exact optimum.

    The mean-field family's optimum q* is closed form for the conjugate model
    (``models/regression_meanfield.py``), so the −ELBO gap splits exactly:
    F_ADVI − F = KL(q*‖p) [the family] + (ELBO(q*) − ELBO(q_ADVI)) [the optimiser].
    Returns ``section(fits, report) -> summary keys``, which adds the section when ADVI ran.
    """
    from ..models.regression_meanfield import advi_meanfield_optimum

    opt = advi_meanfield_optimum(dataset.X, dataset.y, prior.m0, prior.V0, prior.a0, prior.b0)
    exact = reg.nig_posterior(dataset, prior).moments()
    f_exact = -reg.log_evidence_exact(dataset, prior)
    f_opt = -opt["elbo"]
    v = opt["sd_log_sigma"] ** 2
    sigma_mean = math.exp(opt["mean_log_sigma"] + v / 2)  # σ = e^{log σ} is log-normal under q*
    opt_sd = {f"beta[{n}]": float(sd) for n, sd in zip(dataset.predictors, opt["sd_beta"])}
    opt_sd["sigma"] = sigma_mean * math.sqrt(math.expm1(v))

    def section(fits: dict, report: Report) -> dict:
        if "advi" not in fits:
            return {}
        dt = fits["advi"]
        table = posterior_table(dt, ["beta", "sigma"])
        neg = next(r for r in free_energies(dt) if r.estimator == "neg_elbo")
        converged = bool(diagnostics(dt).get("converged", False))
        sec = report.section("Mean-field VI: the family's error vs the optimiser's error",
                             "The mean-field optimum q* of this conjugate model is known in closed form (CAVI to "
                             "machine precision), so ADVI can be checked against *the* mean-field answer, not just "
                             "against the posterior.")
        sec.table(["parameter", "exact posterior sd", "mean-field optimum sd", "ADVI sd", "ADVI / optimum"],
                  [[label, fmt(exact[label]["sd"]), fmt(opt_sd[label]), fmt(table[label]["sd"]),
                    fmt(table[label]["sd"] / opt_sd[label], 3)] for label in opt_sd])
        sec.table(["free energy (nats)", "value"], [
            ["exact −ln p(y)", fmt(f_exact, 6)], ["mean-field optimum −ELBO(q*)", fmt(f_opt, 6)],
            ["ADVI −ELBO", pm_fmt(neg.value, neg.se)], ["KL(q*‖p) = approximation error of the family", fmt(f_opt - f_exact, 4)],
            ["ELBO(q*) − ELBO(q_ADVI) = optimisation error", pm_fmt(neg.value - f_opt, neg.se)]])
        if not converged:
            sec.add("**ADVI did not converge: its numbers above are not the family's optimum.**")
        return {"vi_optimum": {"family": "mean-field Gaussian in the unconstrained space (ADVI's)",
                               "free_energy": f_opt, "sd": opt_sd, "kl_family": f_opt - f_exact,
                               "optimisation_gap": {"value": neg.value - f_opt, "se": neg.se},
                               "advi_converged": converged}}

    return section
