"""Naive mean field (CAVI) and Bethe (loopy BP) against fixed-point equations and closed forms."""
import math

import numpy as np
import pytest

from physml.inference.bethe import belief_propagation, bethe_regular_lattice
from physml.inference.lattice import couplings_from_matrix, square_lattice_couplings
from physml.inference.mean_field import coupling_matvec, mean_field, mean_field_regular_lattice
from physml.models.ising import (
    K_CRITICAL, K_CRITICAL_BETHE, K_CRITICAL_MEAN_FIELD, enumerate_ising, onsager_log_partition_per_spin,
)


def test_mean_field_fixed_point_and_bound_general_couplings():
    rng = np.random.default_rng(0)
    J = 0.3 * rng.normal(size=(10, 10))
    J = np.triu(J, 1) + np.triu(J, 1).T
    c = couplings_from_matrix(J, rng.normal(scale=0.3, size=10))
    res = mean_field(c, init=0.1, damping=0.5)
    assert res.converged
    assert np.max(np.abs(res.magnetisation - np.tanh(c.field + J @ res.magnetisation))) < 1e-10
    assert res.free_energy >= -enumerate_ising(c)["log_z"]  # Gibbs-Bogoliubov
    assert np.all(np.diff(res.history) <= 1e-12) or res.history[-1] <= res.history[0]


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
