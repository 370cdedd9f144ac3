r"""Sequential Monte Carlo (PyMC's tempered SMC) and its evidence estimate.

SMC anneals from the prior to the posterior, :math:`p_t \propto p(y\mid\theta)^{t} p(\theta)`,
and multiplies the mean incremental weights on the way, so each chain (an
independent particle population) gives an estimate of :math:`\ln p(y)`.
The free energy is the mean over chains of :math:`-\ln \hat p(y)`; its standard
error is the spread across chains divided by :math:`\sqrt{n_\text{chains}}`.
"""

from __future__ import annotations

import math
import time


import numpy as np
import pymc as pm
import xarray as xr

from .convergence import mcmc_diagnostics
from .pymc_compat import continuous_only
from .records import FreeEnergy, add_free_energy, set_diagnostics
from .registry import FreeEnergyEstimator, Method, register_free_energy, register_method


def _final_log_evidence(stat) -> float:
    """PyMC stores one value per stage (NaN until the last); the last finite one is the estimate."""
    values = np.asarray(stat, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


def smc_free_energy(log_evidence_per_chain: np.ndarray, wall_time_s: float = float("nan")) -> FreeEnergy:
    """−mean of the per-chain log evidences, se from their spread (needs ≥ 2 chains for a se)."""
    values = np.asarray(log_evidence_per_chain, dtype=float)
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else float("nan")
    return FreeEnergy(value=-float(values.mean()), se=se, kind="estimate", estimator="smc",
                      wall_time_s=wall_time_s, note=f"{values.size} independent SMC populations")


def run_smc(model, *, draws, tune, chains, seed, progress, **options):
    """``pm.sample_smc`` with ``draws`` particles per chain; ``tune`` is unused (SMC tunes its own kernel)."""
    t0 = time.perf_counter()
    with model:
        raw = pm.sample_smc(draws=draws, chains=chains, random_seed=seed, progressbar=progress,
                            compute_convergence_checks=False, **options)
    wall = time.perf_counter() - t0
    stats = raw["sample_stats"]
    log_ev = np.array([_final_log_evidence(stats["log_marginal_likelihood"].values[c])
                       for c in range(stats.sizes["chain"])])
    n_stages = np.array([len(np.atleast_1d(stats["beta"].values[c])) for c in range(stats.sizes["chain"])])
    result = xr.DataTree()
    for name in raw.children:
        if name != "sample_stats":
            result[name] = raw[name]
    result["sample_stats"] = xr.DataTree(xr.Dataset(
        {"log_marginal_likelihood": ("chain", log_ev), "n_stages": ("chain", n_stages)},
        coords={"chain": np.arange(log_ev.size)}))
    result.attrs["physml_backend"] = "pymc"
    diag = mcmc_diagnostics(result)
    diag["n_stages_max"] = int(n_stages.max())
    set_diagnostics(result, diag)
    add_free_energy(result, smc_free_energy(log_ev, wall))
    return result





def estimate_smc(model, result, *, seed, draws: int = 2000, chains: int = 4, **options) -> FreeEnergy:
    """SMC's evidence: read from an SMC result, or run SMC on the model for any other fit."""
    if "free_energy" in result.children and "smc" in result["free_energy"]["estimator"].values:
        from .records import free_energies

        return next(r for r in free_energies(result) if r.estimator == "smc")
    smc_result = run_smc(model, draws=draws, tune=0, chains=chains, seed=seed, progress=False, **options)
    from .records import free_energies

    return next(r for r in free_energies(smc_result) if r.estimator == "smc")


register_method(Method("smc", run_smc, family="smc", supports=continuous_only,
                       description="PyMC's tempered sequential Monte Carlo (gives the evidence)"))
register_free_energy(FreeEnergyEstimator("smc", estimate_smc, applies_to=("any",),
                                         description="SMC log marginal likelihood, mean ± se over populations"))
