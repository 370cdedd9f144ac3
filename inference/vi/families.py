r"""Gaussian variational families (mean-field and full-rank) and their stochastic ELBO gradients.

With :math:`\ell(\theta) = \log p(\theta, \mathrm{data})` (unconstrained space, log-Jacobian included)
a Gaussian :math:`q = N(\mu_\theta, AA^\top)` is fitted by maximising the evidence lower bound

.. math:: \mathrm{ELBO}(q) = E_q[\ell(\theta)] + \mathcal H[q] \le \log p(\mathrm{data}),
          \qquad \mathcal H[q] = \log|\det A| + \tfrac d2 (1 + \log 2\pi),

so :math:`-\mathrm{ELBO} = -\log p(\mathrm{data}) + \mathrm{KL}(q\,\|\,p)` is an upper bound on the free energy.
The expectation is estimated by the reparametrisation :math:`\theta = \mu_\theta + A\varepsilon`,
:math:`\varepsilon \sim N(0, I)`, in standardised coordinates around the Laplace start
(:mod:`.laplace`: centre :math:`m_0`, factor :math:`L_0`, scales :math:`s_0`; its curvature :math:`H` is the first
control variate, :mod:`.control_variate`):

* mean :math:`\mu_\theta = m_0 + L_0\mu_z` (both families);
* :class:`MeanField`: :math:`A = \mathrm{diag}(s_0 e^{\omega})`, parameters :math:`(\mu_z, \omega)`;
* :class:`FullRank`: :math:`A = L_0 L_z`, :math:`L_z` lower triangular with a log-diagonal, parameters
  :math:`(\mu_z, \mathrm{tril}\,L_z)`.

:math:`\log q(\theta) = -\tfrac12\|\varepsilon\|^2 - \log|\det A| - \tfrac d2 \log 2\pi` for the draw
:math:`\theta = \mu_\theta + A\varepsilon`.  Gradient estimator and control variate: :class:`Gaussian`.
:class:`VariationalFamily` is the protocol the driver uses; :func:`make_family` builds one by name.
"""

from __future__ import annotations

import copy
import math
from typing import Protocol

import numpy as np

from .control_variate import ControlVariate
from .laplace import GaussianStart

__all__ = ["VariationalFamily", "Gaussian", "MeanField", "FullRank", "FAMILIES", "make_family"]

_LOG2PI = math.log(2.0 * math.pi)


