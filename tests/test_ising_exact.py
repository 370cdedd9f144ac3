"""Exact Ising references: Kaufman vs enumeration and transfer matrix, Onsager, Yang, bad input."""
import math

import numpy as np
import pytest

from physml.inference.lattice import couplings_from_matrix, square_lattice_couplings
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


def test_signed_gamma0_matters_below_kc():
    # the reference sheet's brute-force values (K < K_c is where |gamma_0| would be wrong)
    assert abs(log_partition_kaufman(4, 0.3) - 12.785523325713680) < 1e-10
    assert abs(log_partition_kaufman(3, 0.1) - 6.335415589931518) < 1e-10


@pytest.mark.parametrize("K,l16,l64", [(0.1, 0.703231242286, 0.703231242286), (0.3, 0.790559501026, 0.790559070951),
                                       (0.6, 1.212839994492, 1.210301613674)])
def test_kaufman_per_spin_reference_table(K, l16, l64):
    assert abs(log_partition_kaufman(16, K) / 256 - l16) < 1e-11
    assert abs(log_partition_kaufman(64, K) / 4096 - l64) < 1e-11


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
