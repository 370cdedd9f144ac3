"""Hopfield model: Hebbian couplings against the pattern sum, the energy's overlap form, the PyMC model's density,
the AGS solver against published points and an independent root scan, the RBM identity, bad input."""

import itertools
import math

import numpy as np
import pytest
from scipy import special

from physml.models import hopfield as hop


def test_hebbian_couplings_are_the_pattern_sum():
    xi = hop.random_patterns(12, 4, 0)  # deterministic checks, no statistics
    J = np.zeros((12, 12))
    for mu in range(4):
        for i in range(12):
            for j in range(12):
                if i != j:
                    J[i, j] += xi[mu, i] * xi[mu, j] / 12
    np.testing.assert_allclose(hop.hebbian_couplings(xi), J, atol=1e-14)


def test_energy_is_minus_half_n_sum_m2_plus_half_p():
    xi = hop.random_patterns(10, 3, 1)
    s = np.array(list(itertools.product([1, -1], repeat=10)))
    m = hop.overlaps(s, xi)
    np.testing.assert_allclose(hop.hopfield_energy(s, hop.hebbian_couplings(xi)),
                               -0.5 * 10 * (m ** 2).sum(axis=1) + 1.5, atol=1e-12)


def test_pymc_model_density_is_boltzmann():
    xi = hop.random_patterns(6, 2, 2)
    T = 0.7
    model = hop.hopfield_model(xi, T)
    logp = model.compile_logp()
    J = hop.hebbian_couplings(xi)
    s = np.array(list(itertools.product([1, -1], repeat=6)))
    lp = np.array([logp({"up": ((si + 1) // 2).astype(np.int64)}) for si in s])
    np.testing.assert_allclose(lp - lp[0], -(hop.hopfield_energy(s, J) - hop.hopfield_energy(s[0], J)) / T, atol=1e-9)


def test_ags_capacity_against_published_points():
    c = hop.ags_capacity()
    assert abs(c["alpha_c"] - hop.AGS_CAPACITY_PUBLISHED) < 5e-4  # AGS 1987: 0.138
    assert abs(c["m_c"] - hop.AGS_M_AT_CAPACITY_PUBLISHED) < 5e-4  # AGS 1987: 0.967
    assert abs(hop.ags_retrieval_overlap(c["alpha_c"] * (1 - 1e-7)) - hop.AGS_M_AT_CAPACITY_PUBLISHED) < 5e-4
    assert hop.ags_retrieval_overlap(c["alpha_c"] * 1.001) == 0.0


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.13, 0.137])
def test_ags_overlap_is_the_largest_root(alpha):
    """Independent check: the largest sign change of y(√(2α) + 2/√π e^{−y²}) − erf(y) on a fine grid."""
    y = np.linspace(1e-4, 12.0, 400_001)
    f = y * (math.sqrt(2 * alpha) + 2 / math.sqrt(math.pi) * np.exp(-y * y)) - special.erf(y)
    last = np.nonzero(np.sign(f[1:]) != np.sign(f[:-1]))[0][-1]
    assert hop.ags_retrieval_overlap(alpha) == pytest.approx(float(special.erf(y[last])), abs=1e-4)


def test_ags_curve_decreases():
    m = [hop.ags_retrieval_overlap(a) for a in np.linspace(0.0, 0.137, 30)]
    assert np.all(np.diff(m) <= 0) and m[0] == 1.0 and m[-1] < m[10] < 1.0


def test_finite_temperature_rs_limits():
    """T → 0: the T = 0 AGS overlap; α = 0: Curie–Weiss m = tanh(m/T); small α: T_M ≈ 1 − 1.95√α (AGS 1985)."""
    from scipy import optimize

    for alpha in (0.05, 0.1):
        assert hop.ags_finite_temperature(alpha, 0.004)["m"] == pytest.approx(hop.ags_retrieval_overlap(alpha), abs=1e-3)
    m_cw = optimize.brentq(lambda m: m - math.tanh(m / 0.5), 0.1, 1.0)
    assert hop.ags_finite_temperature(0.0, 0.5)["m"] == pytest.approx(m_cw, abs=1e-10)
    assert (1 - hop.ags_retrieval_temperature(1e-4, tol=1e-6)) / 1e-2 == pytest.approx(1.95, abs=0.08)
    t_m = [hop.ags_retrieval_temperature(a) for a in (0.0, 0.05, 0.1, 0.13)]
    assert t_m[0] == pytest.approx(1.0, abs=2e-3) and np.all(np.diff(t_m) < 0) and t_m[-1] < 0.25


def test_rbm_with_gaussian_hidden_units_summed_out_is_hopfield():
    n, p = 8, 3
    xi = hop.random_patterns(n, p, 5)
    J = hop.hebbian_couplings(xi)
    s = np.array(list(itertools.product([1, -1], repeat=n)))
    marginal = np.array([hop.rbm_marginal_log_weight(si, xi) for si in s[::7]])
    np.testing.assert_allclose(marginal + hop.hopfield_energy(s[::7], J), p / 2 * math.log(2 * math.pi) + p / 2,
                               atol=1e-8)


def test_symmetric_mixture():
    xi = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [1, 1, 1, -1]])
    np.testing.assert_array_equal(hop.symmetric_mixture(xi), [1, 1, 1, -1])


@pytest.mark.parametrize("call,match", [
    (lambda: hop.random_patterns(1, 2, 0), "N must be"),
    (lambda: hop.random_patterns(10, 0, 0), "P must be"),
    (lambda: hop.hebbian_couplings([[1, 0, 1]]), r"\{-1, \+1\}"),
    (lambda: hop.hebbian_couplings([[1]]), "N .* must be >= 2"),
    (lambda: hop.hebbian_couplings(np.ones((0, 4))), "P .* must be >= 1"),
    (lambda: hop.hopfield_energy([1, 1], [[0, 1], [0.5, 0]]), "symmetric"),
    (lambda: hop.hopfield_energy([1, 1], [[1, 1], [1, 0]]), "zero diagonal"),
    (lambda: hop.hopfield_couplings([[1, -1]], 0.0), "T must be"),
    (lambda: hop.ags_retrieval_overlap(-0.1), "alpha must be"),
    (lambda: hop.ags_finite_temperature(0.1, 0.0), "T must be"),
    (lambda: hop.ags_retrieval_temperature(0.2), "alpha must be"),
    (lambda: hop.symmetric_mixture([[1, -1], [1, 1]]), "which must"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
