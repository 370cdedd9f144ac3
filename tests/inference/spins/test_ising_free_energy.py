"""Spin TI and AIS for −ln Z against the exact value at small L: TI within q·se (statcheck.threshold);
AIS within q·se or flagged `unreliable:` by its own checks (weights, BDMC sandwich), the flag being
part of what is tested.  Seeds through seeding.seed."""
import pytest

from physml.inference.spins.free_energy import annealed_importance_sampling, coupling_scale_ti
from physml.inference.spins.lattice import K_CRITICAL, square_lattice_couplings
from physml.inference.registry import FREE_ENERGY_ESTIMATORS
from physml.models.ising import enumerate_ising, ising_model, log_partition_kaufman

from seeding import seed
from statcheck import threshold


def within(rec, exact, n_checks=1):
    return abs(rec.value - exact) < threshold(n_checks) * rec.se


def within_or_flagged(rec, exact, n_checks=1):
    return within(rec, exact, n_checks) or rec.note.startswith("unreliable")


@pytest.mark.parametrize("sampler", ["checkerboard", "swendsen_wang"])
def test_ti_within_4_se_of_kaufman(sampler):
    c = square_lattice_couplings(6, K_CRITICAL)
    rec = coupling_scale_ti(c, n_rungs=17, draws=400, sampler=sampler, seed=seed(2))
    assert within(rec, -log_partition_kaufman(6, K_CRITICAL))


@pytest.mark.parametrize("sampler", ["heat_bath", "wolff"])
def test_ais_within_4_se_of_kaufman(sampler):
    c = square_lattice_couplings(6, K_CRITICAL)
    rec = annealed_importance_sampling(c, n_temps=300, n_runs=32, sampler=sampler, seed=seed(3))
    assert within_or_flagged(rec, -log_partition_kaufman(6, K_CRITICAL)), rec


def test_ti_and_ais_with_field_against_enumeration():
    c = square_lattice_couplings(4, 0.35, h=0.2, boundary="open")
    exact = -enumerate_ising(c)["log_z"]
    ti = coupling_scale_ti(c, n_rungs=17, draws=400, seed=seed(4))
    ais = annealed_importance_sampling(c, n_temps=300, n_runs=32, seed=seed(5))
    assert within(ti, exact, 2) and within_or_flagged(ais, exact, 2), (ti, ais)


def test_registered_estimators_and_bad_input():
    model = ising_model(4, 0.3)
    rec = FREE_ENERGY_ESTIMATORS["ising_ais"].estimate(model, None, seed=seed(1), n_temps=100, n_runs=16)
    assert rec.estimator == "ising_ais" and rec.se > 0
    c = square_lattice_couplings(4, 0.3)
    with pytest.raises(ValueError):
        coupling_scale_ti(c, n_rungs=10)
    with pytest.raises(ValueError):
        annealed_importance_sampling(c, sampler="gibbs")
    with pytest.raises(ValueError):
        annealed_importance_sampling(square_lattice_couplings(4, 0.3, h=0.1), sampler="wolff")


@pytest.mark.parametrize("allocate", ["uniform", "variance"])
def test_rao_blackwellised_ti_within_4_se(allocate):
    c = square_lattice_couplings(6, K_CRITICAL)
    rec = coupling_scale_ti(c, n_rungs=17, draws=600, seed=seed(7), allocate=allocate)
    assert "Rao-Blackwellised" in rec.note
    assert within(rec, -log_partition_kaufman(6, K_CRITICAL)), rec


def test_rao_blackwellised_ti_and_marginal_ais_with_field():
    from physml.models.ising import ising_couplings
    c = ising_couplings(4, 0.4, h=0.15)
    exact = -enumerate_ising(c)["log_z"]
    ti = coupling_scale_ti(c, n_rungs=17, draws=600, seed=seed(8), allocate="variance")
    ais = annealed_importance_sampling(c, n_temps=300, n_runs=64, seed=seed(9))
    assert "summed out" in ais.note
    assert within(ti, exact, 2) and within_or_flagged(ais, exact, 2), (ti, ais)


def test_marginal_ais_within_4_se_and_options():
    c = square_lattice_couplings(6, K_CRITICAL)
    rec, lw = annealed_importance_sampling(c, n_temps=400, n_runs=32, seed=seed(10), return_log_weights=True)
    assert lw.shape == (32,) and within_or_flagged(rec, -log_partition_kaufman(6, K_CRITICAL)), rec
    odd = square_lattice_couplings(5, 0.3)
    with pytest.raises(ValueError):
        coupling_scale_ti(odd, n_rungs=9, rao_blackwell=True)
    with pytest.raises(ValueError):
        annealed_importance_sampling(odd, marginal=True)
    with pytest.raises(ValueError):
        coupling_scale_ti(c, n_rungs=9, allocate="greedy")
