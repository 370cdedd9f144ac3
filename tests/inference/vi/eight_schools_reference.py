"""Non-centred eight schools and its exact posterior by quadrature (not a test module; used by
tests/inference/vi/test_eight_schools.py and benchmarks/vi_convergence.py).

Given μ and τ the θ̃_j integrate out in closed form: y_j | μ, τ ~ N(μ, σ_j² + τ²), and θ̃_j | μ, τ, y is Gaussian
with mean τ(y_j − μ)/(σ_j² + τ²) and variance σ_j²/(σ_j² + τ²).  A 2-D grid over (μ, ln τ) (901 × 951 points,
wider than the posterior's support by orders of magnitude of its density) then gives the evidence
F = −ln p(y) and the posterior means and sds of (μ, ln τ, θ̃), the latter by the law of total variance.
"""
import functools

import numpy as np
import pymc as pm
from scipy import stats

__all__ = ["Y", "SIGMA", "eight_schools_noncentered", "exact_posterior"]

Y = np.array([28, 8, -3, 7, -1, 1, 18, 12.0])
SIGMA = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])


def eight_schools_noncentered() -> pm.Model:
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=8)
        pm.Normal("y", mu + tau * theta_tilde, SIGMA, observed=Y)
    return m


@functools.lru_cache(maxsize=None)
def exact_posterior():
    """F = −ln p(y) and the posterior means and sds of (μ, ln τ, θ̃_1..8) by quadrature (module docstring)."""
    mu = np.linspace(-40.0, 50.0, 901)[:, None]
    log_tau = np.linspace(-12.0, 7.0, 951)[None, :]
    tau = np.exp(log_tau)
    s2 = SIGMA[:, None, None] ** 2 + tau ** 2
    log_w = (stats.norm.logpdf(mu, 0, 5) + stats.halfcauchy.logpdf(tau, scale=5) + log_tau
             + np.sum(stats.norm.logpdf(Y[:, None, None], mu, np.sqrt(s2)), axis=0))
    cell = (mu[1, 0] - mu[0, 0]) * (log_tau[0, 1] - log_tau[0, 0])
    top = log_w.max()
    w = np.exp(log_w - top)
    f_exact = -(top + np.log(w.sum() * cell))
    w /= w.sum()
    tt_mean = tau * (Y[:, None, None] - mu) / s2
    tt_var = SIGMA[:, None, None] ** 2 / s2
    e = lambda f: np.sum(w * f, axis=(-2, -1))  # noqa: E731
    m_tt = e(tt_mean)
    mean = np.r_[e(mu), e(log_tau), m_tt]
    sd = np.sqrt(np.r_[e(mu ** 2) - e(mu) ** 2, e(log_tau ** 2) - e(log_tau) ** 2, e(tt_var + tt_mean ** 2) - m_tt ** 2])
    return f_exact, mean, sd
