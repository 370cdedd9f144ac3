"""``fit(model, method, ...)``: one entry point for every inference method in physml."""

from __future__ import annotations

import json
import time
from numbers import Integral

import xarray as xr

from .draw_checks import FitWarning, refuse_discrete, warn_about_draws
from .log_likelihood import add_log_likelihood, add_observed_data
from .priors import undefined_free_energy, undefined_reason
from .records import add_free_energy, diagnostics, free_energies, netcdf_safe
from .registry import FREE_ENERGY_ESTIMATORS, METHODS

__all__ = ["fit", "fit_info", "FitWarning", "IDATA_KWARGS"]

#: the ``idata_kwargs`` keys that ``fit`` applies (for every method and backend)
IDATA_KWARGS = ("log_likelihood",)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_estimators(estimators: tuple[str, ...], spec) -> None:
    for name in estimators:
        if name not in FREE_ENERGY_ESTIMATORS:
            raise ValueError(f"free_energy must name estimators from {sorted(FREE_ENERGY_ESTIMATORS)}, got {name!r}")
        allowed = FREE_ENERGY_ESTIMATORS[name].applies_to
        if "any" not in allowed and spec.family not in allowed:
            raise ValueError(f"free-energy estimator {name!r} needs a fit of family {allowed}, "
                             f"but {spec.name!r} is {spec.family!r}")


def _estimator_names(free_energy, spec) -> tuple[str, ...]:
    if free_energy is None:
        return tuple(spec.default_free_energy)
    if isinstance(free_energy, str):  # one name, not its letters
        return (free_energy,)
    try:
        names = tuple(free_energy)
    except TypeError:
        raise ValueError(f"free_energy must be an estimator name or a tuple of names, got {free_energy!r}") from None
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"free_energy must be an estimator name or a tuple of names, got {free_energy!r}")
    return names


def _log_likelihood_request(idata_kwargs, model):
    """``idata_kwargs`` → False (no group) or the observed names (None: all); unknown keys are refused."""
    idata_kwargs = {} if idata_kwargs is None else idata_kwargs
    if not isinstance(idata_kwargs, dict):
        raise ValueError(f"idata_kwargs must be a dict, got {idata_kwargs!r}")
    unknown = sorted(set(idata_kwargs) - set(IDATA_KWARGS))
    if unknown:
        raise ValueError(f"idata_kwargs supports only {IDATA_KWARGS} (observed_data is always stored), got {unknown}")
    request = idata_kwargs.get("log_likelihood", True)
    if isinstance(request, (bool, type(None))):
        return None if request in (True, None) else False
    observed = [rv.name for rv in model.observed_RVs]
    names = (request,) if isinstance(request, str) else tuple(request)
    if not names or not set(names) <= set(observed):
        raise ValueError(f"idata_kwargs['log_likelihood'] must be a bool or names from {observed}, got {request!r}")
    return names


def _arviz_groups_and_warnings(result, model, spec, log_lik) -> None:
    """``observed_data`` and ``log_likelihood`` as ``pm.sample`` stores them; pm.sample's warnings."""
    if log_lik is False:
        add_observed_data(result, model)
    else:
        add_log_likelihood(result, model, log_lik)
    if spec.family in ("mcmc", "smc"):
        warn_about_draws(spec.name, diagnostics(result))


