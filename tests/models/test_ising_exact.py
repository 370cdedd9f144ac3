"""Exact Ising references: Kaufman vs enumeration and transfer matrix, Onsager, Yang, bad input."""
import math

import numpy as np
import pytest

from physml.inference.spins.lattice import couplings_from_matrix, square_lattice_couplings
from physml.models.ising import (
    K_CRITICAL, IsingSpec, enumerate_ising, ising_couplings, ising_model, kaufman_observables,
    log_partition_kaufman, log_partition_transfer_matrix, onsager_energy_per_spin,
    onsager_log_partition_per_spin, yang_magnetisation,
)

KS = (0.1, 0.3, K_CRITICAL, 0.6)


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("K", KS)
def test_kaufman_matches_enumeration(L, K):
    assert abs(log_partition_kaufman(L, K) - enumerate_ising(ising_couplings(L, K))["log_z"]) < 1e-10


@pytest.mark.parametrize("L", [3, 5, 6, 8])
@pytest.mark.parametrize("K", KS)
def test_kaufman_matches_transfer_matrix(L, K):
    assert abs(log_partition_kaufman(L, K) - log_partition_transfer_matrix(L, L, K)) < 1e-10


@pytest.mark.parametrize("rows,cols", [(3, 5), (6, 4)])
def test_kaufman_rectangular_matches_transfer_matrix(rows, cols):
    for K in KS:
        assert abs(log_partition_kaufman(cols, K, rows=rows) - log_partition_transfer_matrix(cols, rows, K)) < 1e-10


@pytest.mark.parametrize("L,K", [(64, 0.1), (64, 0.3), (64, 0.6), (16, 0.1)])
def test_kaufman_per_spin_approaches_onsager(L, K):
    """Kaufman's finite-torus product against Onsager's infinite-lattice integral (an independent formula,
    Onsager, Phys. Rev. 65, 117 (1944)), where the finite-size gap is negligible: away from K_c the
    correlation length ξ ≪ L, so ln Z_L/N = f_∞ up to O(e^{−L/ξ}); below K_c that is all, above K_c the
    two ordered states add ln 2 to ln Z (Ferdinand & Fisher, Phys. Rev. 185, 832 (1969)).  The signed γ₀
    matters here too: with |γ₀| the K < K_c values would be off by 0.3–0.7 nats (tested at L ≤ 4 by
    enumeration above)."""
    n = L * L
    expected = onsager_log_partition_per_spin(K) + (math.log(2) / n if K > K_CRITICAL else 0.0)
    assert abs(log_partition_kaufman(L, K) / n - expected) < 1e-11


def test_kaufman_critical_torus_finite_size_term():
    """At K_c, ln Z_L − L² f_∞ → ln[(θ₂ + θ₃ + θ₄)/(2η)] at τ = i (Ferdinand & Fisher 1969), computed
    here from the Jacobi theta functions' product forms with q = e^{−π}; L = 256 within 1e-5."""
    q = math.exp(-math.pi)
    k = np.arange(1, 200)
    theta2 = 2 * q ** 0.25 * np.prod((1 - q ** (2 * k)) * (1 + q ** (2 * k)) ** 2)
    theta3 = np.prod((1 - q ** (2 * k)) * (1 + q ** (2 * k - 1)) ** 2)
    theta4 = np.prod((1 - q ** (2 * k)) * (1 - q ** (2 * k - 1)) ** 2)
    eta = q ** (1 / 12) * np.prod(1 - q ** (2 * k))
    limit = math.log((theta2 + theta3 + theta4) / (2 * eta))
    L = 256
    gap = log_partition_kaufman(L, K_CRITICAL) - L * L * onsager_log_partition_per_spin(K_CRITICAL)
    assert abs(gap - limit) < 1e-5, (gap, limit)


def test_kaufman_derivatives_match_enumeration():
    for K in (0.3, K_CRITICAL):
        ex = enumerate_ising(ising_couplings(4, K))
        ko = kaufman_observables(4, K)
        assert abs(ko["energy_per_spin"] - ex["energy_per_spin"]) < 1e-8
        assert abs(ko["specific_heat_per_spin"] - ex["specific_heat_per_spin"]) < 1e-6


def test_onsager_and_yang():
    catalan = 0.915965594177219015
    assert abs(onsager_log_partition_per_spin(K_CRITICAL) - (0.5 * math.log(2) + 2 * catalan / math.pi)) < 1e-10
    assert onsager_energy_per_spin(K_CRITICAL) == pytest.approx(-math.sqrt(2), abs=1e-12)
    assert abs(onsager_log_partition_per_spin(0.3) - 0.790559070951) < 1e-11
    assert abs(yang_magnetisation(0.5) - 0.911319) < 1e-6 and abs(yang_magnetisation(0.6) - 0.973609) < 1e-6
    assert yang_magnetisation(0.4) == 0.0
    # large-L Kaufman approaches Onsager: energy at L = 256 vs infinite lattice (finite size ~ 1/L)
    assert abs(kaufman_observables(256, 0.3)["energy_per_spin"] - onsager_energy_per_spin(0.3)) < 1e-8


def test_enumeration_general_matrix_and_field():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(6, 6))
    J = np.triu(J, 1) + np.triu(J, 1).T
    h = rng.normal(size=6)
    ex = enumerate_ising(couplings_from_matrix(J, h))
    s = 1 - 2 * ((np.arange(64)[:, None] >> np.arange(6)) & 1)
    lw = 0.5 * np.einsum("ki,ij,kj->k", s, J, s) + s @ h
    assert abs(ex["log_z"] - np.log(np.exp(lw).sum())) < 1e-12


@pytest.mark.parametrize("bad", [
    lambda: ising_couplings(1, 0.3), lambda: ising_couplings(4, float("nan")), lambda: ising_couplings(4, float("inf")),
    lambda: ising_couplings(4, 0.3, h=np.zeros(5)), lambda: ising_couplings(4, 0.3, boundary="twisted"),
    lambda: couplings_from_matrix(np.array([[0, 1.0], [0.5, 0]])), lambda: couplings_from_matrix(np.eye(3)),
    lambda: IsingSpec(L=1), lambda: IsingSpec(K=float("nan")), lambda: log_partition_kaufman(4, -0.1),
    lambda: ising_model(L=0), lambda: enumerate_ising(square_lattice_couplings(5, 0.1)),
])
def test_bad_input_raises_value_error(bad):
    with pytest.raises(ValueError):
        bad()
