"""Naive mean field (CAVI) and Bethe (loopy BP) against fixed-point equations and closed forms."""
import math

import numpy as np
import pytest
from meanfield_kl import meanfield_kl_by_enumeration
from seeding import seed

from physml.inference.spins.bethe import belief_propagation, bethe_regular_lattice
from physml.inference.spins.lattice import couplings_from_matrix, square_lattice_couplings
from physml.inference.spins.mean_field import coupling_matvec, mean_field, mean_field_regular_lattice
from physml.models.ising import (
    K_CRITICAL, K_CRITICAL_BETHE, K_CRITICAL_MEAN_FIELD, enumerate_ising, onsager_log_partition_per_spin,
)


def test_mean_field_fixed_point_and_bound_general_couplings():
    """Fixed point, Gibbs–Bogoliubov as an identity (gap = KL by enumeration) and monotone damped updates.

    The damped parallel update m ← m + η (tanh(h + Km) − m) lowers F_MF at every step when
    1 + η λ_min(K) ≥ 0: with t = tanh(h + Km), convexity of the negative entropy φ (φ'' ≥ 1) gives
    F(m') − F(m) ≤ −η [D_φ(m, t) + ½ η (t − m)ᵀK(t − m)] ≤ −½ η (1 + η λ_min) |t − m|².
    η is chosen inside that range, so the history must not rise beyond round-off.
    """
    rng = np.random.default_rng(seed(0))
    J = 0.3 * rng.normal(size=(10, 10))
    J = np.triu(J, 1) + np.triu(J, 1).T
    c = couplings_from_matrix(J, rng.normal(scale=0.3, size=10))
    eta = min(0.5, 0.9 / max(-np.linalg.eigvalsh(J).min(), 1e-12))
    res = mean_field(c, init=0.1, damping=eta)
    assert res.converged
    m = res.magnetisation
    assert np.max(np.abs(m - np.tanh(c.field + J @ m))) < 1e-10
    assert np.all(np.diff(res.history) <= 1e-12 * max(1.0, abs(res.free_energy))), np.diff(res.history).max()
    # F_MF from the closed form equals E_q[E] − H[q] summed over 2^10 states; the gap to the exact
    # F = −ln Z is KL(q‖p) (> 0), both sides computed independently of the library's routines
    ref = meanfield_kl_by_enumeration(J, c.field, m)
    log_z = enumerate_ising(c)["log_z"]
    assert res.free_energy == pytest.approx(ref["free_energy"], rel=1e-12, abs=1e-12)
    assert log_z == pytest.approx(ref["log_z"], rel=1e-12)
    assert res.free_energy + log_z == pytest.approx(ref["kl"], rel=1e-9, abs=1e-12)
    assert ref["kl"] > 1e-3


def test_parallel_updates_outside_the_damping_range_can_raise_f():
    """The monotonicity condition above is needed: an antiferromagnetic pair (λ_min = −2) with η = 1
    oscillates, and its first undamped parallel step raises F_MF."""
    c = couplings_from_matrix(np.array([[0.0, -2.0], [-2.0, 0.0]]), np.zeros(2))
    res = mean_field(c, init=0.5, damping=1.0, max_iter=5)
    assert res.history[1] > res.history[0] + 0.1
    assert not res.converged


def test_mean_field_critical_coupling_quarter():
    assert K_CRITICAL_MEAN_FIELD == 0.25
    below = mean_field(square_lattice_couplings(8, 0.245))
    above = mean_field(square_lattice_couplings(8, 0.255))
    assert below.abs_magnetisation < 1e-6 and above.abs_magnetisation > 0.1
    m, _ = mean_field_regular_lattice(0.255)
    assert abs(above.abs_magnetisation - m) < 1e-9


@pytest.mark.parametrize("K,mf_err,bethe_err", [(0.1, -1.0e-2, -1.0e-4), (0.3, -7.3e-2, -8.7e-3),
                                                (K_CRITICAL, -1.6e-2, -4.5e-3), (0.6, -1.6e-3, -1.3e-4)])
def test_reference_sheet_errors_vs_onsager(K, mf_err, bethe_err):
    """ln Z/N(approx) - exact to the two significant digits of the reference table (half a last digit)."""
    exact = onsager_log_partition_per_spin(K)
    c = square_lattice_couplings(8, K)
    mf = -mean_field(c).free_energy / 64 - exact
    bp = -belief_propagation(c).free_energy / 64 - exact
    assert abs(mf - mf_err) <= 0.05 * 10 ** math.floor(math.log10(abs(mf_err)))
    assert abs(bp - bethe_err) <= 0.05 * 10 ** math.floor(math.log10(abs(bethe_err)))


@pytest.mark.parametrize("K", [0.2, 0.34, 0.36, 0.5])
def test_bp_on_torus_equals_closed_form_bethe(K):
    """On an L >= 3 torus BP's homogeneous fixed point is the infinite-lattice Bethe solution."""
    res = belief_propagation(square_lattice_couplings(6, K))
    m, lz = bethe_regular_lattice(K)
    assert res.converged
    assert abs(-res.free_energy / 36 - lz) < 1e-9
    assert abs(res.abs_magnetisation - abs(m)) < 1e-8


def test_bethe_critical_coupling():
    assert abs(K_CRITICAL_BETHE - 0.5 * math.log(2)) < 1e-15
    assert bethe_regular_lattice(K_CRITICAL_BETHE - 1e-3)[0] == 0.0
    assert bethe_regular_lattice(K_CRITICAL_BETHE + 1e-3)[0] > 0.01
    # paramagnetic Bethe = tree value ln 2 + (z/2) ln cosh K
    assert abs(bethe_regular_lattice(0.2)[1] - (math.log(2) + 2 * math.log(math.cosh(0.2)))) < 1e-13


def test_bethe_exact_on_a_tree():
    """BP is exact on a tree (open chain): compare with enumeration, with a field."""
    n = 8
    J = np.zeros((n, n))
    for i in range(n - 1):
        J[i, i + 1] = J[i + 1, i] = 0.2 + 0.1 * i
    c = couplings_from_matrix(J, np.linspace(-0.3, 0.3, n))
    assert abs(-belief_propagation(c).free_energy - enumerate_ising(c)["log_z"]) < 1e-10


def test_bad_damping():
    c = square_lattice_couplings(4, 0.3)
    with pytest.raises(ValueError):
        mean_field(c, damping=0.0)
    with pytest.raises(ValueError):
        belief_propagation(c, damping=1.5)
    assert coupling_matvec(c, np.ones(16)).shape == (16,)
