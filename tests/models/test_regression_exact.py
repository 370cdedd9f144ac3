"""The exact NIG posterior and evidence against direct numerical integration."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate

from paths import POSTERIORDB
from physml.models import regression as reg


@pytest.fixture(scope="module")
def tiny():
    X = np.array([[0.3], [-1.2], [0.8]])
    y = np.array([0.5, -1.0, 1.4])
    data = reg.RegressionData(X, y, ("x1",))
    prior = reg.ConjugatePrior(1, v0=2.0, a0=3.0, b0=1.5, m0=np.array([0.2]))
    return data, prior


def _joint(beta, s2, data, prior):
    """p(y, β, σ²) written out directly from the model's three densities (plain math: this is
    called ~10⁵ times by the quadrature)."""
    x, y = data.X[:, 0], data.y
    log_like = -0.5 * len(y) * math.log(2 * math.pi * s2) - 0.5 * float(np.sum((y - x * beta) ** 2)) / s2
    v = s2 * prior.V0[0, 0]
    log_pb = -0.5 * math.log(2 * math.pi * v) - 0.5 * (beta - prior.m0[0]) ** 2 / v
    a, b = prior.a0, prior.b0
    log_ps = a * math.log(b) - math.lgamma(a) - (a + 1) * math.log(s2) - b / s2
    return math.exp(log_like + log_pb + log_ps)


def _integrate(f):
    return integrate.dblquad(f, 1e-6, 60, -15, 15, epsabs=0, epsrel=1e-10)[0]


def test_evidence_matches_quadrature(tiny):
    data, prior = tiny
    z = _integrate(lambda b, s2: _joint(b, s2, data, prior))
    assert_allclose(reg.log_evidence_exact(data, prior), math.log(z), atol=1e-7)
    assert_allclose(reg.log_evidence_student_t(data, prior), math.log(z), atol=1e-7)


def test_posterior_moments_match_quadrature(tiny):
    data, prior = tiny
    z = _integrate(lambda b, s2: _joint(b, s2, data, prior))

    def moment(f):
        return _integrate(lambda b, s2: f(b, s2) * _joint(b, s2, data, prior)) / z
    m = reg.nig_posterior(data, prior).moments()
    mean_b = moment(lambda b, s2: b)
    assert_allclose(m["beta[x1]"]["mean"], mean_b, rtol=1e-6)
    assert_allclose(m["beta[x1]"]["sd"], math.sqrt(moment(lambda b, s2: b * b) - mean_b**2), rtol=1e-5)
    mean_s = moment(lambda b, s2: math.sqrt(s2))
    assert_allclose(m["sigma"]["mean"], mean_s, rtol=1e-6)
    assert_allclose(m["sigma"]["sd"], math.sqrt(moment(lambda b, s2: s2) - mean_s**2), rtol=1e-5)


def test_exact_draws_have_exact_moments(conjugate_case):
    """The reference draws are iid from the exact posterior: means within 4 standard errors."""
    ref = conjugate_case["reference"]
    n = ref.posterior["posterior"].sizes["chain"] * ref.posterior["posterior"].sizes["draw"]
    exact = conjugate_case["posterior"].moments()
    beta = ref.posterior["posterior"]["beta"].values.reshape(n, -1)
    for j, name in enumerate(conjugate_case["data"].predictors):
        m = exact[f"beta[{name}]"]
        assert abs(beta[:, j].mean() - m["mean"]) < 4 * m["sd"] / math.sqrt(n)


def test_synthetic_data_is_seeded_and_correlated():
    a, b = reg.synthetic_data(seed=3), reg.synthetic_data(seed=3)
    assert_allclose(a.X, b.X)
    assert np.corrcoef(a.X.T)[0, 1] > 0.8


@pytest.mark.parametrize("kwargs, match", [
    ({"X": np.ones((1, 2)), "y": np.ones(1)}, "at least 2 rows"),
    ({"X": np.array([[1.0], [np.nan]]), "y": np.ones(2)}, "finite"),
    ({"X": np.ones((3, 1)), "y": np.ones(2)}, "one value per row"),
])
def test_bad_data(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reg.RegressionData(predictors=("a",) * kwargs["X"].shape[1], **kwargs)


@pytest.mark.parametrize("field", ["v0", "a0", "b0"])
def test_bad_prior(field):
    with pytest.raises(ValueError, match=field):
        reg.ConjugatePrior(2, **{field: -1.0})


def test_independent_prior_evidence_by_quadrature():
    """posteriordb blr's evidence (β integrated out by the eigen-form, 1-D quadrature over ln σ) against
    a dense path: y | σ ~ N(0, σ² I + s² X Xᵀ) by scipy's multivariate normal, quadrature over σ."""
    from scipy import stats

    data = reg.synthetic_data()
    prior = reg.IndependentPrior(beta_sd=2.0, sigma_sd=1.5)
    fast = reg.log_evidence_independent(data, prior)
    cov_beta = prior.beta_sd**2 * data.X @ data.X.T

    def integrand(s):
        return math.exp(stats.multivariate_normal(np.zeros(data.n), s * s * np.eye(data.n) + cov_beta).logpdf(data.y)
                        + stats.halfnorm(scale=prior.sigma_sd).logpdf(s) - fast)

    val, _ = integrate.quad(integrand, 0.0, 20.0, limit=200, epsrel=1e-12)
    assert abs(math.log(val)) < 1e-9
    # the sblrc value the free-energy tests use as their independent reference
    sblrc = reg.load_data(POSTERIORDB / "sblrc.json")
    assert -reg.log_evidence_independent(sblrc, reg.IndependentPrior()) == pytest.approx(194.96759, abs=1e-5)
