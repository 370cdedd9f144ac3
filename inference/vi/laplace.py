r"""Laplace start of the variational fit: mode, curvature and the preconditioner built from them.

With :math:`\ell(\theta) = \log p(\theta, \mathrm{data})` in PyMC's unconstrained space (log-Jacobian
included), the Laplace approximation is

.. math:: \ell(\theta) \approx \ell(m_0) + g_0^\top(\theta - m_0) - \tfrac12 (\theta - m_0)^\top H (\theta - m_0),
          \qquad m_0 = \arg\max \ell, \quad H = -\nabla^2 \ell(m_0),

i.e. :math:`p \approx N(m_0, H^{-1})` (:math:`g_0 \approx 0` at the mode).  :math:`H` is found by central
differences of the gradient, :math:`H_{:,i} = -[g(\theta + h_i e_i) - g(\theta - h_i e_i)] / 2h_i`,
symmetrised, with steps :math:`h_i \approx 10^{-2}/\sqrt{H_{ii}}` (1 % of the local scale).

The preconditioner of the variational families follows from it: the mean-field scales
:math:`s_i = 1/\sqrt{H_{ii}}` (exactly the mean-field optimum of a Gaussian) and the full-rank factor
:math:`L_0 = \mathrm{chol}(H^{-1})` (with clipped :math:`|\text{eigenvalues}|` when :math:`H` is not
positive definite); unit scales when there is no usable curvature.

Contents: :func:`fd_hessian`, :func:`negative_hessian`, :func:`laplace_mode` (L-BFGS then trust-region
Newton), :class:`GaussianStart` and :func:`gaussian_start` (what the variational families are built from).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.optimize

from ..model_density import ModelDensity

__all__ = ["fd_hessian", "negative_hessian", "LaplaceMode", "laplace_mode", "GaussianStart", "gaussian_start"]


def fd_hessian(comp: ModelDensity, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Negative Hessian of log p at ``x`` by central differences of the gradient with steps ``h`` (symmetrised)."""
    d = x.size
    E = np.diag(h)
    _, g = comp.log_joint_and_grad(np.vstack([x + E, x - E]))
    H = -(g[:d] - g[d:]) / (2.0 * h[:, None])
    return 0.5 * (H + H.T)


def negative_hessian(comp: ModelDensity, x: np.ndarray) -> np.ndarray:
    """Negative Hessian of log p at ``x``; difference step ~1 % of the local scale."""
    h = 1e-4 * (1.0 + np.abs(x))
    H = fd_hessian(comp, x, h)
    if np.all(np.isfinite(H)):
        diag = np.diag(H)
        h = np.where(diag > 0, 1e-2 / np.sqrt(np.where(diag > 0, diag, 1.0)), h)
        H = fd_hessian(comp, x, h)
    return H


class LaplaceMode(NamedTuple):
    """Mode ``x`` and curvature ``H`` (None when not finite); ``ok`` when ``H`` is finite and positive definite."""

    ok: bool
    note: str
    x: np.ndarray
    H: np.ndarray | None


def _newton_polish(f, comp: ModelDensity, x: np.ndarray) -> np.ndarray:
    """Trust-region Newton (scipy ``trust-exact``) from ``x`` with finite-difference Hessians; ``x`` if no better."""
    def hess(z):
        H = negative_hessian(comp, z)
        return H if np.all(np.isfinite(H)) else np.eye(z.size)
    try:
        res = scipy.optimize.minimize(f, x, jac=True, hess=hess, method="trust-exact",
                                      options={"maxiter": 200, "gtol": 1e-8})
        if np.isfinite(res.fun) and res.fun <= f(x)[0]:
            return np.asarray(res.x, dtype=float)
    except Exception:  # pragma: no cover - fall back to the L-BFGS point
        pass
    return x


def laplace_mode(comp: ModelDensity, x0: np.ndarray, maxiter: int = 2000, newton_max_dim: int = 400) -> LaplaceMode:
    """Mode and curvature (negative Hessian ``H``) of the unconstrained log density.

    L-BFGS reaches the basin; a trust-region Newton method (scipy ``trust-exact``) with
    finite-difference Hessians then finishes the job on the badly scaled, strongly
    correlated posteriors where L-BFGS stalls (``sblrc``: sds 1e-3 next to 1e-1).
    """
    def f(x):
        lp, g = comp.log_joint_and_grad(x)
        lp, g = float(lp[0]), g[0]
        if not np.isfinite(lp) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(x)
        return -lp, -g

    if not np.isfinite(f(x0)[0]):
        return LaplaceMode(False, "laplace-fallback: log density not finite at the initial point", x0, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scipy.optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
                                      options={"maxiter": maxiter, "maxfun": 2 * maxiter})
        x = np.asarray(res.x, dtype=float) if np.isfinite(f(res.x)[0]) else x0
        if x.size <= newton_max_dim:
            x = _newton_polish(f, comp, x)
    H = negative_hessian(comp, x)
    finite = bool(np.all(np.isfinite(H)))
    pd = False
    if finite:
        try:
            np.linalg.cholesky(H)
            pd = True
        except np.linalg.LinAlgError:
            pd = False
    ok = finite and pd
    note = ("laplace" if ok else
            "laplace-fallback: " + ("non-finite curvature" if not finite else "curvature not positive definite"))
    return LaplaceMode(ok, note, x, H if finite else None)


class GaussianStart(NamedTuple):
    """What the variational families are built from (see the module docstring).

    ``m0`` centre, ``scale`` mean-field sds, ``L0`` full-rank factor, ``H`` curvature of the control
    variate (zeros without a trustworthy Laplace curvature), ``lp0``/``g0`` log density and gradient at
    ``m0`` (0 when not finite), ``note`` how the start was found (``diagnostics.init``).
    """

    m0: np.ndarray
    scale: np.ndarray
    L0: np.ndarray
    H: np.ndarray
    lp0: float
    g0: np.ndarray
    note: str


def _preconditioner(H: np.ndarray | None, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean-field scales and full-rank factor from the curvature ``H`` (unit ones without it)."""
    if H is None:
        return np.ones(d), np.eye(d)
    diag = np.diag(H)
    scale = np.where(np.isfinite(diag) & (diag > 0), 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    try:
        L0 = np.linalg.cholesky(np.linalg.inv(H))
    except np.linalg.LinAlgError:  # clipped |eigenvalues| ("SoftAbs"-like) curvature
        w, V = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-8 * max(float(np.max(np.abs(w))), 1e-300))
        L0 = np.linalg.cholesky((V / w) @ V.T)
    return scale, L0


def gaussian_start(comp: ModelDensity, init: str) -> GaussianStart:
    """The start of the fit: ``init="laplace"`` (mode and curvature) or ``"initial_point"`` (PyMC's, unit scales)."""
    d = comp.ndim
    if init == "laplace":
        lap = laplace_mode(comp, comp.x0)
        m0, H, note, lap_ok = lap.x, lap.H, lap.note, lap.ok
    else:
        m0, H, note, lap_ok = comp.x0.copy(), None, "initial_point", False
    scale, L0 = _preconditioner(H, d)
    Hcv = H if H is not None and lap_ok else np.zeros((d, d))  # no control variate without a trustworthy curvature
    lp0, g0 = comp.log_joint_and_grad(m0)
    lp0, g0 = float(lp0[0]), g0[0]
    if not (np.isfinite(lp0) and np.all(np.isfinite(g0))):
        lp0, g0 = 0.0, np.zeros(d)
    return GaussianStart(m0, scale, L0, Hcv, lp0, g0, note)