class VariationalFamily(Protocol):
    """A Gaussian family over flat parameter vectors ``p`` (what the driver and the evaluation use)."""

    name: str
    d: int
    cv: ControlVariate      # the control variate of the gradient estimator (re-fitted by the driver)

    def init(self) -> np.ndarray: ...

    def theta(self, p: np.ndarray, eps: np.ndarray) -> np.ndarray: ...

    def grad(self, p: np.ndarray, eps: np.ndarray, theta: np.ndarray, g: np.ndarray) -> np.ndarray: ...

    def expected_logp(self, p: np.ndarray, theta: np.ndarray, lp: np.ndarray) -> float: ...

    def entropy(self, p: np.ndarray) -> float: ...

    def log_q(self, p: np.ndarray, eps: np.ndarray) -> np.ndarray: ...

    def marginals(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def chol(self, p: np.ndarray) -> np.ndarray: ...

    def with_control_variate(self, cv: ControlVariate) -> VariationalFamily: ...


class Gaussian:
    r"""Gaussian q in standardised coordinates, with a quadratic control variate (:mod:`.control_variate`).

    The mean is :math:`\mu_\theta = m_0 + L_0 \mu_z` for both families (``L_0`` the
    Laplace Cholesky factor; re-parameterising the *mean* keeps a mean-field q
    mean-field but makes the mean's optimisation well conditioned on correlated
    posteriors).  Gradients use the reparameterisation trick with the control variate
    :math:`g_{\rm lin}(\theta) = b - H(\theta - c)` (first the gradient of the Laplace
    quadratic: :math:`c = m_0`, :math:`b = g_0`; the driver re-fits it under q), whose expectations
    under q are known in closed form, so

    .. math:: \nabla_{\mu}\,E_q\log p = E[g - g_{\rm lin}] + b - H(\mu_\theta - c),
              \qquad \nabla_A\,E_q\log p = E[(g - g_{\rm lin})\varepsilon^T] - H A,

    unbiased for any fixed control variate and noise-free when the target is Gaussian.  The
    entropy gradient is analytic.  ``H = 0`` gives the plain ADVI estimator.  The per-step
    −ELBO uses the matching quadratic control variate for :math:`E_q \log p`.
    :meth:`with_control_variate` returns the same family (same parameterisation) with another one.
    """

    def __init__(self, m0, L0, cv: ControlVariate):
        self.m0, self.L0, self.cv = m0, L0, cv
        self.d = m0.size
        self.log_det_L0 = float(np.sum(np.log(np.diag(L0))))

    def with_control_variate(self, cv: ControlVariate):
        """A copy of this family using the control variate ``cv``."""
        other = copy.copy(self)
        other.cv = cv
        return other

    def mean(self, p):
        return self.m0 + self.L0 @ p[:self.d]

    def expected_logp(self, p, theta, lp):
        """Control-variate estimate of E_q log p from draws ``theta`` with log densities ``lp``."""
        A = self.chol(p)
        return float(np.mean(lp - self.cv.log_density(theta))) + self.cv.expectation(
            self.mean(p), float(np.sum(A * (self.cv.H @ A))))

    def _residual(self, theta, g):
        return g - self.cv.gradient(theta)

    def _dmean(self, p, r):
        return self.L0.T @ (r.mean(0) + self.cv.gradient(self.mean(p)[None, :])[0])

    def entropy(self, p):
        return self.log_det(p) + 0.5 * self.d * (1.0 + _LOG2PI)

    def log_q(self, p, eps):
        return -0.5 * np.sum(eps ** 2, axis=1) - self.log_det(p) - 0.5 * self.d * _LOG2PI


class MeanField(Gaussian):
    """q = prod_i N(mean_i, sd_i^2), sd = s0 * exp(omega); params = [mu_z, omega]."""

    name = "meanfield"

    def __init__(self, m0, scale, L0, cv: ControlVariate):
        super().__init__(m0, L0, cv)
        self.s0 = scale

    def init(self):
        return np.zeros(2 * self.d)

    def sd(self, p):
        return self.s0 * np.exp(p[self.d:])

    def theta(self, p, eps):
        return self.mean(p) + self.sd(p) * eps

    def grad(self, p, eps, theta, g):
        sd = self.sd(p)
        r = self._residual(theta, g)
        g_om = (r * eps).mean(0) * sd - np.diag(self.cv.H) * sd * sd + 1.0
        return np.concatenate([self._dmean(p, r), g_om])

    def log_det(self, p):
        return float(np.sum(np.log(self.s0) + p[self.d:]))

    def marginals(self, p):
        return self.mean(p), np.log(self.s0) + p[self.d:]

    def chol(self, p):
        return np.diag(self.sd(p))

    def expected_logp(self, p, theta, lp):
        sd = self.sd(p)
        return float(np.mean(lp - self.cv.log_density(theta))) + self.cv.expectation(
            self.mean(p), float(np.sum(np.diag(self.cv.H) * sd * sd)))


class FullRank(Gaussian):
    """q = N(mean, A A^T), A = L0 Lz (lower triangular); params = [mu_z, tril(Lz) with log-diagonal]."""

    name = "fullrank"

    def __init__(self, m0, L0, cv: ControlVariate):
        super().__init__(m0, L0, cv)
        self.tril = np.tril_indices(self.d)
        self.diag_pos = np.flatnonzero(self.tril[0] == self.tril[1])

    def init(self):
        return np.zeros(self.d + self.tril[0].size)  # mu = 0, Lz = I (log-diagonal 0)

    def Lz(self, p):
        L = np.zeros((self.d, self.d))
        vals = p[self.d:].copy()
        vals[self.diag_pos] = np.exp(vals[self.diag_pos])
        L[self.tril] = vals
        return L

    def chol(self, p):
        return self.L0 @ self.Lz(p)

    def theta(self, p, eps):
        return self.mean(p) + eps @ self.chol(p).T

    def grad(self, p, eps, theta, g):
        Lz = self.Lz(p)
        A = self.L0 @ Lz
        r = self._residual(theta, g)
        dA = r.T @ eps / len(eps) - self.cv.H @ A
        gL = self.L0.T @ dA
        gL[np.diag_indices(self.d)] += 1.0 / np.diag(Lz)
        gv = gL[self.tril]
        gv[self.diag_pos] *= np.diag(Lz)
        return np.concatenate([self._dmean(p, r), gv])

    def log_det(self, p):
        return self.log_det_L0 + float(np.sum(p[self.d:][self.diag_pos]))

    def marginals(self, p):
        A = self.chol(p)
        return self.mean(p), 0.5 * np.log(np.sum(A * A, axis=1))


FAMILIES = ("meanfield", "fullrank")


def make_family(name: str, start: GaussianStart) -> VariationalFamily:
    """The ``name`` ("meanfield" | "fullrank") family around ``start``."""
    cv = ControlVariate(start.m0, start.lp0, start.g0, start.H)
    if name == "meanfield":
        return MeanField(start.m0, start.scale, start.L0, cv)
    return FullRank(start.m0, start.L0, cv)
