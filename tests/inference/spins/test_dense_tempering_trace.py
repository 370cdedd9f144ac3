"""Traced dense PT runs: the trace follows exactly the chain of ``dense_tempering_run`` (same stream, same state) and
records the coldest rung's energy and the copies' overlap as they are; round trips are counted as the Python
sampler counts them (replayed on J = 0, where every swap is accepted); the coldest-rung energy, ⟨q²⟩ and the
spin-flip symmetry P(q > 0) = ½ agree with enumeration within their MCSE, for a ladder and for the one-rung
single-temperature chain; bad input raises."""

import numpy as np
import pytest

from physml.inference.spins.dense_tempering import dense_metropolis_init, dense_tempering_init, \
    dense_tempering_run, dense_tempering_trace, geometric_ladder
from physml.inference.spins.parallel_tempering import count_round_trips
from physml.models import sk

from seeding import seed
from statcheck import assert_mcmc_mean


def _coldest(state):
    """Spins (C, N) at the last rung of every copy."""
    return state.spins[np.arange(state.spins.shape[0]), state.row[:, -1]].astype(float)


@pytest.mark.parametrize("rungs", [1, 5])
def test_trace_is_the_same_chain_as_run_and_records_it(rungs):
    J = sk.sk_couplings_matrix(12, seed(1))
    rng = np.random.default_rng(seed(2))
    start = (dense_metropolis_init(J, 2.0, 4, rng) if rungs == 1 else
             dense_tempering_init(J, geometric_ladder(0.5, 1.5, rungs), 4, rng))
    ran, _ = dense_tempering_run(J, start, 37, h=0.1)
    traced, trace = dense_tempering_trace(J, start, 37, h=0.1)
    for a, b in zip(ran, traced):
        assert np.array_equal(a, b)
    s = _coldest(traced)
    energy = -0.5 * np.einsum("ci,ij,cj->c", s, J, s) - 0.1 * s.sum(axis=1)
    np.testing.assert_allclose(trace.energy[:, -1], energy, atol=1e-9)
    np.testing.assert_allclose(trace.overlap[:, -1], np.einsum("ai,ai->a", s[0::2], s[1::2]) / 12, atol=1e-12)
    assert trace.energy.shape == (4, 37) and trace.overlap.shape == (2, 37)
    assert dense_tempering_trace(J, start, 37, overlap_every=5)[1].overlap.shape == (2, 7)
    if rungs == 1:
        assert not trace.round_trips.any()


def test_round_trips_match_a_replay_of_the_python_count():
    """J = 0: every energy is 0, every swap accepted, so the rung permutation is known; split runs add up."""
    m, sweeps = 6, 101
    J = np.zeros((8, 8))
    start = dense_tempering_init(J, geometric_ladder(0.5, 2.0, m), 3, np.random.default_rng(seed(3)))
    end, trace = dense_tempering_trace(J, start, sweeps)
    row, heading, trips = np.arange(m), np.zeros(m, dtype=np.int8), 0
    for t in range(sweeps):
        for k in range(t % 2, m - 1, 2):
            row[[k, k + 1]] = row[[k + 1, k]]
        trips += count_round_trips(row, heading)
    assert trips > 5 and np.all(trace.round_trips == trips) and np.all(trace.heading == heading)
    assert np.all(end.row == row)
    mid, first = dense_tempering_trace(J, start, 40)
    _, second = dense_tempering_trace(J, mid, sweeps - 40, heading=first.heading)
    assert np.array_equal(first.round_trips + second.round_trips, trace.round_trips)


@pytest.mark.parametrize("rungs,t_low", [(1, 0.7), (6, 0.4)])
def test_trace_samples_energy_overlap_and_flip_symmetry(rungs, t_low):
    """Coldest rung vs enumeration at N = 8: ⟨E⟩, ⟨q²⟩, and P(q > 0) + ½ P(q = 0) = ½ (E(s) = E(−s) at h = 0)."""
    n, copies = 8, 16
    spec = sk.SKSpec(n=n, T=t_low, sample_seed=seed(4))
    exact = sk.enumerate_sk(sk.sk_couplings(spec))
    J = sk.sk_couplings_matrix(n, spec.sample_seed)
    rng = np.random.default_rng(seed(5))
    start = (dense_metropolis_init(J, 1.0 / t_low, copies, rng) if rungs == 1 else
             dense_tempering_init(J, geometric_ladder(t_low, 1.6, rungs), copies, rng))
    warm, _ = dense_tempering_run(J, start, 200)
    _, trace = dense_tempering_trace(J, warm, 4000, overlap_every=2)
    assert_mcmc_mean(trace.energy, -t_low * n * exact["log_weight_per_spin"], n_checks=3, label="energy")
    assert_mcmc_mean(trace.overlap ** 2, exact["p_q"] @ exact["q"] ** 2, n_checks=3, label="q^2")
    above = (trace.overlap > 0) + 0.5 * (trace.overlap == 0)
    assert_mcmc_mean(above, 0.5, n_checks=3, label="P(q>0)")


@pytest.mark.parametrize("call,match", [
    (lambda J, st: dense_tempering_trace(J, st, 3, heading=np.zeros((2, 3))), "heading"),
    (lambda J, st: dense_tempering_trace(J, st, 3, overlap_every=0), "overlap_every"),
    (lambda J, st: dense_tempering_trace(J, st, 0), "n_sweeps"),
    (lambda J, st: dense_metropolis_init(J, 0.0, 2, np.random.default_rng(0)), "beta"),
    (lambda J, st: dense_metropolis_init(J, float("inf"), 2, np.random.default_rng(0)), "beta"),
])
def test_bad_input(call, match):
    J = sk.sk_couplings_matrix(6, 0)
    state = dense_tempering_init(J, [0.5, 1.0], 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=match):
        call(J, state)
