"""Shared models for the VI tests and benchmark (no tests here): posteriordb sblrc, a conjugate regression, a Gaussian."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pymc as pm

POSTERIORDB = Path(__file__).resolve().parent / "data" / "posteriordb"  # vendored copy of posteriordb's sblrc


def sblrc():
    """posteriordb sblrc (blr): model, reference draws of (beta, log sigma) (unconstrained)."""
    d = json.loads((POSTERIORDB / "sblrc.json").read_text())
    X, y = np.asarray(d["X"], float), np.asarray(d["y"], float)
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
