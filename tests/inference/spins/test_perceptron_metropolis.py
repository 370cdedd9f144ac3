"""Metropolis on the binary perceptron's training errors (inference/spins/perceptron_metropolis.py): incremental
stabilities against a recomputation, and the visited distribution against exact Boltzmann weights e^{−βE} by
enumeration of all 2^N weight vectors (N = 10), pooled over independent chains with MCSE bounds; bad input."""
import itertools
import math

import numpy as np
import pytest

from physml.inference.spins.kernel import SpinKernel, with_ghost
from physml.inference.spins.perceptron_metropolis import PerceptronMetropolisKernel

from seeding import seed, seeds
from statcheck import assert_mcmc_mean

N, P = 10, 12


def _problem(rng):
    teacher = (2 * rng.integers(0, 2, N) - 1).astype(np.int8)
    X = rng.standard_normal((P, N))
    y = np.where(X @ teacher > 0, 1.0, -1.0)
    return teacher, X * y[:, None]


def _exact(A, teacher, beta):
    """⟨E⟩ and ⟨R⟩ under e^{−βE} by enumeration; E counted directly from the signs of A w."""
    W = np.array(list(itertools.product((-1, 1), repeat=N)), dtype=float)
    E = (W @ A.T <= 0).sum(axis=1)
    p = np.exp(-beta * (E - E.min()))
    p /= p.sum()
    return float(p @ E), float(p @ (W @ teacher) / N)


def test_protocol_and_incremental_fields():
    rng = np.random.default_rng(seed(1))
    teacher, A = _problem(rng)
    kernel = PerceptronMetropolisKernel(A, 2.0)
    assert isinstance(kernel, SpinKernel) and kernel.couplings.n_edges == 0
    buf = with_ghost(kernel.init(rng=rng).spins)
    d = kernel.sample_batch(rng, buf, 50, True)
    for s, e in zip(d.spins, d.energy):
        assert e * N == (A @ s.astype(float) <= 0).sum() == kernel.errors(s)
    assert kernel.errors(teacher) == 0


@pytest.mark.parametrize("beta", [0.7, 3.0])
def test_visited_distribution_matches_enumeration(beta):
    rng = np.random.default_rng(seed(11))  # one problem; chains below are independent
    teacher, A = _problem(rng)
    exact_E, exact_R = _exact(A, teacher, beta)
    kernel = PerceptronMetropolisKernel(A, beta)
    E, R = [], []
    for s in seeds(100, 8):
        r = np.random.default_rng(s)
        buf = with_ghost(kernel.init(rng=r).spins)
        kernel.advance(r, buf, 200)
        d = kernel.sample_batch(r, buf, 3000, True)
        E.append(d.energy * N)
        R.append(d.spins.astype(float) @ teacher / N)
    assert_mcmc_mean(np.array(E), exact_E, n_checks=4, label=f"<E> at beta={beta}")
    assert_mcmc_mean(np.array(R), exact_R, n_checks=4, label=f"<R> at beta={beta}")


def test_zero_temperature_never_leaves_the_version_space():
    rng = np.random.default_rng(seed(5))
    teacher, A = _problem(rng)
    kernel = PerceptronMetropolisKernel(A, math.inf)
    buf = with_ghost(teacher.copy())
    assert np.all(kernel.sample_batch(rng, buf, 200, False).energy == 0)


@pytest.mark.parametrize("kwargs,match", [({"A": np.ones((3, 1)), "beta": 1.0}, "A must"),
                                          ({"A": np.full((3, 4), np.nan), "beta": 1.0}, "A must be finite"),
                                          ({"A": np.ones((3, 4)), "beta": 0.0}, "beta"),
                                          ({"A": np.ones((3, 4)), "beta": 1.0, "sweeps": 0}, "sweeps")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerceptronMetropolisKernel(**kwargs)
