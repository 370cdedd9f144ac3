r"""Any PyMC model with observed data: the comparison report of :func:`physml.compare` for one model.

The free energy is :math:`F = -\ln p(y) = -\ln \int p(y \mid \theta)\, p(\theta)\, d\theta` (nats); with
``pm.Potential`` terms that touch the data the integrand is the model's whole density,
:math:`p(y \mid \theta)\, p(\theta)\, e^{\sum_k \phi_k(\theta)}`, so "−ln p(data)" includes the potentials.

What runs (sizes of the built-in regression analysis, :func:`physml.analyses.regression.plans`):

* every method of ``methods`` (default ``nuts, advi, fullrank_advi, smc``) through
  :func:`~physml.analyses.bayes_report.run_and_report` (the report of every Bayesian model);
* the free-energy estimators ``free_energy`` (default bridge sampling, TI, AIS) after the NUTS fit;
  VI adds its −ELBO and PSIS-IS, SMC its own evidence;
* the posterior reference: the user's :class:`~physml.models.reference.Reference` or reference draws, or
  else a **NUTS long run** (``REFERENCE_DRAWS_FACTOR`` × the NUTS draws, 4 chains, another seed); its
  own R-hat / ESS / divergences are listed under Warnings.  Without an exact free energy every estimate is
  shown against the consensus of the unflagged ones (:mod:`.consensus`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from numbers import Real
from pathlib import Path

import xarray as xr

from ..inference import FREE_ENERGY_ESTIMATORS, fit
from ..models.reference import Reference
from .bayes_report import MethodPlan, run_and_report
from .common import Progress
from .regression import plans as regression_plans
from .settings import check_methods
from .warnings import diagnostic_warnings, fit_diagnostics

DEFAULT_METHODS = ("nuts", "advi", "fullrank_advi", "smc")
DEFAULT_FREE_ENERGY = ("bridge", "ti", "ais")
REFERENCE_DRAWS_FACTOR = 4
REFERENCE_CHAINS = 4
SEED_MAX = 2**32 - 1


def check_model(model, argument: str = "model") -> None:
    """A ``pm.Model`` with observed data (ValueError naming ``argument`` otherwise)."""
    import pymc as pm

    if not isinstance(model, pm.Model):
        raise ValueError(f"{argument} must be a pymc.Model, got {type(model).__name__}")
    if not model.observed_RVs:
        raise ValueError(f"{argument} has no observed data (no variable with observed=...): there is no "
                         "likelihood to compare methods on, and no evidence p(data)")
    if not model.free_RVs:
        raise ValueError(f"{argument} has no free variables: there is nothing to fit")


def free_energy_names(free_energy) -> tuple[str, ...]:
    """``free_energy`` (a name, a tuple of names, or None for the default) as names of estimators that run
    after a NUTS fit (ValueError naming the argument otherwise)."""
    if free_energy is None:
        return DEFAULT_FREE_ENERGY
    names = (free_energy,) if isinstance(free_energy, str) else free_energy
    try:
        names = tuple(names)
    except TypeError:
        raise ValueError(f"free_energy must be an estimator name or a tuple of names, got {free_energy!r}") from None
    usable = sorted(n for n, e in FREE_ENERGY_ESTIMATORS.items() if {"any", "mcmc"} & set(e.applies_to))
    for name in names:
        if name not in usable:
            raise ValueError(f"free_energy must name estimators that run after NUTS, from {usable}, got {name!r}")
    return names


def method_plans(model, methods, quick: bool, free_energy: tuple[str, ...]) -> list[MethodPlan]:
    """One plan per method: the regression analysis's sizes, NUTS carrying ``free_energy``."""
    methods = check_methods(list(methods), model)
    out = []
    for plan in regression_plans(methods, quick):
        if plan.method == "nuts":
            options = {k: v for k, v in plan.free_energy_options.items() if k in free_energy}
            plan = replace(plan, free_energy=free_energy, free_energy_options=options)
        out.append(plan)
    return out


