r"""Sequential Monte Carlo (PyMC's tempered SMC) and its evidence estimate.

SMC anneals from the prior to the posterior, :math:`p_t \propto p(y\mid\theta)^{t} p(\theta)`,
and multiplies the mean incremental weights on the way, so each chain (an
independent particle population) gives an estimate of :math:`\ln p(y)`.
The free energy is the mean over chains of :math:`-\ln \hat p(y)`; its standard
error is the spread across chains divided by :math:`\sqrt{n_\text{chains}}`.
SMC starts from prior draws, so it cannot fit a ``pm.Flat`` / ``pm.HalfFlat`` prior; with a
data-free Potential beside data (:mod:`.priors`) it fits the posterior, but its evidence record
is ``undefined``.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager


import numpy as np
import pymc as pm
import xarray as xr

from ..convergence import mcmc_diagnostics
from ..priors import flat_prior_terms, require_proper_prior, undefined_free_energy, undefined_reason
from ..pymc_compat import continuous_only
from ..records import FreeEnergy, add_free_energy, set_diagnostics
from ..registry import FreeEnergyEstimator, Method, register_free_energy, register_method


def _final_log_evidence(stat) -> float:
    """PyMC stores one value per stage (NaN until the last); the last finite one is the estimate."""
    values = np.asarray(stat, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


# A population's ln Z-hat has variance ~ sum over stages of the incremental weights' relative
# variance / N; PyMC picks each beta so that the weights' ESS is threshold * N, i.e. a relative
# variance 1/threshold - 1.  Real kernels mix imperfectly, so the spread across chains may exceed
# this ideal by a small factor; DISPERSION_LIMIT allows a factor 10 in sd (100 in variance).
DISPERSION_LIMIT = 10.0
MIN_FINAL_ACCEPT = 0.1
# PyMC's default kernel (IMH) proposes from a Gaussian fitted to the population, so its acceptance
# measures how Gaussian the tempered posterior is; the population is rejuvenated by the accepted
# moves only.  Measured final-stage IMH acceptance (1000 particles x 4 populations): conjugate
# regression 0.84-0.87 (unbiased); 4x4 Hubbard-Stratonovich Ising at K_c, a mixture of 2^16 unit
# Gaussians, 0.15-0.17 with -ln Z biased +0.4..0.6 nat (populations agreeing to 0.1 nat, bridge on
# the final particles flagging 8 of 10 runs) and still +0.1 nat (z ~ 2.5) at 4000 particles.
MIN_FINAL_ACCEPT_IMH = 0.25
# Two estimates of the same ln Z from the same particles that differ by more than the accuracy physml
# promises (0.1 nat, as for the BDMC sandwich) *and* by more than 2 combined se are not both right:
# measured on the 4x4 Hubbard-Stratonovich Ising at K_c, PyMC's SMC was ~1.7 nat high with its
# populations agreeing among themselves, and a 4-se rule alone missed 2 of 3 runs.
BRIDGE_GAP_TOL = 0.1


def few_sample_se(values) -> float:
    r"""se of the mean of k independent values whose ±2 se interval keeps its nominal 95 % coverage.

    With k values the spread has only k − 1 degrees of freedom, so :math:`s/\sqrt k` is too small for
    a normal interval (k = 2: ±2 se covers ~70 %).  Returned: :math:`s/\sqrt k \cdot
    t_{k-1}(0.975)/\Phi^{-1}(0.975)` (×6.5 for k = 2, ×1.6 for k = 4, ×1.05 for k = 30).
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    k = values.size
    if k < 2:
        return float("nan")
    widen = float(stats.t.ppf(0.975, k - 1) / stats.norm.ppf(0.975))
    return float(values.std(ddof=1) / math.sqrt(k)) * widen


