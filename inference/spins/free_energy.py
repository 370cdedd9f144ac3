r"""Free energy −ln Z of Ising models over the coupling scale: TI, AIS and BDMC, registered for ``fit``.

The path :math:`\lambda \in [0, 1]` scales the couplings, :math:`K_e \to \lambda K_e`, with the field fixed,
from the independent-spin model (:mod:`.coupling_scale`):

.. math::

    \ln Z(0) = \sum_i \ln(2\cosh h_i), \qquad
    \frac{d\ln Z}{d\lambda} = \Big\langle \sum_e K_e s_i s_j \Big\rangle_\lambda \equiv \langle B\rangle_\lambda .

* **TI** (:mod:`.coupling_ti`, :func:`coupling_scale_ti`):
  :math:`\ln Z(1) = \ln Z(0) + \int_0^1 \langle B\rangle_\lambda d\lambda` by Simpson on the TI core of :mod:`physml.inference.evidence.thermodynamic_integration`;
* **AIS** and **BDMC** (:mod:`.coupling_ais`): the AIS engine of :mod:`physml.inference.evidence.ais` on a
  coupling-scale path (or the sublattice marginal on a periodic square lattice).

All three are registered as free-energy estimators ``ising_ti`` / ``ising_ais`` / ``ising_bdmc`` for ``fit``,
in their ``fe_tol`` versions (:func:`ti_to_tolerance` ...; :mod:`physml.inference.evidence.adaptive`): with
option ``fe_tol`` > 0 nats they re-run on a growing budget until the error is below it or ``fe_time_cap``
seconds would pass.
"""

from __future__ import annotations

from .coupling_ais import annealed_importance_sampling, bidirectional_monte_carlo
from .coupling_scale import default_sampler
from .coupling_ti import coupling_scale_ti
from .lattice import couplings_of
from ..evidence.adaptive import Knob, split_details, split_sandwich, with_tolerance
from ..evidence.thermodynamic_integration import simpson_rungs
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["coupling_scale_ti", "annealed_importance_sampling", "bidirectional_monte_carlo", "ti_to_tolerance",
           "ais_to_tolerance", "bdmc_to_tolerance", "AIS_KNOBS"]

#: ``fe_tol`` / ``fe_time_cap`` versions (:mod:`physml.inference.evidence.adaptive`): draws and runs are the Monte Carlo knobs,
#: Simpson rungs (error ∝ n^-4) and AIS temperatures (sandwich width ∝ n^-1) the bias knobs
AIS_KNOBS = (Knob("n_runs", "monte_carlo", 0.5), Knob("n_temps", "bias", 1.0))
ti_to_tolerance = with_tolerance(coupling_scale_ti, (Knob("draws", "monte_carlo", 0.5),
                                                     Knob("n_rungs", "bias", 4.0, simpson_rungs)),
                                 split_details, return_details=True)
ais_to_tolerance = with_tolerance(annealed_importance_sampling, AIS_KNOBS, split_sandwich)
bdmc_to_tolerance = with_tolerance(bidirectional_monte_carlo, AIS_KNOBS, split_sandwich)


def _on_couplings(name, estimator):
    """The registry entry of ``name``: ``estimator(couplings, seed=..., **options)`` on the model's Ising
    couplings, with the default sampler of :func:`.coupling_scale.default_sampler`."""
    def estimate(model, result=None, *, seed=0, **options) -> FreeEnergy:
        found = couplings_of(model)
        if found is None:
            raise ValueError(f"{name} needs a model with Ising couplings (physml.models.ising)")
        options.setdefault("sampler", default_sampler(found[0]))
        return estimator(found[0], seed=seed, **options)
    return estimate


for _name, _estimator, _description in (
        ("ising_ti", ti_to_tolerance, "thermodynamic integration over the Ising coupling scale"),
        ("ising_ais", ais_to_tolerance, "annealed importance sampling along the Ising coupling scale"),
        ("ising_bdmc", bdmc_to_tolerance,
         "bidirectional Monte Carlo (forward and reverse AIS) sandwich of -ln Z along the Ising coupling scale")):
    register_free_energy(FreeEnergyEstimator(name=_name, estimate=_on_couplings(_name, _estimator),
                                             applies_to=("any",), description=_description))
