"""The closed forms of the small conjugate test models (tests/fe_models.py) against quadrature."""

import numpy as np
from scipy import integrate, stats

from fe_models import ConjugateRegression, NormalMean, ti_integrand


def test_normal_mean_closed_form_matches_quadrature():
    m = NormalMean()

    def integrand(mu):
        return np.exp(stats.norm(mu, m.sigma).logpdf(m.y).sum() + stats.norm(m.m0, m.s0).logpdf(mu)
                      - m.log_z(1.0))

    val, _ = integrate.quad(integrand, -20, 20, points=[m.power_posterior(1.0)[0]])
    assert abs(val - 1.0) < 1e-8
    # E_t from finite differences equals the analytic Gaussian expectation
    t = 0.3
    mean, var = m.power_posterior(t)
    e_exact = (-0.5 * m.n * np.log(2 * np.pi * m.sigma**2)
               - (np.sum((m.y - mean) ** 2) + m.n * var) / (2 * m.sigma**2))
    assert abs(ti_integrand(m.log_z, [t])[0][0] - e_exact) < 1e-6


def test_regression_closed_form_matches_student_t_and_quadrature():
    r = ConjugateRegression()
    assert abs(r.log_z(1.0) - r.log_evidence_student_t()) < 1e-8
    # ln Z(t) at t = 0 is 0 (normalised prior)
    assert abs(r.log_z(0.0)) < 1e-12
    # 1-D check of ln Z(t) by quadrature over sigma² with beta integrated analytically
    t = 0.5
    lam0, lam, mu, a, b = r.nig(t)

    def integrand(s2):
        # ∫ N(y|Xβ,s2)^t N(β|0,s2 v0) dβ times IG(s2)
        logdet = np.linalg.slogdet(lam)[1] - np.linalg.slogdet(lam0)[1]
        quad = t * r.y @ r.y - mu @ lam @ mu
        return np.exp(-r.n * t / 2 * np.log(2 * np.pi * s2) - 0.5 * logdet - quad / (2 * s2)
                      + stats.invgamma(r.a0, scale=r.b0).logpdf(s2) - r.log_z(t))

    val, _ = integrate.quad(integrand, 1e-6, 50, limit=200)
    assert abs(val - 1.0) < 1e-6