def smc_free_energy(log_evidence_per_chain: np.ndarray, wall_time_s: float = float("nan"), *,
                    n_stages=None, draws: int | None = None, threshold: float = 0.5,
                    final_accept=None, bridge=None, independent_proposal: bool = True) -> FreeEnergy:
    r"""−mean of the per-chain log evidences, se from their spread (needs ≥ 2 chains for a se).

    Self-check (when ``n_stages`` and ``draws`` are given): the spread of the chains' values is
    compared with the spread an SMC run with a well-mixing kernel would have,
    :math:`\sigma_{ideal} = \sqrt{n_\text{stages}(1/\text{threshold} - 1)/N}`; if the between-chain
    sd exceeds ``DISPERSION_LIMIT`` × that, the populations did not represent the tempered
    posteriors and the note starts with ``"unreliable: ..."`` (the se from a handful of chains
    is then not trustworthy either).  The se is floored at :math:`\sigma_{ideal}/\sqrt{n_\text{chains}}`:
    with 2-4 chains their spread can be tiny by chance.  So does a final-stage kernel acceptance rate (``final_accept``,
    per chain) below ``MIN_FINAL_ACCEPT`` (``MIN_FINAL_ACCEPT_IMH`` for PyMC's default independent
    Metropolis–Hastings kernel, ``independent_proposal``): the particles barely moved at beta = 1, or
    the Gaussian proposal matches the posterior so poorly that the population is not rejuvenated.  And so does a
    disagreement with ``bridge`` (a :class:`FreeEnergy` from bridge sampling on the final
    particles, an estimate that does not depend on the tempering path) by more than
    ``min(4 s, max(BRIDGE_GAP_TOL, 2 s))`` with ``s = sqrt(se_smc^2 + se_bridge^2)``, where se_smc is
    at least the ideal sd over sqrt(chains) (so that two chains that agree by chance do not make the
    test over-strict).
    """
    values = np.asarray(log_evidence_per_chain, dtype=float)
    se = few_sample_se(values)
    note = f"{values.size} independent SMC populations"
    if 1 < values.size < 30:
        note += f" (se widened by the t_{values.size - 1} quantile: {values.size - 1} degrees of freedom)"
    problems = []
    if n_stages is not None and draws:
        stages = float(np.mean(np.asarray(n_stages, dtype=float)))
        ideal = math.sqrt(stages * max(1.0 / float(threshold) - 1.0, 1e-12) / float(draws))
        note += f"; {stages:.0f} stages, ideal per-population sd {ideal:.3g}"
        if values.size > 1:
            ratio = float(values.std(ddof=1)) / ideal
            note += f", between-population sd {values.std(ddof=1):.3g} ({ratio:.1f} x ideal)"
            if se < ideal / math.sqrt(values.size):  # a few chains can agree by chance
                se = ideal / math.sqrt(values.size)
                note += "; se floored at ideal sd / sqrt(populations)"
            if not ratio <= DISPERSION_LIMIT:
                problems.append(f"populations disagree: between-population sd {values.std(ddof=1):.3g} is "
                                f"{ratio:.0f} x the {ideal:.3g} of a well-mixing SMC run (the kernel does "
                                "not equilibrate the tempered posteriors)")
        else:
            note += "; 1 population: no between-population check"
    if final_accept is not None:
        acc = np.asarray(final_accept, dtype=float)
        if acc.size and np.all(np.isfinite(acc)):
            note += f"; final-stage acceptance {acc.min():.2f}-{acc.max():.2f}"
            floor = MIN_FINAL_ACCEPT_IMH if independent_proposal else MIN_FINAL_ACCEPT
            if acc.min() < floor:
                kernel = "independent-proposal (IMH) kernel" if independent_proposal else "kernel"
                problems.append(f"final-stage {kernel} acceptance {acc.min():.2f} < {floor}: the particles "
                                "are not rejuvenated, so the tempering path is biased")
    if bridge is not None and np.isfinite(bridge.value) and np.isfinite(bridge.se):
        floor = ideal / math.sqrt(values.size) if (n_stages is not None and draws) else 0.0
        se_smc = max(se if np.isfinite(se) else 0.0, floor)
        gap = abs(-float(values.mean()) - bridge.value)
        combined = math.hypot(se_smc, bridge.se)
        tol = min(4.0 * combined, max(BRIDGE_GAP_TOL, 2.0 * combined))
        note += f"; bridge sampling on the final particles: {bridge.value:.4g} ± {bridge.se:.2g}"
        if gap > tol:
            problems.append(f"disagrees with bridge sampling on its own final particles by {gap:.3g} nat "
                            f"(> {tol:.3g} = min(4 combined se, max({BRIDGE_GAP_TOL:g} nat, 2 combined se)): "
                            "the tempering path is biased)")
    if problems:
        note = "unreliable: " + "; ".join(problems) + "; " + note
    return FreeEnergy(value=-float(values.mean()), se=se, kind="estimate", estimator="smc",
                      wall_time_s=wall_time_s, note=note)


