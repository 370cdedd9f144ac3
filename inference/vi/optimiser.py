r"""Adam (Kingma & Ba 2015) as a pure update over an immutable state, ascending the ELBO.

With gradient :math:`g_t` at step :math:`t = 1, 2, \dots` and learning rate :math:`\eta`:

.. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

.. math:: p_t = p_{t-1} + \eta\,\frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon},

:math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.999`, :math:`\epsilon = 10^{-8}`, :math:`m_0 = v_0 = 0`.  The sign is
``+``: the gradient is that of the ELBO, which is maximised.  :func:`adam_init` and :func:`adam_step`
(blackjax/optax style: the caller owns the state).  The step index ``t`` of the bias correction is passed
by the caller: the VI driver counts steps whose draws were all invalid (no update) as well.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["AdamState", "adam_init", "adam_step"]


class AdamState(NamedTuple):
    """First and second moment estimates ``m``, ``v`` (same shape as the parameters)."""

    m: np.ndarray
    v: np.ndarray


def adam_init(params: np.ndarray) -> AdamState:
    """Zero moments for ``params``."""
    return AdamState(np.zeros_like(params), np.zeros_like(params))


def adam_step(state: AdamState, params: np.ndarray, grad: np.ndarray, lr: float, t: int,
              b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> tuple[np.ndarray, AdamState]:
    """One ascent step along ``grad`` at step ``t`` (1-based): the new parameters and the new state."""
    m = b1 * state.m + (1 - b1) * grad
    v = b2 * state.v + (1 - b2) * grad * grad
    return params + lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), AdamState(m, v)
