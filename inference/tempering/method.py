r"""``fit(model, "parallel_tempering", ...)`` for spin models and continuous PyMC models, and the PT evidence as
free-energy estimators.

One method name serves two model types: a model carrying Ising couplings (:func:`~..spins.lattice.couplings_of`)
runs the spin PT (:func:`physml.inference.spins.tempering_fit.run_parallel_tempering`, replicas at
:math:`e^{\beta\ell(s)}`), any other PyMC model the tempered-likelihood PT (:func:`.pymc_tempering.run_tempered_pymc`,
replicas at :math:`p(\theta)p(y\mid\theta)^\beta`). Both store the free energy along their ladder
(``pt_stepping_stone``, ``pt_bar``, ``pt_ti``) when it starts at β = 0.

The estimators ``pt_stepping_stone`` / ``pt_bar`` / ``pt_ti`` (``fit(..., free_energy="pt_bar")`` after any
method, ``physml.compare(..., free_energy=(..., "pt_bar"))``): a parallel-tempering fit's own record, or, after
another method, one PT run (``draws``, ``tune``, ``chains`` and PT options as estimator options), shared by
the three estimators for the same model, seed and options.
"""

from __future__ import annotations

import json
import weakref

from ..priors import require_proper_prior
from ..records import FreeEnergy, free_energies
from ..registry import FreeEnergyEstimator, Method, register_free_energy, register_method
from ..spins.lattice import couplings_of
from ..spins.tempering_fit import run_parallel_tempering as run_spin_tempering
from .pymc_tempering import pymc_support_reason, run_tempered_pymc

__all__ = ["run_parallel_tempering", "parallel_tempering_support_reason", "PT_ESTIMATORS"]

PT_ESTIMATORS = ("pt_stepping_stone", "pt_bar", "pt_ti")
_RUNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> (key, records) of the last PT run


def parallel_tempering_support_reason(model) -> str | None:
    """None for a spin model (couplings attached) or a continuous PyMC model with data and a proper prior."""
    return None if couplings_of(model) is not None else pymc_support_reason(model)


def run_parallel_tempering(model, **kwargs):
    """The spin PT for a model with Ising couplings, the tempered-likelihood PT otherwise."""
    if couplings_of(model) is not None:
        return run_spin_tempering(model, **kwargs)
    return run_tempered_pymc(model, **kwargs)


def _pt_records(model, seed: int, options: dict) -> dict[str, FreeEnergy]:
    key = (seed, json.dumps(options, sort_keys=True, default=str))
    cached = _RUNS.get(model)
    if cached is None or cached[0] != key:
        sizes = {"draws": 1000, "tune": 1000, "chains": 4, **options}
        dt = run_parallel_tempering(model, seed=seed, progress=False, **sizes)
        cached = (key, {r.estimator: r for r in free_energies(dt)})
        _RUNS[model] = cached
    return cached[1]


def _estimator(name: str):
    def estimate(model, result, *, seed: int = 0, **options) -> FreeEnergy:
        require_proper_prior(model, f"the {name} evidence")
        own = {r.estimator: r for r in free_energies(result)} if result is not None else {}
        if name in own and result.attrs.get("physml_method") == "parallel_tempering":
            return own[name]
        records = _pt_records(model, seed, options)
        if name not in records:
            raise ValueError(f"free-energy estimator {name!r} needs a ladder starting at beta = 0 (betas[0] = 0)")
        return records[name]
    return estimate


register_method(Method(name="parallel_tempering", run=run_parallel_tempering, family="mcmc",
                       supports=parallel_tempering_support_reason,
                       description="parallel tempering (replica exchange, adapted ladder): any spin kernel, or "
                                   "random-walk Metropolis / MALA on a PyMC model's tempered likelihood"))
for _name, _what in zip(PT_ESTIMATORS, ("stepping stone", "Bennett acceptance ratio", "thermodynamic integration")):
    register_free_energy(FreeEnergyEstimator(_name, _estimator(_name), applies_to=("any",),
                                             description=f"parallel tempering from beta = 0: {_what} along the ladder"))