def _last_finite(stat) -> float:
    values = np.asarray(stat, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


def _bridge_check(model, result, seed):
    """Bridge sampling on the final particles (None if it cannot run: e.g. too few draws)."""
    try:
        from ..evidence.bridge_sampling import bridge_sampling

        return bridge_sampling(model, result["posterior"], seed=seed)
    except Exception:  # a failed cross-check must not fail the fit
        return None


def _is_imh(kernel) -> bool:
    """Whether ``kernel`` (a ``sample_smc`` option; None = PyMC's default) is the independent-proposal kernel."""
    return kernel is None or (isinstance(kernel, type) and issubclass(kernel, pm.smc.kernels.IMH))


@contextmanager
def _pymc_log_level(level: int):
    """PyMC's logger at ``level`` for the duration (its "Initializing SMC sampler..." lines are INFO: a fit with
    ``progress=False`` stays silent)."""
    logger = logging.getLogger("pymc")
    before = logger.level
    logger.setLevel(max(level, before) if before else level)
    try:
        yield
    finally:
        logger.setLevel(before)


def run_smc(model, *, draws, tune, chains, seed, progress, **options):
    """``pm.sample_smc`` with ``draws`` particles per chain; ``tune`` is unused (SMC tunes its own kernel)."""
    t0 = time.perf_counter()
    with model, _pymc_log_level(logging.INFO if progress else logging.WARNING):
        raw = pm.sample_smc(draws=draws, chains=chains, random_seed=seed, progressbar=progress,
                            compute_convergence_checks=False, **options)
    wall = time.perf_counter() - t0
    stats = raw["sample_stats"]
    log_ev = np.array([_final_log_evidence(stats["log_marginal_likelihood"].values[c])
                       for c in range(stats.sizes["chain"])])
    n_chain = stats.sizes["chain"]
    n_stages = np.array([int(np.isfinite(np.asarray(stats["beta"].values[c], float)).sum()) for c in range(n_chain)])
    acc_name = next((k for k in ("accept_rate", "mean_accept_rate") if k in stats), None)
    final_acc = np.array([_last_finite(stats[acc_name].values[c]) if acc_name else np.nan
                          for c in range(n_chain)], dtype=float)
    final_beta = np.array([_last_finite(stats["beta"].values[c]) for c in range(n_chain)], dtype=float)
    result = xr.DataTree()
    for name in raw.children:
        if name != "sample_stats":
            result[name] = raw[name]
    result["sample_stats"] = xr.DataTree(xr.Dataset(
        {"log_marginal_likelihood": ("chain", log_ev), "n_stages": ("chain", n_stages),
         "final_accept_rate": ("chain", final_acc), "final_beta": ("chain", final_beta)},
        coords={"chain": np.arange(log_ev.size)}))
    result.attrs["physml_backend"] = "pymc"
    diag = mcmc_diagnostics(result)
    diag["n_stages_max"] = int(n_stages.max())
    set_diagnostics(result, diag)
    undefined = undefined_reason(model)
    if undefined:
        add_free_energy(result, undefined_free_energy("smc", undefined))
        return result
    add_free_energy(result, smc_free_energy(log_ev, wall, n_stages=n_stages, draws=draws,
                                            threshold=float(options.get("threshold", 0.5)),
                                            final_accept=final_acc if acc_name else None,
                                            independent_proposal=_is_imh(options.get("kernel")),
                                            bridge=_bridge_check(model, result, seed)))
    return result


def smc_support_reason(model) -> str | None:
    """``continuous_only``, and no flat prior: SMC's first population is drawn from the prior."""
    reason = continuous_only(model)
    if reason:
        return reason
    flat = flat_prior_terms(model)
    if flat:
        return f"SMC starts from prior draws and cannot draw from an improper prior ({', '.join(flat)})"
    return None


def estimate_smc(model, result, *, seed, draws: int = 2000, chains: int = 4, **options) -> FreeEnergy:
    """SMC's evidence: read from an SMC result, or run SMC on the model for any other fit."""
    require_proper_prior(model, "SMC evidence")
    if "free_energy" in result.children and "smc" in result["free_energy"]["estimator"].values:
        from ..records import free_energies

        return next(r for r in free_energies(result) if r.estimator == "smc")
    smc_result = run_smc(model, draws=draws, tune=0, chains=chains, seed=seed, progress=False, **options)
    from ..records import free_energies

    return next(r for r in free_energies(smc_result) if r.estimator == "smc")


register_method(Method("smc", run_smc, family="smc", supports=smc_support_reason,
                       description="PyMC's tempered sequential Monte Carlo (gives the evidence)"))
register_free_energy(FreeEnergyEstimator("smc", estimate_smc, applies_to=("any",),
                                         description="SMC log marginal likelihood, mean ± se over populations"))
