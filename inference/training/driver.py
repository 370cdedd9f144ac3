r"""The training loop: any objective, any update rule, a history of what the caller observes.

An :class:`Objective` maps the parameters (R replicas) to their per-replica loss, gradient and metrics
(train / test accuracy, …); an :class:`Update` maps ``(state, params, grad)`` to new parameters and state
(:func:`adamw_update`, :func:`langevin_update`). :func:`train` runs ``steps`` of

.. math:: g_t = \nabla L(w_{t-1}), \qquad (w_t, s_t) = \mathrm{update}(s_{t-1}, w_{t-1}, g_t),

and records the loss, the metrics and ``observe(w)`` (order parameters) every ``record_every`` steps,
at steps 0, k, 2k, … (the metrics at step t belong to :math:`w_t`, before its update).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from .adamw import adamw_init, adamw_step
from .langevin import langevin_step
from .tree import leaves, per_replica, rebuild

__all__ = ["Objective", "Update", "TrainingHistory", "train", "adamw_update", "langevin_update"]


class Objective(Protocol):
    """``objective(params) -> (loss (R,), grad like params, {metric: (R,) array})``."""

    def __call__(self, params) -> tuple[np.ndarray, object, dict[str, np.ndarray]]: ...


class Update(NamedTuple):
    """An update rule: ``init(params) -> state`` and ``step(state, params, grad) -> (params, state)``."""

    init: Callable
    step: Callable


class TrainingHistory(NamedTuple):
    """``steps`` (n,), ``records`` {name: (n, R)} (``loss``, the objective's metrics, the observed ones),
    and the final ``params``."""

    steps: np.ndarray
    records: dict[str, np.ndarray]
    params: object


def train(objective: Objective, params, update: Update, *, steps: int, record_every: int,
          observe: Callable[[object], dict[str, np.ndarray]] | None = None,
          stop: Callable[[dict[str, np.ndarray]], bool] | None = None) -> TrainingHistory:
    """Run ``steps`` updates, recording every ``record_every`` steps (and the last); ``stop(record)`` may end
    the run early at a recorded step (e.g. once every replica generalises)."""
    if steps < 1 or record_every < 1:
        raise ValueError(f"steps and record_every must be >= 1, got {steps}, {record_every}")
    state = update.init(params)
    at, rows = [], []
    for t in range(steps + 1):
        loss, grad, metrics = objective(params)
        if t % record_every == 0 or t == steps:
            row = {"loss": np.asarray(loss, dtype=float), **metrics, **(observe(params) if observe else {})}
            at.append(t)
            rows.append(row)
            if stop is not None and stop(row):
                break
        if t < steps:
            params, state = update.step(state, params, grad)
    records = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return TrainingHistory(np.asarray(at), records, params)


def adamw_update(*, lr: float, weight_decay=0.0, b1: float = 0.9, b2: float = 0.98) -> Update:
    """AdamW (:mod:`.adamw`) with decoupled ``weight_decay`` (scalar or one per replica)."""
    def step(state, params, grad):
        return adamw_step(state, params, grad, lr=lr, weight_decay=weight_decay, b1=b1, b2=b2)
    return Update(adamw_init, step)


def langevin_update(*, step_size: float, temperature, weight_decay, rng: np.random.Generator) -> Update:
    r"""Langevin (:mod:`.langevin`) on :math:`U = L + \tfrac{\lambda}{2}\lVert w \rVert^2`: the decay enters the
    gradient; ``temperature`` and ``weight_decay`` scalars or one per replica; the state is unused."""
    def step(state, params, grad):
        full = [g + per_replica(weight_decay, w) * w for g, w in zip(leaves(grad), leaves(params), strict=True)]
        return langevin_step(params, rebuild(params, full), rng, step_size=step_size, temperature=temperature), state
    return Update(lambda params: None, step)
