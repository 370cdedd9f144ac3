r"""Random binary RBMs and brute-force sums over every (v, h) for the RBM tests (not a test module).

:math:`E(v, h) = -v^\top W h - a^\top v - b^\top h`; :math:`\ln Z = \ln\sum_{v,h} e^{-E}` and
:math:`\ln p(v) = \ln\sum_h e^{-E(v,h)} - \ln Z` by summing the full joint table, without the
library's one-layer-in-closed-form enumeration.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import logsumexp


def random_rbm(n_visible, n_hidden, rng_seed, scale=1.0):
    """(W, a, b) with N(0, scale²) weights and N(0, 1) biases."""
    rng = np.random.default_rng(rng_seed)
    return (scale * rng.standard_normal((n_visible, n_hidden)), rng.standard_normal(n_visible),
            rng.standard_normal(n_hidden))


def all_states(n):
    """All 2^n binary rows, unit 0 the most significant bit (row k is the binary expansion of k)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def log_joint_table(W, a, b):
    """ln e^{-E(v, h)} for every (v, h): shape (2^n_visible, 2^n_hidden)."""
    vs, hs = all_states(W.shape[0]), all_states(W.shape[1])
    return vs @ W @ hs.T + (vs @ a)[:, None] + (hs @ b)[None, :]


def brute_force_log_z(W, a, b):
    return float(logsumexp(log_joint_table(W, a, b)))


def brute_force_mean_log_likelihood(data, W, a, b):
    """(1/N) Σ_n ln p(v_n) from the full joint table."""
    table = log_joint_table(W, a, b)
    log_p_visible = logsumexp(table, axis=1) - logsumexp(table)
    data = np.asarray(data)
    codes = data.astype(np.int64) @ (1 << np.arange(data.shape[1] - 1, -1, -1))
    return float(log_p_visible[codes].mean())
