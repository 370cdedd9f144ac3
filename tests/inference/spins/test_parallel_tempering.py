"""Parallel tempering: the swap move's detailed balance (exact transition matrix), the ladder adaptation,
and fit(model, "parallel_tempering") against enumeration (free energy within threshold·se or flagged,
⟨E⟩ within MCSE)."""

import itertools

import numpy as np
import pytest
import xarray as xr

from physml.inference import diagnostics, fit, free_energies
from physml.inference.spins.lattice import couplings_from_matrix
from physml.inference.spins.parallel_tempering import adapt_ladder, check_ladder, swap_log_acceptance, swap_pass
from physml.models.ising import ising_model_from_couplings

from seeding import seed, seeds
from statcheck import assert_mcmc_mean, threshold

BETAS = np.array([0.0, 0.35, 1.0])


def tiny_couplings():
    return couplings_from_matrix(np.array([[0.0, 0.9], [0.9, 0.0]]), h=np.array([0.3, -0.5]))


def swap_probability(betas, lw, k):
    """P(pair k swaps) of swap_pass, read off its threshold on the uniform (checked just either side)."""
    p = min(1.0, float(np.exp(swap_log_acceptance(betas, lw, k))))
    u = np.full(len(betas) - 1, 0.5)
    u[k] = p * (1 - 1e-9)
    assert swap_pass(u, betas, lw, k % 2)[k]
    if p < 1.0:
        u[k] = p * (1 + 1e-9)
        assert not swap_pass(u, betas, lw, k % 2)[k]
    return p


def swap_matrix(c, betas, parity):
    """Exact transition matrix of one swap pass on the joint states (one configuration per rung)."""
    singles = (1 - 2 * ((np.arange(2 ** c.n_spins)[:, None] >> np.arange(c.n_spins)) & 1))
    ell = c.log_weight(singles)
    m, n1 = len(betas), len(singles)
    joint = list(itertools.product(range(n1), repeat=m))
    index = {x: i for i, x in enumerate(joint)}
    T = np.zeros((len(joint), len(joint)))
    pairs = list(range(parity, m - 1, 2))
    for i, x in enumerate(joint):
        probs = [swap_probability(betas, ell[list(x)], k) for k in pairs]
        for accepted in itertools.product((False, True), repeat=len(pairs)):
            y, weight = list(x), 1.0
            for k, a, p in zip(pairs, accepted, probs):
                weight *= p if a else 1 - p
                if a:
                    y[k], y[k + 1] = y[k + 1], y[k]
            T[i, index[tuple(y)]] += weight
    log_pi = np.array([sum(b * ell[s] for b, s in zip(betas, x)) for x in joint])
    pi = np.exp(log_pi - log_pi.max())
    return T, pi / pi.sum()


@pytest.mark.parametrize("parity", [0, 1])
def test_swap_pass_detailed_balance(parity):
    T, pi = swap_matrix(tiny_couplings(), BETAS, parity)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-12)
    flow = pi[:, None] * T
    np.testing.assert_allclose(flow, flow.T, atol=1e-14)
    np.testing.assert_allclose(pi @ T, pi, atol=1e-14)
    assert np.count_nonzero(T - np.diag(np.diag(T))) > 0  # the move does something


def test_adapt_ladder_widens_easy_gaps_and_keeps_ends():
    betas = np.array([0.0, 0.2, 0.5, 1.0])
    new = adapt_ladder(betas, [0.9, 0.5, 0.1], gain=0.5)
    assert new[0] == 0.0 and new[-1] == 1.0 and np.all(np.diff(new) > 0)
    gaps, old = np.diff(new), np.diff(betas)
    assert gaps[0] > old[0] and gaps[2] < old[2]
    np.testing.assert_allclose(adapt_ladder(betas, [0.4, 0.4, 0.4], gain=1.0), betas)


@pytest.mark.parametrize("bad", [[0.0, 0.5, 0.5, 1.0], [0.5, 0.2, 1.0], [0.0, 0.5], [1.0], [-0.1, 1.0]])
def test_bad_ladder_raises(bad):
    with pytest.raises(ValueError, match="betas"):
        check_ladder(bad)


