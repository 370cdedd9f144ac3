"""Random ReLU features (models/relu_features.py): the Gaussian-equivalent coefficients by quadrature, the
arc-cosine kernel and the exact risk, the Gaussian-equivalence theory against Monte Carlo, bad input."""
import math

import numpy as np
import pytest
from seeding import seed, seeds
from statcheck import threshold
from threadpoolctl import threadpool_limits

from physml.models import relu_features as rl


def test_gaussian_equivalent_coefficients():
    c = rl.gaussian_equivalent_coefficients()
    assert abs(c["mu0"] - 1 / math.sqrt(2 * math.pi)) < 1e-10 and abs(c["mu1"] - 0.5) < 1e-10
    assert abs(c["mu_star2"] - (0.5 - 1 / (2 * math.pi) - 0.25)) < 1e-10
    assert abs(rl.MU_STAR2 - c["mu_star2"]) < 1e-10


def test_kernel_special_angles_and_exact_risk():
    w = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    k = rl.relu_kernel(w)
    np.testing.assert_allclose(k[0, :], [0.5 - rl.MU0**2, 0.5 - rl.MU0**2, 0.0, -rl.MU0**2], atol=1e-12)
    # the exact risk against a test set (one z-test, failure probability 1e-5)
    rng = np.random.default_rng(seed(11))
    prob = rl.sample_relu_problem(50, 30, 6, 1.0, 0.3, rng)
    theta = rng.standard_normal(30) * 0.2
    x = rng.standard_normal((200_000, 6))
    err = ((np.maximum(x @ prob["W"].T, 0) - rl.MU0) @ theta - x @ prob["beta"]) ** 2
    z = (err.mean() - rl.relu_excess_risk(theta, prob["W"], prob["beta"])) / (err.std() / math.sqrt(err.size))
    assert abs(z) < threshold(1), z


@pytest.mark.parametrize("gamma", [0.3, 1.0, 4.0])
def test_spectral_measure_is_normalised(gamma):
    lam, dh, dg, fitted = rl.spectral_measures(gamma / 0.5, 1.0)
    assert abs(dh.sum() - 1.0) < 1e-10 and np.all(lam >= rl.MU_STAR2 - 1e-15) and 0 < fitted < 1


def test_theory_against_monte_carlo():
    """n = 300, d = 150: mean exact risk over 10 data sets at γ = 0.5 and 3 within threshold(2) se of the n = ∞
    theory (the finite-size bias is ~ 1 se here)."""
    n, d, z = 300, 150, []
    with threadpool_limits(1):
        for gamma, s in zip((0.5, 3.0), seeds(700, 2)):
            rng = np.random.default_rng(s)
            risks = [rl.relu_minnorm_risk(rl.sample_relu_problem(n, round(gamma * n), d, 1.0, 0.5, rng))
                     for _ in range(10)]
            theory = rl.relu_minnorm_risk_theory(gamma, d / n, 1.0, 0.25)
            z.append((np.mean(risks) - theory) / (np.std(risks, ddof=1) / math.sqrt(10)))
    assert max(map(abs, z)) < threshold(2), z


def test_theory_shape():
    g = np.array([0.2, 0.9, 0.99, 1.0, 1.01, 1.2, 10.0])
    r = rl.relu_minnorm_risk_theory(g, 0.5, 1.0, 0.25)
    assert np.isinf(r[3]) and r[2] > r[1] > r[0] and r[4] > r[5] > r[6] > 0  # the interpolation peak at γ = 1


def test_bad_input():
    rng = np.random.default_rng(0)
    for kw in (dict(n=1), dict(p=0), dict(d=0), dict(sigma=-1.0), dict(r=math.nan), dict(n=2.5)):
        args = dict(n=10, p=5, d=3, r=1.0, sigma=0.5) | kw
        with pytest.raises(ValueError):
            rl.sample_relu_problem(rng=rng, **args)
    for kw in (dict(gamma=0.0), dict(gamma=math.nan), dict(delta=0.0), dict(sigma2=-1.0), dict(r2=math.inf)):
        args = dict(gamma=0.5, delta=0.5, r2=1.0, sigma2=0.25) | kw
        with pytest.raises(ValueError):
            rl.relu_minnorm_risk_theory(**args)
