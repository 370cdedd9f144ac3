r"""Maximum-likelihood training of binary RBMs: exact gradient, CD-k and persistent CD.

The average log-likelihood :math:`\bar\ell(\theta) = \frac1N\sum_n[-F(v_n)] - \ln Z(\theta)`
has the gradient "data term minus model term"

.. math::

    \nabla_W \bar\ell = \big\langle v\,\sigma(b + W^\top v)^\top \big\rangle_\text{data}
                      - \langle v h^\top \rangle_\text{model}

(and likewise for :math:`a`, :math:`b`). The three learners differ only in the
model (negative) phase:

``exact``
    enumerates the smaller layer (:func:`physml.inference.rbm.exact.model_expectations`);
``cd``
    CD-k (Hinton 2002): k block-Gibbs sweeps started *at the data batch*;
``pcd``
    persistent CD (Tieleman 2008): k sweeps of persistent fantasy chains that
    are never reset.

The negative phase of CD/PCD is MCMC — free-energy minimisation needs samples
of the model. Each epoch is one pass over shuffled mini-batches with the update
:math:`\theta \leftarrow \theta + \eta\,(\hat\nabla\bar\ell - \lambda W - \lambda_1\operatorname{sign} W)`
(plus momentum; :math:`\lambda_1` is the L1 sparsity penalty used by Mehta & Schwab 2014, default 0).
The exact average log-likelihood is recorded after every epoch when the model
is small enough to enumerate, with the training wall time excluding that monitoring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from . import gibbs as rbm_gibbs
from .exact import MAX_ENUMERATED_UNITS, mean_log_likelihood, model_expectations

TRAINING_METHODS = ("exact", "cd", "pcd")


class RBMParams(NamedTuple):
    """Weights ``W`` (n_visible, n_hidden), visible biases ``a``, hidden biases ``b``."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class TrainingSettings:
    """Learning settings.

    ``method`` ∈ {"exact", "cd", "pcd"}; ``n_epochs`` ≥ 1; ``learning_rate`` > 0;
    ``k`` ≥ 1 Gibbs sweeps per update; ``batch_size`` ≥ 1 (``None``: full batch);
    ``n_persistent`` ≥ 1 PCD fantasy chains; ``weight_decay`` ≥ 0;
    ``momentum`` in [0, 1); ``l1_decay`` ≥ 0 (the L1 penalty λ₁ Σ|W_ij|, subgradient λ₁ sign W).
    """

    method: str = "cd"
    n_epochs: int = 100
    learning_rate: float = 0.1
    k: int = 1
    batch_size: int | None = None
    n_persistent: int = 100
    weight_decay: float = 0.0
    momentum: float = 0.0
    l1_decay: float = 0.0

    def __post_init__(self):
        if self.method not in TRAINING_METHODS:
            raise ValueError(f"method must be one of {TRAINING_METHODS}, got {self.method!r}")
        if int(self.n_epochs) != self.n_epochs or self.n_epochs < 1:
            raise ValueError(f"n_epochs must be an integer >= 1, got {self.n_epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if int(self.k) != self.k or self.k < 1:
            raise ValueError(f"k must be an integer >= 1, got {self.k}")
        if self.batch_size is not None and (int(self.batch_size) != self.batch_size or self.batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1 or None, got {self.batch_size}")
        if int(self.n_persistent) != self.n_persistent or self.n_persistent < 1:
            raise ValueError(f"n_persistent must be an integer >= 1, got {self.n_persistent}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.l1_decay >= 0:
            raise ValueError(f"l1_decay must be >= 0, got {self.l1_decay}")


class TrainingHistory(NamedTuple):
    """``params`` after training; per epoch (index 0 = initial): ``log_likelihood`` (exact average, nan if
    not enumerable) and cumulative training ``wall_time_s`` (monitoring excluded)."""

    params: RBMParams
    log_likelihood: np.ndarray
    wall_time_s: np.ndarray
    method: str


def init_params(n_visible: int, n_hidden: int, *, seed, weight_scale: float = 0.01,
                data: np.ndarray | None = None) -> RBMParams:
    r"""Small random weights :math:`W_{ij}\sim\mathcal N(0, s^2)`, zero hidden biases, visible biases
    :math:`\ln\frac{\hat p_i}{1-\hat p_i}` of the data marginals (zeros without data)."""
    if n_visible < 1:
        raise ValueError(f"n_visible must be >= 1, got {n_visible}")
    if n_hidden < 1:
        raise ValueError(f"n_hidden must be >= 1, got {n_hidden}")
    rng = np.random.default_rng(seed)
    W = weight_scale * rng.standard_normal((n_visible, n_hidden))
    if data is None:
        a = np.zeros(n_visible)
    else:
        p = (np.asarray(data, float).sum(axis=0) + 1.0) / (len(data) + 2.0)
        a = np.log(p) - np.log1p(-p)
    return RBMParams(W, a, np.zeros(n_hidden))


def _negative_phase_sampled(visible, params, rng, k):
    state = rbm_gibbs.init(visible, params.W, params.b, rng)
    for _ in range(k):
        state = rbm_gibbs.step(state, params.W, params.a, params.b, rng)
    ph = expit(params.b + state.visible @ params.W)
    n = state.visible.shape[0]
    return state.visible.T @ ph / n, state.visible.mean(axis=0), ph.mean(axis=0), state


def train(data: np.ndarray, params: RBMParams, settings: TrainingSettings, *, seed,
          monitor: bool = True, time_budget_s: float | None = None) -> TrainingHistory:
    """Train from ``params`` on binary ``data`` (N, n_visible); see the module docstring.

    ``time_budget_s`` stops after the first epoch whose cumulative training time
    exceeds it (used to compare learners at equal wall time).
    """
    data = np.asarray(data, dtype=float)
    W, a, b = (np.array(p, dtype=float) for p in params)
    if data.ndim != 2 or data.shape[1] != W.shape[0]:
        raise ValueError(f"data must have shape (N, {W.shape[0]}), got {data.shape}")
    rng = np.random.default_rng(seed)
    n = data.shape[0]
    batch = n if settings.batch_size is None else min(settings.batch_size, n)
    can_enumerate = min(W.shape) <= MAX_ENUMERATED_UNITS
    velocity = [np.zeros_like(W), np.zeros_like(a), np.zeros_like(b)]
    persistent = None
    if settings.method == "pcd":
        start_rows = data[rng.integers(0, n, settings.n_persistent)]
        persistent = rbm_gibbs.init(start_rows, W, b, rng)

    def exact_ll():
        return mean_log_likelihood(data, W, a, b) if (monitor and can_enumerate) else np.nan

    lls, times, elapsed = [exact_ll()], [0.0], 0.0
    for _epoch in range(settings.n_epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        for start in range(0, n, batch):
            vb = data[order[start:start + batch]]
            ph = expit(b + vb @ W)
            pos_vh, pos_v, pos_h = vb.T @ ph / len(vb), vb.mean(axis=0), ph.mean(axis=0)
            current = RBMParams(W, a, b)
            if settings.method == "exact":
                neg_vh, neg_v, neg_h, _ = model_expectations(W, a, b)
            elif settings.method == "cd":
                neg_vh, neg_v, neg_h, _ = _negative_phase_sampled(vb, current, rng, settings.k)
            else:
                state = persistent
                for _ in range(settings.k):
                    state = rbm_gibbs.step(state, W, a, b, rng)
                persistent = state
                ph_neg = expit(b + state.visible @ W)
                m = state.visible.shape[0]
                neg_vh, neg_v, neg_h = state.visible.T @ ph_neg / m, state.visible.mean(axis=0), ph_neg.mean(axis=0)
            grads = (pos_vh - neg_vh - settings.weight_decay * W - settings.l1_decay * np.sign(W),
                     pos_v - neg_v, pos_h - neg_h)
            for i, g in enumerate(grads):
                velocity[i] = settings.momentum * velocity[i] + settings.learning_rate * g
            W = W + velocity[0]
            a = a + velocity[1]
            b = b + velocity[2]
        elapsed += time.perf_counter() - t0
        lls.append(exact_ll())
        times.append(elapsed)
        if time_budget_s is not None and elapsed >= time_budget_s:
            break
    return TrainingHistory(RBMParams(W, a, b), np.array(lls), np.array(times), settings.method)


__all__ = ["TRAINING_METHODS", "RBMParams", "TrainingSettings", "TrainingHistory", "init_params", "train"]
