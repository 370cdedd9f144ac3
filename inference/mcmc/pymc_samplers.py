"""PyMC's own MCMC behind ``fit``: NUTS (nutpie by default, PyMC's as ``backend="pymc"``, nutpie over a JAX
log density as ``backend="jax"``, :mod:`.jax_backend`) and Metropolis."""

from __future__ import annotations

import numpy as np
import pymc as pm

from ..convergence import mcmc_diagnostics
from ..pymc_compat import compiled_nutpie, continuous_only
from ..records import set_diagnostics
from ..registry import Method, register_method
from .jax_backend import compiled_nutpie_jax

NUTS_BACKENDS = ("nutpie", "pymc", "jax")


def run_nuts(model, *, draws, tune, chains, seed, progress, backend: str = "nutpie", **options):
    """No-U-Turn sampling. nutpie's compiled model (numba, or JAX for ``backend="jax"``) is cached per model,
    so seeds and re-runs reuse it; every backend gives the same DataTree layout."""
    if backend not in NUTS_BACKENDS:
        raise ValueError(f"backend must be one of {NUTS_BACKENDS}, got {backend!r}")
    if backend in ("nutpie", "jax"):
        import nutpie

        compiled = compiled_nutpie(model) if backend == "nutpie" else compiled_nutpie_jax(model)
        result = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                               progress_bar=progress, save_warmup=False, **options)
    else:
        with model:
            result = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=progress,
                               nuts_sampler="pymc", compute_convergence_checks=False, **options)
    result.attrs["physml_backend"] = backend
    set_diagnostics(result, mcmc_diagnostics(result))
    return result


def run_metropolis(model, *, draws, tune, chains, seed, progress, **options):
    """PyMC's adaptive random-walk Metropolis (and its discrete steps for discrete variables)."""
    with model:
        result = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=progress,
                           step=pm.Metropolis(), compute_convergence_checks=False, **options)
    result.attrs["physml_backend"] = "pymc"
    with np.errstate(invalid="ignore", divide="ignore"):  # a discrete variable stuck at one value: R-hat nan
        set_diagnostics(result, mcmc_diagnostics(result))
    return result


register_method(Method("nuts", run_nuts, family="mcmc", supports=continuous_only, default_free_energy=("bridge",),
                       description="No-U-Turn HMC (nutpie; backend='pymc' for PyMC's own, 'jax' for JAX)"))
register_method(Method("metropolis", run_metropolis, family="mcmc",
                       description="PyMC's random-walk Metropolis"))
