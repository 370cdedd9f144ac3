"""Dense-coupling parallel tempering and ground states: the PT kernel samples every rung's Boltzmann distribution
(energy, site magnetisations in a field, the two-replica Binder ratio against enumeration, within their MCSE);
the ground-state finder returns the exact minimum at N ≤ 16 and flags runs that disagree; bad input raises."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

from physml.inference.spins.dense_ground_state import ground_state
from physml.inference.spins.dense_tempering import dense_tempering_init, dense_tempering_run, geometric_ladder
from physml.models import sk

from seeding import seed, seeds
from statcheck import threshold


def _states(n):
    return np.array(list(itertools.product([1, -1], repeat=n)), dtype=float)


def _exact(J, h, betas):
    """Per β: ⟨E⟩, ⟨s_i⟩, ⟨q²⟩, ⟨q⁴⟩ by brute force (q of two independent replicas)."""
    s = _states(J.shape[0])
    energy = -0.5 * np.einsum("bi,ij,bj->b", s, J, s) - s @ np.full(J.shape[0], h)
    out = []
    for b in betas:
        p = np.exp(-b * energy - logsumexp(-b * energy))
        q = s @ s.T / J.shape[0]
        out.append((p @ energy, p @ s, p @ (q ** 2) @ p, p @ (q ** 4) @ p))
    return out


def _block_moments(J, betas, h, rng_seed, states=4, blocks=25, sweeps=400):
    """Block means from ``states`` independent 2-copy PT runs: moments (states, blocks, M, 5), sites (…, M, N)."""
    moments, sites = [], []
    for k in range(states):
        st = dense_tempering_init(J, betas, 2, np.random.default_rng([rng_seed, k]))
        st, _ = dense_tempering_run(J, st, sweeps, h=h)
        mom, site = [], []
        for _ in range(blocks):
            st, m = dense_tempering_run(J, st, sweeps, h=h, measure=True)
            mom.append(m.moments)
            site.append(m.site_mean.mean(axis=0))
        moments.append(mom)
        sites.append(site)
    return np.array(moments), np.array(sites)


def _z(blocks, exact):
    """z of the mean of independent block means (any shape, first two axes pooled)."""
    x = blocks.reshape(-1, *blocks.shape[2:])
    return (x.mean(axis=0) - exact) / (x.std(axis=0, ddof=1) / np.sqrt(len(x)))


def test_tempering_samples_boltzmann_energy_magnetisation_and_binder():
    n, h = 10, 0.2
    J = sk.sk_couplings_matrix(n, seed(5))
    betas = geometric_ladder(0.4, 1.6, 6)
    exact = _exact(J, h, betas)
    moments, sites = _block_moments(J, betas, h, seed(6))
    bound = threshold(4 * len(betas) + n * len(betas))
    z_e = _z(moments[..., 0], np.array([e[0] for e in exact]))
    z_m = _z(sites, np.array([e[1] for e in exact]))
    assert np.all(np.abs(z_e) < bound) and np.all(np.abs(z_m) < bound), (z_e, z_m)
    flat = moments.reshape(-1, *moments.shape[2:])
    g = sk.binder_ratio(flat[:, :, 2].mean(0), flat[:, :, 3].mean(0))
    loo = np.array([sk.binder_ratio(np.delete(flat, k, 0)[:, :, 2].mean(0), np.delete(flat, k, 0)[:, :, 3].mean(0))
                    for k in range(len(flat))])
    g_se = np.sqrt((len(flat) - 1) * loo.var(axis=0))
    g_exact = sk.binder_ratio(np.array([e[2] for e in exact]), np.array([e[3] for e in exact]))
    assert np.all(np.abs(g - g_exact) < bound * g_se), ((g - g_exact) / g_se)
    z_q2 = _z(moments[..., 2], np.array([e[2] for e in exact]))
    assert np.all(np.abs(z_q2) < bound), z_q2


@pytest.mark.parametrize("n", [12, 16])
def test_ground_state_finder_returns_the_exact_minimum(n):
    s = _states(n)
    for k in seeds(40, 3):
        J = sk.sk_couplings_matrix(n, k)
        e_min = float((-0.5 * np.einsum("bi,ij,bj->b", s, J, s)).min())
        g = ground_state(J, np.random.default_rng(k), runs=3, sweeps=100, max_sweeps=2000)
        assert g.agreed and g.energy == pytest.approx(e_min, abs=1e-9)
        assert -0.5 * g.spins @ J @ g.spins == pytest.approx(g.energy, abs=1e-9)  # the record is its spins' energy


def test_ground_state_flag_means_runs_disagree():
    """One sweep at N = 96: whatever was found, the flag says whether every run's record is the same."""
    J = sk.sk_couplings_matrix(96, seed(7))
    for k in range(3):
        g = ground_state(J, np.random.default_rng([seed(8), k]), runs=3, sweeps=1, max_sweeps=1)
        assert g.agreed == bool(np.ptp(g.run_energies) <= 1e-7 * abs(g.energy))
        assert g.energy == g.run_energies.min() and g.sweeps == 1


@pytest.mark.parametrize("call,match", [
    (lambda J, r: ground_state(J, r, runs=1), "runs"),
    (lambda J, r: ground_state(J[:1, :1], r), "N >= 2"),
    (lambda J, r: ground_state(J, r, t_min=0.0), "t_min"),
    (lambda J, r: dense_tempering_init(J, [0.5, 0.4], 2, r), "betas"),
    (lambda J, r: dense_tempering_run(J, dense_tempering_init(J, [0.5, 1.0], 2, r), 5, h=np.inf), "h must"),
])
def test_bad_input(call, match):
    J = sk.sk_couplings_matrix(6, 0)
    with pytest.raises(ValueError, match=match):
        call(J, np.random.default_rng(0))
