r"""Is the evidence defined?  Improper and unnormalised prior terms of a PyMC model.

The evidence is :math:`Z = p(y) = \int p(y\mid\theta)\,p(\theta)\,d\theta` with a *normalised* prior,
:math:`\int p(\theta)\,d\theta = 1`.  With a prior known only up to a factor, :math:`c\,\tilde p(\theta)`,
every estimator returns :math:`\int p(y\mid\theta)\,\tilde p(\theta)\,d\theta = Z / c`: the free energy
:math:`-\ln Z` is shifted by :math:`\ln c`, an arbitrary constant, so no number may be reported.
Two kinds of prior term make that happen:

* ``pm.Flat`` / ``pm.HalfFlat`` on a free variable (detected by the variable's random-variable op,
  :class:`~pymc.distributions.continuous.FlatRV` / ``HalfFlatRV``): log density 0 on an infinite
  range, :math:`c = \infty`, so the "evidence" depends on the parametrisation's arbitrary unit.
* a ``pm.Potential`` that is a *prior factor*: :math:`\tilde p(\theta) = p_0(\theta)\,e^{\phi(\theta)}`
  with unknown :math:`c = 1/\int p_0 e^{\phi}\,d\theta`.

The rule for Potentials (physml counts them as likelihood terms otherwise, tempered with the data as in
PyMC's SMC; see :mod:`.model_density`):

1. a Potential whose graph reaches *data* — an observed variable, its observed values, or a ``pm.Data``
   container (the traversal stops at free variables, so data that only parametrise a prior do not count)
   — is a likelihood term;
2. a Potential that reaches no free variable is a known constant and is kept as it is;
3. a Potential of free variables only, in a model that has data (observed variables or a Potential of
   rule 1), is a prior factor of unknown normalisation: the evidence is undefined;
4. in a model without any data the Potentials *are* the energy, :math:`Z = \int p_0(\theta)
   e^{\phi(\theta)} d\theta` is the partition function of the Boltzmann distribution relative to the
   proper base measure :math:`p_0` (the Ising models), and it is defined.

A likelihood written as a Potential with its data as NumPy constants beside observed variables falls
under rule 3: hold those data in ``pm.Data`` (or write the term as an observed ``pm.CustomDist``).
The rule reads the graph, not the modeller's intent: a ``pm.Data`` container that only scales a prior
Potential counts as data, so such a prior factor is taken for a likelihood term and its evidence is
reported (keep prior hyperparameters as constants, or write the prior as a normalised distribution).
A free ``pm.CustomDist`` is taken at its word that its ``logp`` is normalised (PyMC's contract).
"""

from __future__ import annotations

import math

from .records import FreeEnergy

#: the note of a record whose value is undefined starts with this
UNDEFINED_NOTE_PREFIX = "undefined:"


def flat_prior_terms(model) -> list[str]:
    """``"Flat on 'x'"`` / ``"HalfFlat on 'x'"`` for each free variable with an improper flat prior."""
    from pymc.distributions.continuous import FlatRV, HalfFlatRV

    terms = []
    for rv in model.free_RVs:
        op = rv.owner.op if rv.owner is not None else None
        if isinstance(op, HalfFlatRV):
            terms.append(f"HalfFlat on {rv.name!r}")
        elif isinstance(op, FlatRV):
            terms.append(f"Flat on {rv.name!r}")
    return terms


def _reaches(potential, targets, blockers) -> bool:
    from pytensor.graph.traversal import ancestors

    return any(v in targets for v in ancestors([potential], blockers=blockers))


def unnormalised_potential_terms(model) -> list[str]:
    """``"data-free Potential 'p'"`` for each Potential that is a prior factor (rule 3 of the module)."""
    if not model.potentials:
        return []
    free = set(model.free_RVs) | {model.rvs_to_values[rv] for rv in model.free_RVs}
    data = (set(model.observed_RVs) | {model.rvs_to_values[rv] for rv in model.observed_RVs}
            | set(model.data_vars))
    blockers = list(model.free_RVs)
    touches_data = {pot: _reaches(pot, data, blockers) for pot in model.potentials}
    if not (model.observed_RVs or any(touches_data.values())):
        return []  # rule 4: the Potentials are the energy of a data-free model
    return [f"data-free Potential {pot.name!r}" for pot in model.potentials
            if not touches_data[pot] and _reaches(pot, free, blockers)]


def improper_prior_terms(model) -> list[str]:
    """Every prior term of ``model`` whose normalisation is infinite or unknown (empty: evidence defined)."""
    return flat_prior_terms(model) + unnormalised_potential_terms(model)


def undefined_reason(model) -> str | None:
    """Why the evidence of ``model`` is undefined, naming the offending terms; ``None`` if it is defined."""
    flat, potentials = flat_prior_terms(model), unnormalised_potential_terms(model)
    if not (flat or potentials):
        return None
    reason = (f"improper prior ({', '.join(flat + potentials)}) — the marginal likelihood is not defined "
              "(it depends on the arbitrary normalisation of the prior)")
    if potentials:
        reason += ("; a Potential that is a likelihood term must reach its data through pm.Data or an "
                   "observed variable")
    return reason


def require_proper_prior(model, what: str) -> None:
    """Raise ``ValueError`` if the evidence of ``model`` is undefined; ``what`` names the caller."""
    reason = undefined_reason(model)
    if reason:
        raise ValueError(f"{what} cannot run: {reason}")


def undefined_free_energy(estimator: str, reason: str) -> FreeEnergy:
    """The record that stands where ``estimator`` would have put a number: value and se NaN."""
    return FreeEnergy(value=math.nan, se=math.nan, kind="undefined", estimator=estimator,
                      note=f"{UNDEFINED_NOTE_PREFIX} {reason}")