def check_reference(reference, argument: str = "reference"):
    """None, an exact free energy (finite float, nats), a Reference, or a DataTree of reference draws."""
    if reference is None or isinstance(reference, Reference):
        return reference
    if isinstance(reference, xr.DataTree):
        if "posterior" not in reference.children:
            raise ValueError(f"{argument} must be a DataTree with a posterior group (reference draws)")
        return reference
    if isinstance(reference, Real) and not isinstance(reference, bool) and math.isfinite(reference):
        return float(reference)
    raise ValueError(f"{argument} must be None, an exact −ln p(data) (finite float, nats), a Reference or a "
                     f"DataTree of reference draws, got {reference!r}")


def nuts_reference_run(model, plans: list[MethodPlan], seed: int) -> xr.DataTree:
    """The NUTS long run: ``REFERENCE_DRAWS_FACTOR`` × the NUTS plan's draws (or the quick size), 4 chains."""
    nuts = next((p for p in plans if p.method == "nuts"), None) or regression_plans(["nuts"], True)[0]
    return fit(model, "nuts", draws=REFERENCE_DRAWS_FACTOR * nuts.draws, tune=nuts.tune, chains=REFERENCE_CHAINS,
               seed=(seed + 1) % (SEED_MAX + 1), free_energy=(), idata_kwargs={"log_likelihood": False})


def resolve_reference(reference, model, plans: list[MethodPlan], seed: int, say) -> tuple[Reference, list[str]]:
    """The report's Reference (draws of a NUTS long run where none are given) and Warnings about it."""
    if isinstance(reference, Reference) and reference.posterior is not None:
        return reference, []
    if isinstance(reference, xr.DataTree):
        return Reference(source="reference draws given to physml.compare", posterior=reference), []
    say("NUTS long run (the posterior reference)")
    draws = nuts_reference_run(model, plans, seed)
    size = f"{draws['posterior'].sizes['chain']} × {draws['posterior'].sizes['draw']} draws"
    warnings = diagnostic_warnings("NUTS reference run", fit_diagnostics(draws))
    if isinstance(reference, Reference):
        return replace(reference, posterior=draws, source=f"{reference.source}; posterior: NUTS long run ({size})"), warnings
    exact = reference if isinstance(reference, float) else None
    source = (f"exact −ln p(data) given to physml.compare; posterior: NUTS long run ({size})" if exact is not None
              else f"NUTS long run ({size})")
    return Reference(source=source, free_energy=exact, posterior=draws), warnings


def potential_note(model) -> str | None:
    """What −ln p(data) means when the model has ``pm.Potential`` terms (None without them)."""
    if not model.potentials:
        return None
    names = ", ".join(repr(p.name) for p in model.potentials)
    return (f"This model has pm.Potential terms ({names}): −ln p(data) here is −ln ∫ p(y | θ) p(θ) e^(Σ potentials) dθ, "
            "so it includes the potentials (a Potential that touches the data counts as a likelihood term; "
            "one of free variables only, beside data, leaves the evidence undefined: physml.inference.priors).")


def default_var_names(model) -> list[str]:
    """Free variables and deterministics: the parameters the posterior table and figures show."""
    return [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]


def describe(model) -> str:
    """One line about the model: its free variables and observed data."""
    free = ", ".join(v.name for v in model.free_RVs)
    observed = ", ".join(f"{v.name} ({int(model.rvs_to_values[v].size.eval())} values)" for v in model.observed_RVs)
    return f"Free variables: {free}. Observed: {observed}."


def run(model, out_dir: Path, *, name: str, plans: list[MethodPlan], reference, var_names: list[str] | None,
        seed: int, progress: bool, settings: dict) -> dict:
    """Fit ``plans`` on a checked model and write its report into ``out_dir`` (arguments already checked)."""
    say = Progress(name, progress)
    reference, reference_warnings = resolve_reference(reference, model, plans, seed, say)
    note = potential_note(model)
    intro = ("A PyMC model fitted by several methods and compared: every free-energy estimate of "
             "F = −ln p(data) (nats) and every posterior against the reference. " + describe(model))
    summary_extra = {"free_energy_includes_potentials": [p.name for p in model.potentials]}

    def potentials_section(fits, report):
        if note:
            report.section("What −ln p(data) includes", note)
        return summary_extra

    return run_and_report(model_name=name, title=f"{name}: methods compared", intro=intro, model=model,
                          reference=reference, plans=plans, var_names=var_names or default_var_names(model),
                          settings=settings, out_dir=Path(out_dir), seed=seed, progress=progress,
                          extra_section=potentials_section,
                          extra_warnings=lambda fits: reference_warnings)
