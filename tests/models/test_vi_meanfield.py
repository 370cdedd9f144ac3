"""Closed-form mean-field VB (CAVI) for the conjugate NIG regression: exact checks, no Monte Carlo."""
import numpy as np
import pytest
import scipy.optimize as so
from scipy.stats import multivariate_t
from seeding import seed

from physml.models.regression_meanfield import (advi_meanfield_optimum, block_fixed_point, cavi, elbo_advi,
                                                elbo_gamma, nig_log_evidence)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(seed(0))
    n, p = 8, 2
    X = rng.normal(size=(n, p))
    X[:, 1] = X[:, 0] + 0.3 * X[:, 1]          # correlated predictors
    y = X @ np.array([1.0, -1.0]) + rng.normal(size=n)
    return dict(X=X, y=y, m0=np.array([0.5, 0.0]), V0=np.array([[4.0, 1.0], [1.0, 2.0]]), a0=2.0, b0=1.5)


def test_evidence_matches_multivariate_t(tiny):
    # marginally y ~ t_{2 a0}(X m0, (b0/a0)(I + X V0 X^T)): an independent route to ln p(y)
    X, y = tiny["X"], tiny["y"]
    shape = tiny["b0"] / tiny["a0"] * (np.eye(len(y)) + X @ tiny["V0"] @ X.T)
    ref = multivariate_t(loc=X @ tiny["m0"], shape=shape, df=2 * tiny["a0"]).logpdf(y)
    assert nig_log_evidence(**tiny) == pytest.approx(ref, rel=1e-12, abs=1e-10)


def test_block_cavi_fixed_point_vs_closed_form_and_brute_force(tiny):
    q = cavi(**tiny, family="block")
    fp = block_fixed_point(**tiny)
    assert q.converged
    np.testing.assert_allclose(q.mu, fp.mu, rtol=1e-12)
    np.testing.assert_allclose(q.Sigma, fp.Sigma, rtol=1e-10)
    assert q.b == pytest.approx(fp.b, rel=1e-12)

    def neg(x):  # free Gaussian q(beta) (Cholesky) and Gamma q(tau)
        L = np.array([[np.exp(x[2]), 0.0], [x[3], np.exp(x[4])]])
        return -elbo_gamma(x[:2], L @ L.T, np.exp(x[5]), np.exp(x[6]), **tiny)

    res = so.minimize(neg, np.zeros(7), method="BFGS", options={"gtol": 1e-10})
    assert -res.fun == pytest.approx(q.elbo, abs=1e-8)
    assert -res.fun <= q.elbo + 1e-10                      # CAVI is the maximum
    np.testing.assert_allclose(res.x[:2], q.mu, atol=1e-5)
    assert np.exp(res.x[5]) == pytest.approx(q.a, rel=1e-4)
    assert np.exp(res.x[6]) == pytest.approx(q.b, rel=1e-4)
    # the ELBO history of CAVI never decreases
    assert np.all(np.diff(q.elbo_history) >= -1e-12 * abs(q.elbo))


def test_factorised_cavi_vs_brute_force(tiny):
    q = cavi(**tiny, family="factorised")
    assert q.converged

    def neg(x):
        return -elbo_gamma(x[:2], np.diag(np.exp(2 * x[2:4])), np.exp(x[4]), np.exp(x[5]), **tiny)

    res = so.minimize(neg, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    assert -res.fun == pytest.approx(q.elbo, abs=1e-8)
    np.testing.assert_allclose(np.exp(res.x[2:4]), q.sd_beta, rtol=1e-4)


def test_advi_family_optimum_vs_brute_force(tiny):
    o = advi_meanfield_optimum(**tiny)

    def neg(x):
        return -elbo_advi(x[:2], np.exp(x[2:4]), x[4], np.exp(x[5]), **tiny)

    res = so.minimize(neg, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    assert -res.fun == pytest.approx(o["elbo"], abs=1e-8)
    np.testing.assert_allclose(res.x[:2], o["mean_beta"], atol=1e-5)
    np.testing.assert_allclose(np.exp(res.x[2:4]), o["sd_beta"], rtol=1e-4)
    assert res.x[4] == pytest.approx(o["mean_log_sigma"], abs=1e-5)
    assert np.sqrt(np.exp(res.x[5])) == pytest.approx(o["sd_log_sigma"], rel=1e-4)


def test_elbo_ordering_and_bound(tiny):
    lz = nig_log_evidence(**tiny)
    block = cavi(**tiny, family="block").elbo
    fact = cavi(**tiny, family="factorised").elbo
    advi = advi_meanfield_optimum(**tiny)["elbo"]
    # nested families: block ⊃ factorised-Gamma; Gamma is the optimal q(tau) so factorised ≥ ADVI's
    assert advi <= fact <= block <= lz
    # the three mean-field families give the same beta sds (same E_q[tau])
    np.testing.assert_allclose(cavi(**tiny, family="factorised").sd_beta,
                               advi_meanfield_optimum(**tiny)["sd_beta"], rtol=1e-10)
