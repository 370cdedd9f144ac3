"""``fit(model, method, ...)``: one entry point for every inference method in physml."""

from __future__ import annotations

import json
import time
from numbers import Integral

import xarray as xr

from .priors import undefined_free_energy, undefined_reason
from .records import add_free_energy, free_energies, netcdf_safe
from .registry import FREE_ENERGY_ESTIMATORS, METHODS


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


def fit(model, method: str, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
        progress: bool = False, free_energy: tuple[str, ...] | None = None,
        free_energy_options: dict[str, dict] | None = None, **options) -> xr.DataTree:
    """Fit ``model`` (a ``pymc.Model``) with ``method`` and return one self-contained DataTree.

    Parameters
    ----------
    method : one of ``physml.inference.METHODS`` (``nuts``, ``metropolis``, ``smc``,
        ``advi``, ``fullrank_advi`` and the physics samplers).
    draws, tune, chains : sizes (draws ≥ 1, tune ≥ 0, chains ≥ 1). For VI, ``draws``
        is the number of draws taken from the fitted approximation.
    seed : the only source of randomness: the same seed gives the same numbers.
    free_energy : names of estimators in ``FREE_ENERGY_ESTIMATORS`` to run after the
        fit (default: the method's own, e.g. −ELBO for VI, SMC's evidence for SMC).
    options : passed to the method (e.g. ``backend="pymc"`` for NUTS).

    The result holds the posterior, sample stats, ``diagnostics``, ``free_energy``
    (−ln Z in nats with se and kind) and, for VI, the −ELBO history and the
    variational parameters; ``attrs`` record method, backend, seed, settings and
    wall time. It round-trips through ``to_netcdf`` / ``xarray.open_datatree``.

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
    estimators = spec.default_free_energy if free_energy is None else tuple(free_energy)
    _check_estimators(estimators, spec)
    undefined = undefined_reason(model)
    if undefined and free_energy is not None and estimators:
        raise ValueError(f"free_energy={estimators!r} cannot run: {undefined}")

    t0 = time.perf_counter()
    result = spec.run(model, draws=draws, tune=tune, chains=chains, seed=seed, progress=progress, **options)
    wall = time.perf_counter() - t0
    settings = {"draws": draws, "tune": tune, "chains": chains, **options}
    result.attrs.update({
        "physml_method": method, "physml_family": spec.family,
        "physml_backend": str(options.get("backend", result.attrs.get("physml_backend", "default"))),
        "physml_seed": seed, "physml_settings": json.dumps(settings, default=str),
        "physml_wall_time_s": wall,
    })
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