def fit(model, method: str, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
        progress: bool = False, free_energy: tuple[str, ...] | str | None = None,
        free_energy_options: dict[str, dict] | None = None, idata_kwargs: dict | None = None,
        **options) -> xr.DataTree:
    """Fit ``model`` (a ``pymc.Model``) with ``method`` and return one self-contained DataTree.

    Parameters
    ----------
    method : one of ``physml.inference.METHODS`` (``nuts``, ``metropolis``, ``smc``,
        ``advi``, ``fullrank_advi`` and the physics samplers).
    draws, tune, chains : sizes (draws ≥ 1, tune ≥ 0, chains ≥ 1). For VI, ``draws``
        is the number of draws taken from the fitted approximation.
    seed : the only source of randomness: the same seed gives the same numbers.
    free_energy : names of estimators in ``FREE_ENERGY_ESTIMATORS`` to run after the
        fit (default: the method's own, e.g. −ELBO for VI, SMC's evidence for SMC); one name
        may be given as a string.  One that needs continuous free variables (bridge, TI, AIS,
        BDMC, PSIS, SMC) on a model with discrete ones is refused before sampling.
    idata_kwargs : as ``pm.sample``'s, for every method and backend; only ``log_likelihood``
        (default True: the pointwise ``log_likelihood`` group; False, or observed names) is applied,
        other keys raise ``ValueError``.
    options : passed to the method (e.g. ``backend="pymc"`` for NUTS).

    The result holds the posterior, sample stats, ``diagnostics``, ``free_energy``
    (−ln Z in nats with se and kind) and, for VI, the −ELBO history and the
    variational parameters; ``attrs`` record method, backend, seed, settings and
    wall time. It round-trips through ``to_netcdf`` / ``xarray.open_datatree``.
    Fits of models with observed variables carry ``observed_data`` and the pointwise
    ``log_likelihood`` (:mod:`.log_likelihood`: chunked, skipped with a note in
    ``attrs["physml_log_likelihood"]`` above a size cap), so ``arviz_stats.loo`` / ``compare`` work.

    MCMC and SMC fits warn (:class:`FitWarning`, one line with a hint) on divergences, R-hat > 1.01
    and bulk ESS < 100 per chain (:mod:`.draw_checks`), as ``pm.sample`` does.

    Improper prior (``pm.Flat``, ``pm.HalfFlat``, a data-free ``pm.Potential`` beside data; the rule
    is in :mod:`.priors`): the evidence is undefined.  The posterior is fitted as usual, but an
    explicit ``free_energy=(...)`` raises ``ValueError`` (before fitting) naming the terms, and
    every default estimator and the method's own record (−ELBO, SMC's evidence) is stored as a
    record of kind ``undefined`` with value NaN and a note starting ``undefined:``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    draws = _check_count("draws", draws, 1)
    tune = _check_count("tune", tune, 0)
    chains = _check_count("chains", chains, 1)
    seed = _check_count("seed", seed, 0)
    spec = METHODS[method]
    reason = spec.supports(model)
    if reason:
        raise ValueError(f"method {method!r} cannot fit this model: {reason}")
    estimators = _estimator_names(free_energy, spec)
    _check_estimators(estimators, spec)
    refuse_discrete(model, estimators)
    log_lik = _log_likelihood_request(idata_kwargs, model)
    undefined = undefined_reason(model)
    if undefined and free_energy is not None and estimators:
        raise ValueError(f"free_energy={estimators!r} cannot run: {undefined}")

    t0 = time.perf_counter()
    result = spec.run(model, draws=draws, tune=tune, chains=chains, seed=seed, progress=progress, **options)
    wall = time.perf_counter() - t0
    settings = {"draws": draws, "tune": tune, "chains": chains, **options}
    if idata_kwargs:
        settings["idata_kwargs"] = idata_kwargs
    result.attrs.update({
        "physml_method": method, "physml_family": spec.family,
        "physml_backend": str(options.get("backend", result.attrs.get("physml_backend", "default"))),
        "physml_seed": seed, "physml_settings": json.dumps(settings, default=str),
        "physml_wall_time_s": wall,
    })
    _arviz_groups_and_warnings(result, model, spec, log_lik)
    if undefined:  # no number at all: the method's own records and the default estimators say why
        for name in [r.estimator for r in free_energies(result)] + list(estimators):
            add_free_energy(result, undefined_free_energy(name, undefined))
        return netcdf_safe(result)
    free_energy_options = free_energy_options or {}
    for name in estimators:
        record = FREE_ENERGY_ESTIMATORS[name].estimate(model, result, seed=seed, **free_energy_options.get(name, {}))
        add_free_energy(result, record)
    return netcdf_safe(result)


def fit_info(result: xr.DataTree) -> dict:
    """Method, family, backend, seed, settings and wall time recorded by :func:`fit`."""
    a = result.attrs
    return {"method": a.get("physml_method"), "family": a.get("physml_family"),
            "backend": a.get("physml_backend"), "seed": a.get("physml_seed"),
            "settings": json.loads(a.get("physml_settings", "{}")), "wall_time_s": a.get("physml_wall_time_s")}
