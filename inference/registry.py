"""Registries that let every algorithm plug into :func:`physml.inference.fit`.

A *method* turns a PyMC model into a DataTree of draws (or a variational fit).
A *free-energy estimator* turns a model and a finished fit into a
:class:`~physml.inference.records.FreeEnergy`. Modules register themselves at
import time, so adding an algorithm never edits ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import xarray as xr


@dataclass(frozen=True)
class Method:
    """A registered inference method.

    ``run(model, *, draws, tune, chains, seed, progress, **options) -> DataTree``.
    ``supports(model) -> str | None`` returns ``None`` when the method can handle
    the model, else the reason it cannot (shown to the user in a ValueError).
    ``default_free_energy`` names the estimators run after it by default.
    """

    name: str
    run: Callable[..., xr.DataTree]
    family: str  # "mcmc" | "vi" | "smc" | "exact"
    supports: Callable[[object], str | None] = lambda model: None
    default_free_energy: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class FreeEnergyEstimator:
    """``estimate(model, result, *, seed, **options) -> FreeEnergy``.

    ``applies_to`` lists method families whose results it can use ("any" for
    estimators that run their own sampling, such as thermodynamic integration).
    """

    name: str
    estimate: Callable
    applies_to: tuple[str, ...] = ("any",)
    description: str = ""


METHODS: dict[str, Method] = {}
FREE_ENERGY_ESTIMATORS: dict[str, FreeEnergyEstimator] = {}


def register_method(method: Method) -> Method:
    METHODS[method.name] = method
    return method


def register_free_energy(estimator: FreeEnergyEstimator) -> FreeEnergyEstimator:
    FREE_ENERGY_ESTIMATORS[estimator.name] = estimator
    return estimator
