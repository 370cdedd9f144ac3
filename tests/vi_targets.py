"""Shared models for the VI tests and benchmark (no tests here): posteriordb sblrc, a conjugate regression, a Gaussian;
exact −ELBO of a Gaussian q (KL between Gaussians; sblrc's ``blr`` in closed form) and the exact optimum of a
Gaussian family found by minimising it."""
from __future__ import annotations

import json

import numpy as np
import pymc as pm

from paths import POSTERIORDB  # noqa: E402


def sblrc_data():
    """posteriordb sblrc: (X, y)."""
    d = json.loads((POSTERIORDB / "sblrc.json").read_text())
    return np.asarray(d["X"], float), np.asarray(d["y"], float)


def sblrc():
    """posteriordb sblrc (blr): model, reference draws of (beta, log sigma) (unconstrained)."""
    X, y = sblrc_data()
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, 10.0, shape=X.shape[1])
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("y", X @ beta, sigma, observed=y)
    r = json.loads((POSTERIORDB / "sblrc-blr.draws.json").read_text())
    ref = np.column_stack([np.ravel(r[f"beta[{i}]"]) for i in range(1, X.shape[1] + 1)]
                          + [np.log(np.ravel(r["sigma"]))])
    return model, ref


def meanfield_optimum_from_draws(ref):
    """Mean-field optimum for a near-Gaussian posterior: sd_i = 1/sqrt(Lambda_ii), Lambda = Cov^-1."""
    return 1.0 / np.sqrt(np.diag(np.linalg.inv(np.cov(ref.T))))


def conjugate_regression(n=100, p=5, rho=0.95, seed=0):
    """Conjugate NIG regression with strongly correlated predictors: (model, arrays)."""
    rng = np.random.default_rng(seed)
    C = rho * np.ones((p, p)) + (1 - rho) * np.eye(p)
    X = rng.multivariate_normal(np.zeros(p), C, size=n)
    beta_true = np.linspace(-1.0, 1.0, p)
    y = X @ beta_true + 0.5 * rng.standard_normal(n)
    m0, V0, a0, b0 = np.zeros(p), 4.0 * np.eye(p), 3.0, 2.0
    with pm.Model() as model:
        sigma2 = pm.InverseGamma("sigma2", alpha=a0, beta=b0)
        beta = pm.MvNormal("beta", mu=m0, cov=sigma2 * V0)
        pm.Normal("y", X @ beta, pm.math.sqrt(sigma2), observed=y)
    return model, dict(X=X, y=y, m0=m0, V0=V0, a0=a0, b0=b0)


