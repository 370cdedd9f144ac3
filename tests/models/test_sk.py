"""SK model: enumeration (ln Z, energy, P(q)) against brute force, the Walsh–Hadamard transform, the annealed
formula against the finite-N average of Z, the replica-symmetric solution against its known limits."""

import itertools
import math

import numpy as np
import pytest

from physml.models import sk

from seeding import seeds


def brute_force(c):
    s = np.array(list(itertools.product([1, -1], repeat=c.n_spins)), dtype=float)
    lw = c.log_weight(s)
    log_z = np.logaddexp.reduce(lw)
    p = np.exp(lw - log_z)
    q = s @ s.T / c.n_spins
    levels = np.round(q * c.n_spins).astype(int)
    p_q = np.bincount((levels + c.n_spins).ravel() // 2, weights=np.outer(p, p).ravel(), minlength=c.n_spins + 1)
    return log_z, float(p @ lw) / c.n_spins, p_q, p @ s


@pytest.mark.parametrize("n,T,h", [(5, 0.7, 0.0), (7, 0.4, 0.3), (8, 1.5, -0.2)])
def test_enumeration_matches_brute_force(n, T, h):
    c = sk.sk_couplings(sk.SKSpec(n=n, T=T, h=h, sample_seed=3))
    ex = sk.enumerate_sk(c, block_size=37)  # blocks that do not divide 2^N
    log_z, lw_mean, p_q, mag = brute_force(c)
    assert ex["log_z"] == pytest.approx(log_z, abs=1e-10)
    assert ex["log_weight_per_spin"] == pytest.approx(lw_mean, abs=1e-10)
    np.testing.assert_allclose(ex["q"], (2 * np.arange(n + 1) - n) / n)
    np.testing.assert_allclose(ex["p_q"], p_q, atol=1e-12)
    np.testing.assert_allclose(ex["magnetisation"], mag, atol=1e-12)
    if h == 0:  # spin-flip symmetry: P(q) = P(-q)
        np.testing.assert_allclose(ex["p_q"], ex["p_q"][::-1], atol=1e-12)


def test_walsh_hadamard_is_the_hadamard_matrix():
    from scipy.linalg import hadamard
    x = np.random.default_rng(0).normal(size=16)  # deterministic check, no statistics
    np.testing.assert_allclose(sk.walsh_hadamard(x), hadamard(16) @ x, atol=1e-12)
    with pytest.raises(ValueError, match="power-of-two"):
        sk.walsh_hadamard(np.ones(6))


def test_couplings_are_symmetric_gaussian_with_variance_one_over_n():
    n = 400
    J = sk.sk_couplings_matrix(n, seed=1)
    assert np.allclose(J, J.T) and np.all(np.diag(J) == 0)
    upper = J[np.triu_indices(n, 1)]
    # sample variance of 79 800 iid N(0, 1/N) values: relative sd sqrt(2/79800) = 0.5 %
    assert abs(upper.var() * n - 1.0) < 0.03


def test_annealed_average_of_z_is_exact_at_finite_n():
    """E_J Z by Gauss–Hermite quadrature over each coupling is a product over pairs: check the closed form
    ln E_J Z = N ln 2 + β²(N−1)/4 on N = 3 by direct integration over the three couplings."""
    n, beta = 3, 0.8
    z, w = np.polynomial.hermite_e.hermegauss(30)
    w = w / w.sum()
    s = np.array(list(itertools.product([1, -1], repeat=n)), dtype=float)
    pairs = np.stack([s[:, a] * s[:, b] for a, b in [(0, 1), (0, 2), (1, 2)]], axis=1)  # (states, 3)
    J = np.stack(np.meshgrid(z, z, z, indexing="ij"), axis=-1).reshape(-1, 3) / math.sqrt(n)  # coupling grid
    weight = np.prod(np.stack(np.meshgrid(w, w, w, indexing="ij"), axis=-1).reshape(-1, 3), axis=1)
    total = float(weight @ np.exp(beta * J @ pairs.T).sum(axis=1))
    assert math.log(total) / n == pytest.approx(sk.annealed_log_partition_finite(n, beta), abs=1e-10)
    assert sk.annealed_log_partition_per_spin(beta) == pytest.approx(math.log(2) + beta ** 2 / 4)


def test_replica_symmetric_solution():
    hot = sk.replica_symmetric(2.0)
    assert hot["q"] == 0.0 and hot["minus_beta_f"] == pytest.approx(sk.annealed_log_partition_per_spin(0.5))
    # just below T_c = 1: q ≈ τ = 1 − T to leading order (SK 1975)
    assert sk.replica_symmetric(0.99)["q"] == pytest.approx(0.01, rel=0.1)
    for T in (0.8, 0.5, 0.2):
        r = sk.replica_symmetric(T)
        beta, q = 1 / T, r["q"]
        z = np.linspace(-12, 12, 200_001)  # the fixed point by a fine trapezoid rule (independent quadrature)
        gauss = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        assert q == pytest.approx(float(np.trapezoid(np.tanh(beta * math.sqrt(q) * z) ** 2 * gauss, z)), abs=1e-8)
        # thermodynamic consistency: u = -d(-βf)/dβ by a central difference in β
        d = 1e-4
        du = (sk.replica_symmetric(1 / (beta + d))["minus_beta_f"]
              - sk.replica_symmetric(1 / (beta - d))["minus_beta_f"]) / (2 * d)
        assert r["energy"] == pytest.approx(-du, abs=1e-5)
    # zero-temperature limit, linear extrapolation in T from T = 0.01, 0.005
    s1, s2 = sk.replica_symmetric(0.01)["entropy"], sk.replica_symmetric(0.005)["entropy"]
    assert 2 * s2 - s1 == pytest.approx(-1 / (2 * math.pi), abs=2e-3)
    assert sk.replica_symmetric(0.005)["energy"] == pytest.approx(-math.sqrt(2 / math.pi), abs=1e-3)


@pytest.mark.parametrize("kwargs", [{"n": 1}, {"n": 2.5}, {"T": 0.0}, {"T": float("nan")}, {"h": float("inf")}])
def test_bad_spec_raises(kwargs):
    with pytest.raises(ValueError):
        sk.SKSpec(**kwargs)


def test_model_carries_couplings_and_enumeration_limit():
    from physml.inference.spins.lattice import couplings_of
    spec = sk.SKSpec(n=6, T=0.5, h=0.1, sample_seed=2)
    found = couplings_of(sk.sk_model(spec))
    np.testing.assert_allclose(found[0].dense_matrix(), 2.0 * sk.sk_couplings_matrix(6, 2))
    np.testing.assert_allclose(found[0].field, 0.2)
    with pytest.raises(ValueError, match="N <= 20"):
        sk.enumerate_sk(sk.sk_couplings(sk.SKSpec(n=21)))


def test_extrapolation_recovers_a_known_line_and_its_error():
    n = np.array([32, 64, 128, 256, 512])
    x = n ** (-2 / 3)
    fit = sk.extrapolate_ground_state(n, -0.76 + 0.7 * x, np.full(5, 0.001))
    assert fit["e0"] == pytest.approx(-0.76, abs=1e-12) and fit["a"] == pytest.approx(0.7, abs=1e-10)
    # se of the intercept of a weighted straight line: sqrt(Σw x² / (Σw Σw x² − (Σw x)²)) with w = 1/se²
    w = np.full(5, 1e6)
    se = np.sqrt((w * x * x).sum() / (w.sum() * (w * x * x).sum() - (w * x).sum() ** 2))
    assert fit["se"] == pytest.approx(se, rel=1e-9) and fit["chi2_per_dof"] == pytest.approx(0.0, abs=1e-12)
    assert fit["z_parisi"] == pytest.approx((-0.76 + 0.7633) / se)
    quad = sk.extrapolate_ground_state(n, -0.76 + 0.7 * x - 2.0 * x * x, np.full(5, 0.001), quadratic=True)
    assert quad["e0"] == pytest.approx(-0.76, abs=1e-10) and quad["b"] == pytest.approx(-2.0, abs=1e-6)
    with pytest.raises(ValueError, match="sizes"):
        sk.extrapolate_ground_state([32, 64], [-0.7, -0.72], [0.01, 0.01])
    with pytest.raises(ValueError, match="positive errors"):
        sk.extrapolate_ground_state([32, 64, 128], [-0.7, -0.72, -0.73], [0.01, 0.0, 0.01])


def test_binder_ratio_limits_and_energy_identity():
    z, w = np.polynomial.hermite_e.hermegauss(20)  # Gaussian q (moments by quadrature): g = 0
    q2, q4 = (w @ (0.3 * z) ** 2) / w.sum(), (w @ (0.3 * z) ** 4) / w.sum()
    assert sk.binder_ratio(q2, q4) == pytest.approx(0.0, abs=1e-12)
    assert sk.binder_ratio(0.25, 0.0625) == pytest.approx(1.0)  # q = ±1/2
    assert sk.energy_from_overlap(2.0, 0.25) == pytest.approx(-0.75)


def test_energy_identity_holds_on_the_disorder_average_by_enumeration():
    """[⟨H⟩]/N = −β(1 − [⟨q²⟩])/2 (Gaussian integration by parts): the sample average of the difference at
    N = 8, T = 0.7 over 300 samples is within 4.4 se of 0."""
    beta, diffs = 1 / 0.7, []
    for k in seeds(50_000, 300):
        ex = sk.enumerate_sk(sk.sk_couplings(sk.SKSpec(n=8, T=0.7, sample_seed=k)))
        energy = -ex["log_weight_per_spin"] / beta
        diffs.append(energy - sk.energy_from_overlap(beta, float(ex["p_q"] @ ex["q"] ** 2)))
    diffs = np.array(diffs)
    assert abs(diffs.mean()) < 4.4 * diffs.std(ddof=1) / np.sqrt(diffs.size)
