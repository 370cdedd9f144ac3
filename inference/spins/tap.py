r"""Naive mean field and Thouless–Anderson–Palmer (TAP) magnetisations on dense couplings.

For :math:`P(s) \propto e^{\beta(\frac12 s^\top J s + h^\top s)}` (J symmetric, zero diagonal):

* **naive mean field** :math:`m_i = \tanh\beta\big(h_i + \sum_j J_{ij} m_j\big)`, stationary points of
  :math:`-\beta F_\mathrm{MF}(m) = \sum_i S(m_i) + \beta(\tfrac12 m^\top J m + h^\top m)` (a lower bound on ln Z);
* **TAP** (Thouless, Anderson & Palmer 1977) adds the Onsager reaction term,

  .. math::

      m_i = \tanh\beta\Big(h_i + \sum_j J_{ij} m_j - \beta\, m_i \sum_j J_{ij}^2 (1 - m_j^2)\Big),

  the stationary points of :math:`-\beta F_\mathrm{TAP}(m) = -\beta F_\mathrm{MF}(m)
  + \tfrac{\beta^2}{4}\sum_{i\ne j} J_{ij}^2 (1-m_i^2)(1-m_j^2)` (second order of the Plefka expansion,
  exact for SK as N → ∞ above the de Almeida–Thouless line; not a bound).

:math:`S(m) = -\tfrac{1+m}{2}\ln\tfrac{1+m}{2} - \tfrac{1-m}{2}\ln\tfrac{1-m}{2}`. Both are solved by damped
parallel iteration :math:`m \leftarrow (1-\eta)m + \eta\,\tanh(\dots)` from ``init``; a run that does not
reach ``tol`` in ``max_iter`` steps returns ``converged = False`` (below T ≈ 1 in zero field the TAP iteration
often oscillates: many solutions, marginal stability).

Here: :class:`MagnetisationFit`, :func:`naive_mean_field`, :func:`tap`, :func:`mf_log_partition`,
:func:`tap_log_partition`, :func:`onsager_reaction`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .dense_heat_bath import check_dense_couplings
from .mean_field import binary_entropy_pm


class MagnetisationFit(NamedTuple):
    """Magnetisations, their approximate ln Z at them, convergence flag, iterations, last max |Δm|."""

    magnetisation: np.ndarray
    log_partition: float
    converged: bool
    n_iter: int
    residual: float


def _inputs(J, beta, h):
    mat = check_dense_couplings(J)
    if not (isinstance(beta, (int, float, np.floating)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    field = np.broadcast_to(np.asarray(h, dtype=float), (mat.shape[0],)).copy()
    if not np.all(np.isfinite(field)):
        raise ValueError("h must be finite")
    return mat, float(beta), field


def onsager_reaction(J, m) -> np.ndarray:
    r""":math:`m_i\sum_j J_{ij}^2(1-m_j^2)` (multiply by −β for the TAP field)."""
    return m * ((J * J) @ (1.0 - m * m))


def mf_log_partition(J, beta: float, h, m) -> float:
    r""":math:`-\beta F_\mathrm{MF}(m) = \sum_i S(m_i) + \beta(\tfrac12 m^\top J m + h^\top m)`."""
    mat, beta, field = _inputs(J, beta, h)
    m = np.asarray(m, dtype=float)
    return float(binary_entropy_pm(m).sum() + beta * (0.5 * m @ mat @ m + field @ m))


def tap_log_partition(J, beta: float, h, m) -> float:
    r""":math:`-\beta F_\mathrm{TAP}(m)`: the mean-field value plus :math:`\tfrac{\beta^2}{4}\sum_{i\ne j}
    J_{ij}^2(1-m_i^2)(1-m_j^2)`."""
    mat, beta, field = _inputs(J, beta, h)
    m = np.asarray(m, dtype=float)
    v = 1.0 - m * m
    return mf_log_partition(mat, beta, field, m) + 0.25 * beta * beta * float(v @ (mat * mat) @ v)


def _solve(mat, beta, field, reaction: bool, init, damping, tol, max_iter) -> MagnetisationFit:
    if not (0.0 < damping <= 1.0):
        raise ValueError(f"damping must be in (0, 1], got {damping}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    m = np.broadcast_to(np.asarray(init, dtype=float), field.shape).copy()
    if not np.all(np.abs(m) <= 1):
        raise ValueError("init must lie in [-1, 1]")
    delta, it = np.inf, 0
    for it in range(1, max_iter + 1):
        local = field + mat @ m - (beta * onsager_reaction(mat, m) if reaction else 0.0)
        delta = float(np.max(np.abs(np.tanh(beta * local) - m)))
        m = m + damping * (np.tanh(beta * local) - m)
        if delta < tol:
            break
    log_z = (tap_log_partition if reaction else mf_log_partition)(mat, beta, field, m)
    return MagnetisationFit(m, log_z, bool(delta < tol), it, delta)


def naive_mean_field(J, beta: float, h=0.0, *, init=0.5, damping: float = 0.5, tol: float = 1e-10,
                     max_iter: int = 20_000) -> MagnetisationFit:
    """Damped iteration of m = tanh(β(h + J m)); ``log_partition`` is −βF_MF at the result."""
    mat, beta, field = _inputs(J, beta, h)
    return _solve(mat, beta, field, False, init, damping, tol, max_iter)


def tap(J, beta: float, h=0.0, *, init=0.5, damping: float = 0.5, tol: float = 1e-10,
        max_iter: int = 20_000) -> MagnetisationFit:
    """Damped iteration of the TAP equations; ``log_partition`` is −βF_TAP at the result."""
    mat, beta, field = _inputs(J, beta, h)
    return _solve(mat, beta, field, True, init, damping, tol, max_iter)