def correlated_gaussian(d=5, rho=0.9, seed=0):
    """MvNormal target with correlation rho and unequal scales: (model, mean, cov)."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(-3, 1, size=d))
    R = rho ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    cov = R * np.outer(scales, scales)
    mean = rng.normal(size=d)
    with pm.Model() as model:
        pm.MvNormal("x", mu=mean, cov=cov)
    return model, mean, cov


# ---------------------------------------------------------------------------------------------
# exact -ELBO of a Gaussian q (no Monte Carlo) and the exact optimum of a Gaussian family
# ---------------------------------------------------------------------------------------------

def gaussian_kl(mean_q, cov_q, mean_p, cov_p) -> float:
    """KL(N(mean_q, cov_q) ‖ N(mean_p, cov_p)) = ½[tr(Λ cov_q) − d + δᵀΛδ + ln det cov_p − ln det cov_q].

    Λ = cov_p⁻¹, δ = mean_q − mean_p.
    """
    lam = np.linalg.inv(cov_p)
    delta = np.asarray(mean_q) - np.asarray(mean_p)
    return 0.5 * float(np.trace(lam @ cov_q) - len(delta) + delta @ lam @ delta
                       + np.linalg.slogdet(cov_p)[1] - np.linalg.slogdet(cov_q)[1])


def blr_neg_elbo(X, y, mean, cov, beta_sd=10.0, sigma_sd=10.0) -> float:
    r"""Exact −ELBO of q = N(mean, cov) over θ = (β, ω = ln σ) for posteriordb's ``blr``.

    :math:`\ln p(θ, y) = \sum_j \ln N(β_j; 0, s_β) + \ln \mathrm{HalfNormal}(e^ω; s_σ) + ω
    + \sum_n [-\tfrac12\ln 2\pi - ω - \tfrac12 e^{-2ω}(y_n - x_nβ)^2]`. Its expectation under a Gaussian
    q is closed form: :math:`E e^{2ω} = e^{2μ_ω + 2Σ_{ωω}}` and, tilting q by :math:`e^{-2ω}`,
    :math:`E[e^{-2ω}\|y - Xβ\|^2] = e^{-2μ_ω + 2Σ_{ωω}}(\|y - X\tilde m\|^2 + \mathrm{tr}\,X Σ_{ββ} X^\top)`
    with :math:`\tilde m = μ_β - 2Σ_{βω}`. Entropy :math:`\tfrac12\ln\det(2\pi e\,Σ)`.
    """
    X, y, mean, cov = (np.asarray(a, dtype=float) for a in (X, y, mean, cov))
    n, p = X.shape
    mu_b, mu_w, s_bb, s_ww = mean[:p], mean[p], cov[:p, :p], cov[p, p]
    tilted = mu_b - 2.0 * cov[:p, p]
    e_sq_resid = np.exp(-2.0 * mu_w + 2.0 * s_ww) * (np.sum((y - X @ tilted) ** 2) + np.trace(X @ s_bb @ X.T))
    log2pi = np.log(2 * np.pi)
    e_log_prior_beta = -0.5 * p * (log2pi + 2 * np.log(beta_sd)) - (mu_b @ mu_b + np.trace(s_bb)) / (2 * beta_sd ** 2)
    e_log_prior_sigma = (np.log(2.0) - 0.5 * (log2pi + 2 * np.log(sigma_sd))
                         - np.exp(2.0 * mu_w + 2.0 * s_ww) / (2 * sigma_sd ** 2) + mu_w)
    e_log_lik = -0.5 * n * log2pi - n * mu_w - 0.5 * e_sq_resid
    entropy = 0.5 * ((p + 1) * (1.0 + log2pi) + np.linalg.slogdet(cov)[1])
    return float(-(e_log_prior_beta + e_log_prior_sigma + e_log_lik + entropy))


def gaussian_family_optimum(neg_elbo, family, center, chol0):
    """Minimise the exact −ELBO(mean, cov) over the mean-field or full-rank Gaussian family.

    Coordinates are whitened by a rough guess (``center``, ``chol0``) so BFGS sees an O(1) problem:
    mean = center + chol0 u; mean-field sds = sqrt(diag(chol0 chol0ᵀ)) e^w; full-rank cov = A Aᵀ with
    A = chol0 T, T lower triangular with a log diagonal. Returns (mean, cov).
    """
    import scipy.optimize as so

    d = len(center)
    tril = np.tril_indices(d)
    diag_pos = np.flatnonzero(tril[0] == tril[1])
    s0 = np.sqrt(np.sum(chol0 ** 2, axis=1))

    def unpack(x):
        mean = center + chol0 @ x[:d]
        if family == "meanfield":
            return mean, np.diag((s0 * np.exp(x[d:])) ** 2)
        vals = x[d:].copy()
        vals[diag_pos] = np.exp(vals[diag_pos])
        T = np.zeros((d, d))
        T[tril] = vals
        A = chol0 @ T
        return mean, A @ A.T

    n_cov = d if family == "meanfield" else tril[0].size
    res = so.minimize(lambda x: neg_elbo(*unpack(x)), np.zeros(d + n_cov), method="BFGS", options={"gtol": 1e-9})
    return unpack(res.x)
