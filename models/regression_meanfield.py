r"""Closed-form mean-field variational Bayes for conjugate Bayesian linear regression.

Model (Normal–Inverse-Gamma, the prior of ``models/regression.py``)::

    y | beta, sigma^2 ~ N(X beta, sigma^2 I_n)
    beta | sigma^2    ~ N(m0, sigma^2 V0)
    sigma^2           ~ InvGamma(a0, b0)          (tau = 1/sigma^2 ~ Gamma(a0, rate b0))

Write :math:`\Lambda_0 = V_0^{-1}`, :math:`\Lambda_n = X^TX + \Lambda_0`,
:math:`c = X^Ty + \Lambda_0 m_0`, :math:`Q(\beta) = |y - X\beta|^2 + (\beta-m_0)^T\Lambda_0(\beta-m_0)`.

Three variational families are solved here, all exactly:

``"block"``  q(β) q(τ), q(β) = N(μ, Σ) with full Σ, q(τ) = Gamma(a, b)   (Bishop PRML §10.3 style).
    CAVI: :math:`\Sigma = (E[\tau]\Lambda_n)^{-1}`, :math:`\mu = \Lambda_n^{-1}c` (the exact
    posterior mean, independent of q(τ)), :math:`a = a_0 + (n+p)/2`,
    :math:`b = b_0 + \tfrac12 E_q[Q] = b_0 + \tfrac12 R + \tfrac12 p\,b/a` with
    :math:`R = Q(\mu) = y^Ty + m_0^T\Lambda_0 m_0 - \mu^T\Lambda_n\mu`.  Because β and σ² are
    coupled through the σ²-scaled prior, b appears on both sides; the fixed point is
    :math:`b = (b_0 + R/2)\,a/(a - p/2)`, i.e. :math:`E_q[\tau] = (a_0 + n/2)/(b_0 + R/2)`.

``"factorised"``  Π_j q(β_j) · q(τ), q(τ) Gamma.
    CAVI is Gauss–Seidel on :math:`\Lambda_n\mu = c` (so μ is again the exact mean),
    :math:`s_j^2 = 1/(E[\tau]\Lambda_{n,jj})`, and the same a, b (because
    :math:`\mathrm{tr}(\Lambda_n \mathrm{diag}(s^2)) = p/E[\tau]` too).

``"advi"``  Π_j N(β_j; μ_j, s_j²) · N(log σ; m, v) — a fully factorised *Gaussian in PyMC's
    unconstrained space*: **this is the family of mean-field ADVI** (``physml.inference``
    ``"advi"``; a Gaussian on log σ² is the same family, log σ² = 2 log σ).  Its optimum is
    closed form too: μ = exact mean, :math:`s_j^2 = 1/(E_q[\tau]\Lambda_{n,jj})` with
    :math:`E_q[\tau] = e^{-2m+2v} = (a_0 + n/2)/(b_0 + R/2)` (the same value as in the
    Gamma families, so the β sds of all three mean-field families coincide),
    :math:`v = 1/(2(n + p + 2a_0))`, :math:`m = v - \tfrac12\log E_q[\tau]`.

Every ELBO here is exact (no Monte Carlo) and satisfies ELBO ≤ ln p(y), with the exact
NIG evidence

.. math:: \ln p(y) = -\tfrac n2\ln 2\pi + \tfrac12\ln|\Lambda_0| - \tfrac12\ln|\Lambda_n|
          + a_0\ln b_0 - a_n\ln b_n + \ln\Gamma(a_n) - \ln\Gamma(a_0).

All functions take plain arrays (X, y, m0, V0, a0, b0); nothing here depends on PyMC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma, gammaln

__all__ = ["conjugate_problem", "nig_log_evidence", "elbo_gamma", "elbo_advi", "cavi", "block_fixed_point",
           "advi_meanfield_optimum", "MeanFieldVB"]

_LOG2PI = np.log(2.0 * np.pi)


def _prep(X, y, m0, V0, a0, b0):
    X = np.atleast_2d(np.asarray(X, dtype=float))
    y = np.asarray(y, dtype=float).ravel()
    n, p = X.shape
    if y.size != n:
        raise ValueError(f"y has {y.size} rows but X has {n}")
    m0 = np.broadcast_to(np.asarray(m0, dtype=float), (p,)).copy()
    V0 = np.asarray(V0, dtype=float)
    if V0.ndim == 0:
        V0 = V0 * np.eye(p)
    if V0.shape != (p, p):
        raise ValueError(f"V0 must be ({p}, {p}), got {V0.shape}")
    if not (a0 > 0 and b0 > 0):
        raise ValueError(f"a0 and b0 must be > 0, got {a0}, {b0}")
    L0 = np.linalg.inv(V0)
    L0 = 0.5 * (L0 + L0.T)
    Ln = X.T @ X + L0
    c = X.T @ y + L0 @ m0
    mu = np.linalg.solve(Ln, c)
    R = float(y @ y + m0 @ L0 @ m0 - mu @ Ln @ mu)
    return dict(X=X, y=y, n=n, p=p, m0=m0, V0=V0, L0=L0, Ln=Ln, c=c, mu=mu, R=R, a0=float(a0), b0=float(b0),
                XtX=X.T @ X)


def conjugate_problem(X, y, m0, V0, a0, b0):
    """The arrays as ``models.regression``'s ``(RegressionData, ConjugatePrior)``, whose closed forms are the
    reference: the exact posterior is ``regression.nig_posterior(*conjugate_problem(...))``."""
    from .regression import ConjugatePrior, RegressionData

    d = _prep(X, y, m0, V0, a0, b0)
    data = RegressionData(d["X"], d["y"], tuple(f"x{j + 1}" for j in range(d["p"])))
    return data, ConjugatePrior(d["p"], a0=d["a0"], b0=d["b0"], m0=d["m0"], V0=d["V0"])


def nig_log_evidence(X, y, m0, V0, a0, b0) -> float:
    """Exact ln p(y) of the Normal–Inverse-Gamma regression (``regression.log_evidence_exact``)."""
    from .regression import log_evidence_exact

    return log_evidence_exact(*conjugate_problem(X, y, m0, V0, a0, b0))


def _expected_Q(d, mu, Sigma):
    r = d["y"] - d["X"] @ mu
    dm = mu - d["m0"]
    return float(r @ r + np.sum(d["XtX"] * Sigma) + dm @ d["L0"] @ dm + np.sum(d["L0"] * Sigma))


def elbo_gamma(mu, Sigma, a, b, X, y, m0, V0, a0, b0, prepared=None) -> float:
    """Exact ELBO of q(β) q(τ) = N(μ, Σ) Gamma(a, rate b) (any Σ: full or diagonal).

    ``prepared``: the problem's precomputed quantities (from this module's solvers) instead of the arrays."""
    d = prepared or _prep(X, y, m0, V0, a0, b0)
    n, p = d["n"], d["p"]
    mu = np.asarray(mu, dtype=float)
    Sigma = np.asarray(Sigma, dtype=float)
    Elog, Et = digamma(a) - np.log(b), a / b
    e_logp = (-0.5 * (n + p) * _LOG2PI + 0.5 * np.linalg.slogdet(d["L0"])[1]
              + 0.5 * (n + p) * Elog - 0.5 * Et * _expected_Q(d, mu, Sigma)
              + d["a0"] * np.log(d["b0"]) - gammaln(d["a0"]) + (d["a0"] - 1.0) * Elog - d["b0"] * Et)
    h_beta = 0.5 * p * (1.0 + _LOG2PI) + 0.5 * np.linalg.slogdet(Sigma)[1]
    h_tau = a - np.log(b) + gammaln(a) + (1.0 - a) * digamma(a)
    return float(e_logp + h_beta + h_tau)


def elbo_advi(mu, s, m, v, X, y, m0, V0, a0, b0, prepared=None) -> float:
    """Exact ELBO of Π_j N(β_j; μ_j, s_j²) · N(log σ; m, v) (the mean-field ADVI family).

    The target is the joint density of (β, ω = log σ) including the Jacobian of σ² = e^{2ω},
    so the ELBO is directly comparable with ADVI's −ELBO and with ln p(y).
    """
    d = prepared or _prep(X, y, m0, V0, a0, b0)
    n, p = d["n"], d["p"]
    s = np.asarray(s, dtype=float)
    Et, Elog = np.exp(-2.0 * m + 2.0 * v), -2.0 * m
    e_logp = (-0.5 * (n + p) * _LOG2PI + 0.5 * np.linalg.slogdet(d["L0"])[1]
              + 0.5 * (n + p) * Elog - 0.5 * Et * _expected_Q(d, np.asarray(mu, float), np.diag(s * s))
              + d["a0"] * np.log(d["b0"]) - gammaln(d["a0"]) + d["a0"] * Elog - d["b0"] * Et + np.log(2.0))
    h = float(np.sum(np.log(s))) + 0.5 * np.log(v) + 0.5 * (p + 1) * (1.0 + _LOG2PI)
    return float(e_logp + h)


@dataclass
class MeanFieldVB:
    """A mean-field VB solution (q(β) = N(mu, Sigma), q(τ) = Gamma(a, rate b)) and its exact ELBO."""

    family: str
    mu: np.ndarray
    Sigma: np.ndarray
    a: float
    b: float
    elbo: float
    n_iter: int
    converged: bool
    elbo_history: list = field(default_factory=list)

    @property
    def sd_beta(self) -> np.ndarray:
        return np.sqrt(np.diag(self.Sigma))

    @property
    def E_tau(self) -> float:
        return self.a / self.b


def block_fixed_point(X, y, m0, V0, a0, b0) -> MeanFieldVB:
    """The CAVI fixed point of the block family q(β)q(τ) in closed form."""
    d = _prep(X, y, m0, V0, a0, b0)
    a = d["a0"] + 0.5 * (d["n"] + d["p"])
    b = (d["b0"] + 0.5 * d["R"]) * a / (a - 0.5 * d["p"])
    Sigma = np.linalg.inv(d["Ln"]) * b / a
    elbo = elbo_gamma(d["mu"], Sigma, a, b, *([None] * 6), prepared=d)
    return MeanFieldVB("block", d["mu"].copy(), Sigma, a, b, elbo, 0, True)


def cavi(X, y, m0, V0, a0, b0, *, family: str = "block", max_iter: int = 100_000, tol: float = 0.0) -> MeanFieldVB:
    """Coordinate-ascent VI to machine precision for ``family`` "block" or "factorised".

    Iterates until the parameters stop changing (relative change ≤ ``tol``, default 0:
    exact repetition, i.e. machine precision) or the ELBO stops increasing.
    """
    if family not in ("block", "factorised"):
        raise ValueError(f"family must be 'block' or 'factorised', got {family!r}")
    d = _prep(X, y, m0, V0, a0, b0)
    p, Ln, c = d["p"], d["Ln"], d["c"]
    a = d["a0"] + 0.5 * (d["n"] + d["p"])
    b = d["b0"]                     # start from the prior's rate
    mu = d["m0"].copy() if family == "factorised" else d["mu"].copy()
    Ln_inv = np.linalg.inv(Ln)
    hist, converged = [], False
    it = 0
    for it in range(1, max_iter + 1):
        Et = a / b
        if family == "block":
            Sigma = Ln_inv / Et
        else:
            for j in range(p):
                mu[j] = (c[j] - Ln[j] @ mu + Ln[j, j] * mu[j]) / Ln[j, j]
            Sigma = np.diag(1.0 / (Et * np.diag(Ln)))
        b_new = d["b0"] + 0.5 * _expected_Q(d, mu, Sigma)
        hist.append(elbo_gamma(mu, Sigma, a, b_new, *([None] * 6), prepared=d))
        change = abs(b_new - b) / b
        b = b_new
        if family == "factorised":
            change = max(change, float(np.max(np.abs(Ln @ mu - c)) / max(1.0, float(np.max(np.abs(c))))))
        if change <= tol or (len(hist) > 2 and hist[-1] <= hist[-2] and change < 1e-12):
            converged = True
            break
    Sigma = Ln_inv * (b / a) if family == "block" else np.diag(b / (a * np.diag(Ln)))
    return MeanFieldVB(family, mu, Sigma, a, b, elbo_gamma(mu, Sigma, a, b, *([None] * 6), prepared=d), it, converged,
                       hist)


def advi_meanfield_optimum(X, y, m0, V0, a0, b0) -> dict:
    """Optimum of the mean-field ADVI family Π_j N(β_j) · N(log σ) in closed form.

    Returns ``mean_beta``, ``sd_beta``, ``mean_log_sigma`` (m), ``sd_log_sigma`` (√v), the
    same for ``log_sigma2`` (×2) and ``elbo`` (exact).
    """
    d = _prep(X, y, m0, V0, a0, b0)
    n, p = d["n"], d["p"]
    Et = (d["a0"] + 0.5 * n) / (d["b0"] + 0.5 * d["R"])
    v = 1.0 / (2.0 * (n + p + 2.0 * d["a0"]))
    m = v - 0.5 * np.log(Et)
    s = 1.0 / np.sqrt(Et * np.diag(d["Ln"]))
    elbo = elbo_advi(d["mu"], s, m, v, *([None] * 6), prepared=d)
    return {"mean_beta": d["mu"].copy(), "sd_beta": s, "mean_log_sigma": m, "sd_log_sigma": float(np.sqrt(v)),
            "mean_log_sigma2": 2.0 * m, "sd_log_sigma2": 2.0 * float(np.sqrt(v)), "E_tau": Et, "elbo": elbo}
