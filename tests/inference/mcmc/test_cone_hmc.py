"""Exact HMC of a Gaussian restricted to a cone (inference/mcmc/cone_hmc.py) against an independent rejection
sampler (draw z ~ N(0, I), keep it when A z > 0) on a small perceptron version space, pooled over independent
chains with MCSE bounds; every draw inside the cone; reproducibility; bad input."""
import math

import numpy as np
import pytest
from scipy import stats

from physml.inference.mcmc.cone_hmc import sample_cone_gaussian

from seeding import seed, seeds
from statcheck import P_FAIL

N, P = 4, 6


def _cone(rng):
    teacher = rng.standard_normal(N)
    teacher /= np.linalg.norm(teacher)
    X = rng.standard_normal((P, N))
    return teacher, X * np.sign(X @ teacher)[:, None]


def _observables(z, teacher):
    w = z / np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([w @ teacher, np.linalg.norm(z, axis=-1) ** 2, w[..., 0] ** 2], axis=-1)


def test_hmc_matches_rejection_sampling():
    rng = np.random.default_rng(seed(21))
    teacher, A = _cone(rng)
    z = rng.standard_normal((1_000_000, N))
    kept = z[np.all(z @ A.T > 0, axis=1)]
    ref = _observables(kept, teacher)
    ref_mean, ref_se = ref.mean(0), ref.std(0, ddof=1) / math.sqrt(len(ref))
    chains = []
    for s in seeds(300, 8):
        r = np.random.default_rng(s)
        draws, _ = sample_cone_gaussian(A, teacher, 1500, r)
        chains.append(_observables(draws[100:], teacher).mean(0))
    chains = np.array(chains)
    se = np.sqrt(chains.var(0, ddof=1) / len(chains) + ref_se**2)
    z_scores = (chains.mean(0) - ref_mean) / se
    # 8 chains: the chain-mean spread is estimated from 8 values, so the bound is Student-t(7)'s at P_FAIL / 3
    bound = stats.t.ppf(1 - P_FAIL / 6, df=len(chains) - 1)
    assert np.all(np.abs(z_scores) < bound), (z_scores, chains.mean(0), ref_mean)


def test_draws_stay_in_the_cone_and_are_reproducible():
    rng = np.random.default_rng(seed(2))
    teacher, X = np.ones(30) / math.sqrt(30), rng.standard_normal((90, 30))
    A = X * np.sign(X @ teacher)[:, None]
    a, bounces = sample_cone_gaussian(A, teacher, 50, np.random.default_rng(seed(3)))
    b, _ = sample_cone_gaussian(A, teacher, 50, np.random.default_rng(seed(3)))
    assert np.all(a @ A.T > -1e-9) and bounces > 0
    assert np.array_equal(a, b)


@pytest.mark.parametrize("A,z0,match", [(np.ones((3, 1)), np.ones(1), "A must have shape"),
                                        (np.full((3, 4), np.inf), np.ones(4), "A must be finite"),
                                        (np.eye(4), -np.ones(4), "z0 must"),
                                        (np.vstack([np.eye(4), np.zeros(4)]), np.ones(4), "z0 must|zero rows")])
def test_bad_input(A, z0, match):
    with pytest.raises(ValueError, match=match):
        sample_cone_gaussian(A, z0, 10, np.random.default_rng(0))