def sk_like_model(n, beta, rng_seed=11):
    rng = np.random.default_rng(rng_seed)  # fixed couplings: the test's system, not its randomness
    J = np.triu(rng.normal(0.0, 1.0 / np.sqrt(n), (n, n)), 1)
    return couplings_from_matrix(beta * (J + J.T), h=0.1 * beta * rng.normal(size=n))


def exact(c):
    s = 1 - 2 * ((np.arange(2 ** c.n_spins)[:, None] >> np.arange(c.n_spins)) & 1)
    lw = c.log_weight(s)
    log_z = np.logaddexp.reduce(lw)
    p = np.exp(lw - log_z)
    return log_z, float(p @ (-lw)) / c.n_spins, float(p @ np.abs(s.mean(axis=1)))


def test_pt_free_energy_and_energy_vs_enumeration(tmp_path):
    c = sk_like_model(12, 1.6)
    log_z, e_exact, am_exact = exact(c)
    model = ising_model_from_couplings(c)
    runs = seeds(40, 3)
    for i, s in enumerate(runs):
        dt = fit(model, "parallel_tempering", draws=1000, tune=400, chains=4, seed=s, n_replicas=8)
        recs = {r.estimator: r for r in free_energies(dt)}
        for name in ("pt_stepping_stone", "pt_bar"):
            r = recs[name]
            assert r.note.startswith("unreliable:") or abs(r.value + log_z) < threshold(4 * len(runs)) * r.se, (
                name, r.value, -log_z, r.se)
            assert 0 < r.se < 0.2
        assert_mcmc_mean(dt.posterior["reduced_energy"].values, e_exact, n_checks=2 * len(runs), label="-l/N")
        assert_mcmc_mean(dt.posterior["abs_magnetisation"].values, am_exact, n_checks=2 * len(runs), label="|m|")
        d = diagnostics(dt)
        assert d["round_trips"] > 0 and np.isfinite(d["round_trip_time_sweeps"])
        if i == 0:
            path = tmp_path / "pt.nc"
            dt.to_netcdf(path)
            back = xr.open_datatree(path)
            np.testing.assert_allclose(back["ladder"]["beta"].values, dt["ladder"]["beta"].values)
            assert {r.estimator for r in free_energies(back)} == {"pt_stepping_stone", "pt_bar", "pt_ti"}


@pytest.mark.filterwarnings("ignore:parallel_tempering")
def test_pt_same_seed_same_numbers_and_bad_options():
    model = ising_model_from_couplings(sk_like_model(6, 1.0))
    a = fit(model, "parallel_tempering", draws=50, tune=20, chains=2, seed=seed(5), n_replicas=4, adapt_window=10)
    b = fit(model, "parallel_tempering", draws=50, tune=20, chains=2, seed=seed(5), n_replicas=4, adapt_window=10)
    np.testing.assert_array_equal(a.posterior["reduced_energy"].values, b.posterior["reduced_energy"].values)
    with pytest.raises(ValueError, match="n_replicas"):
        fit(model, "parallel_tempering", draws=10, tune=0, chains=1, n_replicas=1)
    with pytest.raises(ValueError, match="betas"):
        fit(model, "parallel_tempering", draws=10, tune=0, chains=1, betas=[0.0, 0.7, 0.6, 1.0])
    with pytest.raises(ValueError, match="sampler"):
        fit(model, "parallel_tempering", draws=10, tune=0, chains=1, sampler="nuts")


@pytest.mark.filterwarnings("ignore:parallel_tempering")
def test_two_rung_ladder_flags_its_free_energy():
    """β = 0 → 1 in one jump on a strongly coupled sample: swaps (almost) never succeed and the stepping-stone
    weights collapse, so both records must say ``unreliable:`` (the flag under test; acceptance ~ e^{-N})."""
    model = ising_model_from_couplings(sk_like_model(12, 3.0))
    dt = fit(model, "parallel_tempering", draws=300, tune=0, chains=2, seed=seed(9), betas=[0.0, 1.0])
    assert diagnostics(dt)["min_swap_acceptance"] < 0.05
    assert all(r.note.startswith("unreliable:") for r in free_energies(dt))
