r"""Annealed importance sampling for the partition function of a binary RBM.

Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks",
ICML 2008. The path runs from a *base-rate* model A (no weights, visible biases
:math:`a^0`, usually fitted to the data marginals) to the target RBM B along the
geometric bridge, with the hidden units summed out analytically:

.. math::

    f_\beta(v) = \exp\big[(1-\beta)\, a^{0\top} v + \beta\, a^\top v\big]
                 \prod_{j=1}^{n_h}\big(1 + e^{\beta (b_j + (W^\top v)_j)}\big),
    \qquad 0 = \beta_0 < \beta_1 < \dots < \beta_K = 1,

so that :math:`f_1(v) = e^{-F(v)}` and :math:`Z_0 = 2^{n_h}\prod_i (1 + e^{a^0_i})`.
Each of :math:`M` independent runs draws :math:`v_1 \sim p_0`, accumulates

.. math::

    \ln w^{(m)} = \sum_{k=1}^{K} \big[\ln f_{\beta_k}(v_k) - \ln f_{\beta_{k-1}}(v_k)\big],

and moves :math:`v_k \to v_{k+1}` with one block-Gibbs sweep that leaves
:math:`p_{\beta_k}` invariant (:func:`physml.inference.rbm_gibbs.step`). Then

.. math::

    \hat Z = Z_0 \frac1M \sum_m w^{(m)}, \qquad
    \operatorname{se}(\ln \hat Z) \approx \frac{\operatorname{sd}(w)}{\sqrt{M}\,\bar w}

(delta method). :math:`\hat Z` is unbiased, so :math:`\ln\hat Z` is a stochastic
lower bound on :math:`\ln Z` (by Jensen); its bias is :math:`O(\operatorname{se}^2)`.

The default schedule is the paper's: 500 steps of :math:`10^{-3}` up to 0.5, 4000
of :math:`10^{-4}` up to 0.9 and 10000 of :math:`10^{-5}` up to 1 (14,500
intermediate distributions), rescaled in proportion when ``n_betas`` differs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit, logsumexp

_SM_SEGMENTS = ((0.5, 500), (0.9, 4000), (1.0, 10000))  # (end beta, number of steps)


@dataclass(frozen=True)
class AISSettings:
    """AIS settings: ``n_betas`` ≥ 2 distributions on the path, ``n_runs`` ≥ 2 runs, ``schedule`` ∈ {"sm", "linear"}."""

    n_betas: int = 14501
    n_runs: int = 100
    schedule: str = "sm"

    def __post_init__(self):
        if int(self.n_betas) != self.n_betas or self.n_betas < 2:
            raise ValueError(f"n_betas must be an integer >= 2, got {self.n_betas}")
        if int(self.n_runs) != self.n_runs or self.n_runs < 2:
            raise ValueError(f"n_runs must be an integer >= 2 (the se needs a spread), got {self.n_runs}")
        if self.schedule not in ("sm", "linear"):
            raise ValueError(f"schedule must be 'sm' or 'linear', got {self.schedule!r}")


class AISResult(NamedTuple):
    """``log_z`` (ln Ẑ), ``se`` (delta-method se of ln Ẑ), ``log_weights`` per run, ``log_z_base``, ``ess`` of the weights, ``wall_time_s``."""

    log_z: float
    se: float
    log_weights: np.ndarray
    log_z_base: float
    ess: float
    wall_time_s: float


def beta_schedule(n_betas: int, schedule: str = "sm") -> np.ndarray:
    r"""Inverse temperatures :math:`0=\beta_0<\dots<\beta_{K}=1` (``n_betas`` values).

    ``"sm"``: Salakhutdinov–Murray piecewise-linear spacing (dense near 1), the
    step counts of the three segments in the ratio 500 : 4000 : 10000.
    ``"linear"``: uniform spacing.
    """
    settings = AISSettings(n_betas=n_betas, n_runs=2, schedule=schedule)
    n_steps = settings.n_betas - 1
    if settings.schedule == "linear" or n_steps < len(_SM_SEGMENTS):
        return np.linspace(0.0, 1.0, settings.n_betas)
    total = sum(n for _, n in _SM_SEGMENTS)
    counts = [max(1, round(n_steps * n / total)) for _, n in _SM_SEGMENTS]
    counts[-1] = n_steps - sum(counts[:-1])
    pieces, start = [np.zeros(1)], 0.0
    for (end, _), count in zip(_SM_SEGMENTS, counts):
        pieces.append(np.linspace(start, end, count + 1)[1:])
        start = end
    return np.concatenate(pieces)


def base_rate_visible_bias(data: np.ndarray, pseudocount: float = 1.0) -> np.ndarray:
    r"""Base-rate visible biases :math:`a^0_i = \ln\frac{\hat p_i}{1-\hat p_i}`, :math:`\hat p_i = \frac{\sum_n v_{ni} + c}{N + 2c}`."""
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"data must be a non-empty 2-D array, got shape {data.shape}")
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    p = (data.sum(axis=0) + pseudocount) / (data.shape[0] + 2 * pseudocount)
    return np.log(p) - np.log1p(-p)


def ais_run(W, a, b, *, n_betas: int = 14501, n_runs: int = 100, seed=None,
            base_visible_bias=None, schedule: str = "sm") -> AISResult:
    """Run AIS (see the module docstring) and return an :class:`AISResult`."""
    settings = AISSettings(n_betas=n_betas, n_runs=n_runs, schedule=schedule)
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (n_visible, n_hidden), got shape {W.shape}")
    n_visible, n_hidden = W.shape
    a = np.asarray(a, dtype=float).reshape(n_visible)
    b = np.asarray(b, dtype=float).reshape(n_hidden)
    a0 = np.zeros(n_visible) if base_visible_bias is None else np.asarray(base_visible_bias, dtype=float)
    if a0.shape != (n_visible,):
        raise ValueError(f"base_visible_bias must have shape ({n_visible},), got {a0.shape}")
    betas = beta_schedule(settings.n_betas, settings.schedule)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()

    M = settings.n_runs
    Wt = W.T.copy()
    da = a - a0
    log_z_base = n_hidden * math.log(2.0) + float(np.logaddexp(0.0, a0).sum())
    v = (rng.random((M, n_visible)) < expit(a0)).astype(float)
    log_w = np.zeros(M)
    for k in range(1, len(betas)):
        beta, beta_prev = betas[k], betas[k - 1]
        x = v @ W + b
        log_w += (beta - beta_prev) * (v @ da) + (
            np.logaddexp(0.0, beta * x) - np.logaddexp(0.0, beta_prev * x)).sum(axis=1)
        if k == len(betas) - 1:
            break
        # one block-Gibbs sweep leaving p_beta invariant
        h = (rng.random((M, n_hidden)) < expit(beta * x)).astype(float)
        field = a0 + beta * (da + h @ Wt)
        v = (rng.random((M, n_visible)) < expit(field)).astype(float)

    log_mean_w = logsumexp(log_w) - math.log(M)
    scaled = np.exp(log_w - log_w.max())
    se = float(scaled.std(ddof=1) / (math.sqrt(M) * scaled.mean()))
    ess = float(scaled.sum() ** 2 / (scaled**2).sum())
    return AISResult(log_z=float(log_z_base + log_mean_w), se=se, log_weights=log_w,
                     log_z_base=log_z_base, ess=ess, wall_time_s=time.perf_counter() - start)


def log_partition_ais(W, a, b, *, n_betas: int = 14501, n_runs: int = 100, seed=None,
                      base_visible_bias=None) -> tuple[float, float]:
    r"""AIS estimate of :math:`\ln Z` of a binary RBM and its standard error.

    Parameters
    ----------
    W, a, b
        Weights ``(n_visible, n_hidden)``, visible and hidden biases.
    n_betas
        Number of distributions on the geometric path (≥ 2; paper: 14,501).
    n_runs
        Independent AIS runs (≥ 2; paper: 100).
    seed
        Seed of the random generator.
    base_visible_bias
        Visible biases :math:`a^0` of the base-rate model (default zeros, i.e.
        uniform); use :func:`base_rate_visible_bias` of the training data as in the paper.

    Returns
    -------
    (value, se)
        :math:`\ln\hat Z` and its delta-method standard error
        :math:`\operatorname{sd}(w)/(\sqrt M\,\bar w)`.
    """
    result = ais_run(W, a, b, n_betas=n_betas, n_runs=n_runs, seed=seed,
                     base_visible_bias=base_visible_bias)
    return result.log_z, result.se


__all__ = ["AISSettings", "AISResult", "beta_schedule", "base_rate_visible_bias", "ais_run",
           "log_partition_ais"]
