r"""Importance weights: their mean on the log scale, its error, and whether to trust either.

Given :math:`n` independent log weights :math:`\ln w_i` (AIS runs, importance-sampling ratios
:math:`p/q`, a prior stepping stone :math:`L^{t}`):

.. math:: \ln\overline{w} = \ln\frac1n\sum_i w_i = \operatorname{logsumexp}(\ln w) - \ln n ,
          \qquad
          \mathrm{se}(\ln\overline{w}) \approx \sqrt{\frac{\mathrm{Var}(w)}{n\,\overline{w}^2}}
          = \sqrt{\frac{(n\sum_i\tilde w_i^2 - 1)\,n/(n-1)}{n}}

(delta method, :math:`\tilde w = w/\sum w` the normalised weights), Kish's effective sample size
:math:`\mathrm{ESS} = (\sum w)^2/\sum w^2`, and the Pareto :math:`\hat k` of the weights' upper tail
(PSIS, Vehtari et al. 2024, ArviZ's ``psislw``): for :math:`\hat k > 0.7` (:data:`KHAT_RELIABLE`) the
weights' variance is effectively infinite, so the delta-method se is optimistic.

In here: :func:`log_mean_exp`, :func:`relative_weights_se`, :func:`psis_smooth` (ArviZ's smoothing and
:math:`\hat k`), :func:`pareto_khat`, :func:`weight_stats` (ESS and :math:`\hat k` of AIS weights).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import logsumexp

__all__ = ["KHAT_RELIABLE", "MIN_RUNS_FOR_KHAT", "log_mean_exp", "relative_weights_se", "psis_smooth", "pareto_khat",
           "weight_stats"]

#: Pareto k-hat above which importance weights cannot be trusted (Vehtari et al. 2024)
KHAT_RELIABLE = 0.7
#: fewest finite weights for a Pareto k-hat (as PSIS requires)
MIN_RUNS_FOR_KHAT = 25


def log_mean_exp(a, axis=None) -> np.ndarray:
    """ln mean(exp(a)) computed stably."""
    a = np.asarray(a, dtype=float)
    n = a.size if axis is None else a.shape[axis]
    return logsumexp(a, axis=axis) - np.log(n)


def relative_weights_se(log_w) -> float:
    """Delta-method se of ``ln mean(w)`` from independent draws of the log weights.

    se² = Var(w) / (n · mean(w)²) = (n Σ w̃² − 1)/(n − 1) / n with normalised weights w̃.
    """
    log_w = np.asarray(log_w, dtype=float).ravel()
    n = log_w.size
    if n < 2:
        return float("nan")
    wn = np.exp(log_w - logsumexp(log_w))
    rel_var = max(n * np.sum(wn**2) - 1.0, 0.0) * n / (n - 1)
    return float(np.sqrt(rel_var / n))


def psis_smooth(log_r) -> tuple[np.ndarray, float]:
    """ArviZ's Pareto smoothing of finite log ratios ``log_r`` (1-D): (normalised smoothed log weights, k-hat)."""
    lw, khat = xr.DataArray(-np.asarray(log_r, float), dims=["sample"]).azstats.psislw(dim="sample")
    return np.asarray(lw.values, float), float(khat)


def pareto_khat(log_w) -> float:
    """PSIS Pareto k-hat of the finite ones of ``log_w``; nan below MIN_RUNS_FOR_KHAT finite weights or when
    they are all equal.  ValueError for nan or +inf weights."""
    log_w = np.asarray(log_w, dtype=float).ravel()
    finite = log_w[np.isfinite(log_w)]
    if finite.size < MIN_RUNS_FOR_KHAT or not np.ptp(finite) > 0:
        return float("nan")
    if np.any(np.isnan(log_w)) or np.any(log_w == np.inf):
        raise ValueError("log weights contain nan or +inf")
    return psis_smooth(finite)[1]


def weight_stats(log_w) -> tuple[float, float]:
    """(Kish ESS, PSIS Pareto k-hat) of AIS log weights; k-hat is nan below MIN_RUNS_FOR_KHAT finite weights."""
    log_w = np.asarray(log_w, dtype=float)
    finite = np.isfinite(log_w)
    if not finite.any():
        return 0.0, float("nan")
    w = np.exp(log_w[finite] - log_w[finite].max())
    ess = float(w.sum() ** 2 / np.sum(w**2))
    return ess, pareto_khat(log_w)
