r"""Exact enumeration for binary restricted Boltzmann machines.

A binary RBM with visible units :math:`v\in\{0,1\}^{n_v}`, hidden units
:math:`h\in\{0,1\}^{n_h}`, weights :math:`W\in\mathbb{R}^{n_v\times n_h}` and
biases :math:`a\in\mathbb{R}^{n_v}`, :math:`b\in\mathbb{R}^{n_h}` has

.. math::

    E(v, h) = -v^\top W h - a^\top v - b^\top h, \qquad
    Z = \sum_{v,h} e^{-E(v,h)}.

Summing one layer analytically leaves a sum over the *other* layer only:

.. math::

    \ln Z = \operatorname{logsumexp}_h\Big[b^\top h + \sum_i \operatorname{softplus}(a_i + (W h)_i)\Big]
          = \operatorname{logsumexp}_v\Big[a^\top v + \sum_j \operatorname{softplus}(b_j + (W^\top v)_j)\Big],

so enumerating the smaller layer costs :math:`2^{\min(n_v, n_h)}` terms. The same
enumeration gives the exact model expectations needed by the gradient of the
log-likelihood.

This module works on plain arrays and never validates beyond shapes; the public,
validating entry point is :func:`physml.models.rbm.log_partition_exact`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp

from ..enumeration import binary_state_blocks, binary_states

MAX_ENUMERATED_UNITS = 20
_CHUNK = 1 << 14


def all_binary_states(n_units: int) -> np.ndarray:
    r"""All :math:`2^{n}` binary vectors of length ``n_units`` as a ``(2**n, n)`` float array.

    Row ``k`` is the binary expansion of ``k`` with unit 0 as the most significant bit.
    """
    return binary_states(n_units, msb_first=True).astype(float)


def _state_chunks(n_units: int):
    return (b.astype(float) for b in binary_state_blocks(n_units, _CHUNK, msb_first=True))


def _layer_log_weights(states, W_out, bias_in, bias_out):
    r""":math:`\ln \sum_{x} e^{-E(s, x)} = \text{bias\_in}^\top s + \sum \operatorname{softplus}(\text{bias\_out} + s W_\text{out})`."""
    return states @ bias_in + np.logaddexp(0.0, bias_out + states @ W_out).sum(axis=1)


def log_partition_enumerate(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Exact :math:`\\ln Z` by enumerating the smaller layer in chunks (no validation)."""
    W = np.asarray(W, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n_visible, n_hidden = W.shape
    if n_hidden <= n_visible:
        n_enum, W_out, bias_in, bias_out = n_hidden, W.T, b, a
    else:
        n_enum, W_out, bias_in, bias_out = n_visible, W, a, b
    parts = [logsumexp(_layer_log_weights(s, W_out, bias_in, bias_out)) for s in _state_chunks(n_enum)]
    return float(logsumexp(parts))


def model_expectations(W: np.ndarray, a: np.ndarray, b: np.ndarray):
    r"""Exact :math:`\langle v h^\top\rangle`, :math:`\langle v\rangle`, :math:`\langle h\rangle` and :math:`\ln Z`.

    Enumerating the hidden layer (when it is the smaller one),

    .. math::

        p(h) = e^{b^\top h + \sum_i \operatorname{softplus}(a_i + (Wh)_i) - \ln Z},\quad
        \langle v h^\top \rangle = \sum_h p(h)\, \sigma(a + W h)\, h^\top,

    and symmetrically when the visible layer is enumerated.

    Returns ``(E_vh, E_v, E_h, log_z)``.
    """
    W = np.asarray(W, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n_visible, n_hidden = W.shape
    enumerate_hidden = n_hidden <= n_visible
    if enumerate_hidden:
        n_enum, W_out, bias_in, bias_out = n_hidden, W.T, b, a
    else:
        n_enum, W_out, bias_in, bias_out = n_visible, W, a, b
    log_z = log_partition_enumerate(W, a, b)
    # s: enumerated layer, x: summed layer with conditional means sigma(bias_out + s W_out)
    E_sx = np.zeros((n_enum, W_out.shape[1]))
    E_s = np.zeros(n_enum)
    E_x = np.zeros(W_out.shape[1])
    for s in _state_chunks(n_enum):
        p = np.exp(_layer_log_weights(s, W_out, bias_in, bias_out) - log_z)
        mean_x = expit(bias_out + s @ W_out)
        E_sx += (s * p[:, None]).T @ mean_x
        E_s += p @ s
        E_x += p @ mean_x
    if enumerate_hidden:  # s = h, x = v
        return E_sx.T, E_x, E_s, log_z
    return E_sx, E_s, E_x, log_z


def free_energy(v: np.ndarray, W: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Free energy :math:`F(v) = -a^\top v - \sum_j \operatorname{softplus}(b_j + (W^\top v)_j)` row-wise."""
    v = np.asarray(v, dtype=float)
    return -(v @ a) - np.logaddexp(0.0, b + v @ W).sum(axis=-1)


def mean_log_likelihood(data: np.ndarray, W, a, b, log_z: float | None = None) -> float:
    r"""Exact average log-likelihood :math:`\frac1N\sum_n [-F(v_n)] - \ln Z`."""
    if log_z is None:
        log_z = log_partition_enumerate(W, a, b)
    return float(-free_energy(data, W, a, b).mean() - log_z)


def exact_log_likelihood_gradient(data: np.ndarray, W, a, b):
    r"""Gradient of the exact average log-likelihood.

    .. math::

        \frac{\partial \bar\ell}{\partial W} = \langle v\,\sigma(b + W^\top v)^\top\rangle_\text{data}
            - \langle v h^\top\rangle_\text{model},\quad
        \frac{\partial \bar\ell}{\partial a} = \langle v\rangle_\text{data} - \langle v\rangle_\text{model},\quad
        \frac{\partial \bar\ell}{\partial b} = \langle \sigma(b + W^\top v)\rangle_\text{data} - \langle h\rangle_\text{model}.

    Returns ``(dW, da, db, mean_log_likelihood)``.
    """
    data = np.asarray(data, dtype=float)
    ph = expit(b + data @ W)
    E_vh, E_v, E_h, log_z = model_expectations(W, a, b)
    n = data.shape[0]
    dW = data.T @ ph / n - E_vh
    da = data.mean(axis=0) - E_v
    db = ph.mean(axis=0) - E_h
    ll = float(-free_energy(data, W, a, b).mean() - log_z)
    return dW, da, db, ll


__all__ = [
    "MAX_ENUMERATED_UNITS",
    "all_binary_states",
    "log_partition_enumerate",
    "model_expectations",
    "free_energy",
    "mean_log_likelihood",
    "exact_log_likelihood_gradient",
]
