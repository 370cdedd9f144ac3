r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as a pure ``init`` / ``step`` pair.

With gradient :math:`g_t` of the loss at step :math:`t = 1, 2, \dots`, learning rate :math:`\eta` and weight
decay :math:`\lambda`:

.. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

.. math:: w_t = w_{t-1} - \eta\Big(\frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
          + \lambda\, w_{t-1}\Big),

:math:`m_0 = v_0 = 0`, defaults :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.98`, :math:`\epsilon = 10^{-8}` (the
grokking literature's β₂). The decay is *decoupled*: it shrinks the weights directly, not through the
adaptive denominator (where an L2 term in the loss would be rescaled per coordinate). It descends (the loss
is minimised), unlike :mod:`physml.inference.vi.optimiser`'s ascent on the ELBO.

Parameters are an array or a NamedTuple of arrays; ``weight_decay`` is a scalar or one value per leading
(replica) index, broadcast over the remaining axes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .tree import leaves, per_replica, rebuild

__all__ = ["AdamWState", "adamw_init", "adamw_step"]


class AdamWState(NamedTuple):
    """Step count ``t`` (steps taken) and the moment estimates ``m``, ``v`` (shaped like the parameters)."""

    t: int
    m: object
    v: object


def adamw_init(params) -> AdamWState:
    """Zero moments shaped like ``params``, t = 0."""
    zeros = [np.zeros_like(x, dtype=float) for x in leaves(params)]
    return AdamWState(0, rebuild(params, zeros), rebuild(params, [z.copy() for z in zeros]))


def adamw_step(state: AdamWState, params, grad, *, lr: float, weight_decay=0.0, b1: float = 0.9,
               b2: float = 0.98, eps: float = 1e-8):
    """One descent step: ``(new_params, new_state)``; nothing is modified in place."""
    t = state.t + 1
    new_w, new_m, new_v = [], [], []
    for w, g, m, v in zip(leaves(params), leaves(grad), leaves(state.m), leaves(state.v), strict=True):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        adam = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        new_w.append(w - lr * (adam + per_replica(weight_decay, w) * w))
        new_m.append(m)
        new_v.append(v)
    return rebuild(params, new_w), AdamWState(t, rebuild(params, new_m), rebuild(params, new_v))
