r"""Block Gibbs sampling for binary restricted Boltzmann machines.

Given one layer the units of the other are independent (the RBM's factorised,
exact "mean field"):

.. math::

    p(h_j = 1 \mid v) = \sigma\big(\beta (b_j + (W^\top v)_j)\big), \qquad
    p(v_i = 1 \mid h) = \sigma\big((1-\beta)\, a^{0}_i + \beta (a_i + (W h)_i)\big).

With :math:`\beta = 1` (default) this is the RBM itself. With :math:`\beta\in[0,1]`
and a base visible bias :math:`a^0` it is the Gibbs kernel of the annealing path

.. math::

    p_\beta(v, h) \propto \exp\big[(1-\beta)\, a^{0\top} v + \beta(a^\top v + b^\top h + v^\top W h)\big]

used by Salakhutdinov–Murray AIS (:mod:`physml.inference.rbm.ais`).

The kernel is pure given the random generator: ``init`` builds a
:class:`GibbsState` and ``step`` returns a new one. Arrays are vectorised over
independent chains (first axis).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit


class GibbsState(NamedTuple):
    """State of ``n_chains`` block-Gibbs chains: ``visible`` (n_chains, n_v), ``hidden`` (n_chains, n_h)."""

    visible: np.ndarray
    hidden: np.ndarray


def hidden_probabilities(visible, W, b, beta: float = 1.0) -> np.ndarray:
    r""":math:`p(h_j=1\mid v) = \sigma(\beta(b_j + (W^\top v)_j))`, row-wise."""
    return expit(beta * (b + np.asarray(visible, dtype=float) @ W))


def visible_probabilities(hidden, W, a, beta: float = 1.0, base_visible_bias=None) -> np.ndarray:
    r""":math:`p(v_i=1\mid h) = \sigma((1-\beta)a^0_i + \beta(a_i + (W h)_i))`, row-wise."""
    field = beta * (a + np.asarray(hidden, dtype=float) @ W.T)
    if base_visible_bias is not None and beta != 1.0:
        field = field + (1.0 - beta) * base_visible_bias
    return expit(field)


def _bernoulli(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(p.shape) < p).astype(float)


def init(visible, W, b, rng: np.random.Generator, beta: float = 1.0) -> GibbsState:
    """Start chains at ``visible`` (n_chains, n_v) with hidden units drawn from p(h | v)."""
    visible = np.array(visible, dtype=float, ndmin=2)
    if visible.shape[1] != W.shape[0]:
        raise ValueError(f"visible must have {W.shape[0]} columns (n_visible), got {visible.shape[1]}")
    hidden = _bernoulli(hidden_probabilities(visible, W, b, beta), rng)
    return GibbsState(visible, hidden)


def step(state: GibbsState, W, a, b, rng: np.random.Generator, beta: float = 1.0,
         base_visible_bias=None) -> GibbsState:
    r"""One sweep :math:`v \to h \sim p(h\mid v) \to v' \sim p(v\mid h)`, then :math:`h' \sim p(h\mid v')`.

    Leaves :math:`p_\beta(v, h)` invariant. Returns the new state (the input is not modified).
    """
    visible = _bernoulli(visible_probabilities(state.hidden, W, a, beta, base_visible_bias), rng)
    hidden = _bernoulli(hidden_probabilities(visible, W, b, beta), rng)
    return GibbsState(visible, hidden)


def sample(W, a, b, *, n_samples: int, n_steps: int, seed, visible0=None) -> np.ndarray:
    """``n_samples`` visible vectors after ``n_steps`` sweeps of independent chains.

    Chains start from ``visible0`` (broadcast to ``n_samples`` rows) or from
    uniformly random visible vectors.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    rng = np.random.default_rng(seed)
    W = np.asarray(W, dtype=float)
    if visible0 is None:
        visible0 = (rng.random((n_samples, W.shape[0])) < 0.5).astype(float)
    else:
        visible0 = np.broadcast_to(np.asarray(visible0, dtype=float), (n_samples, W.shape[0])).copy()
    state = init(visible0, W, b, rng)
    for _ in range(n_steps):
        state = step(state, W, a, b, rng)
    return state.visible


__all__ = ["GibbsState", "hidden_probabilities", "visible_probabilities", "init", "step", "sample"]
