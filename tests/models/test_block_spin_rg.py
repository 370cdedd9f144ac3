"""Bayesian pseudo-likelihood K′ on un-blocked equilibrium samples recovers the true K; ℓ_PL by brute force."""
import numpy as np
import pytest
from seeding import seed
from statcheck import mean_z_ok, sd_z_ok, threshold

from physml.inference import fit
from physml.inference.spins.driver import run_blocks
from physml.inference.spins.lattice import square_lattice_couplings
from physml.inference.spins.wolff import WolffKernel
from physml.models import block_spin_rg as rg


def _configurations(L, K, draws, s):
    # 4N clusters per draw: nearly independent configurations (with N/4 the pseudo-posterior's z had sd 1.9
    # over 30 data sets at K = 0.25, L = 16, from autocorrelation; with 4N, 0.96)
    kernel = WolffKernel(square_lattice_couplings(L, K), clusters=4 * L * L)
    rng = np.random.default_rng(seed(s))
    state, _ = kernel.burn_in(rng, kernel.init(rng=rng), 200)
    _, _, spins = run_blocks(kernel, rng, state, draws, True)
    return spins.reshape(draws, L, L)


def test_log_pseudo_likelihood_by_brute_force():
    s = _configurations(6, 0.3, 3, 1)
    K = 0.37
    brute = 0.0
    for c in s:
        for r in range(6):
            for q in range(6):
                h = c[(r + 1) % 6, q] + c[r - 1, q] + c[r, (q + 1) % 6] + c[r, q - 1]
                brute += -np.logaddexp(0.0, -2 * K * c[r, q] * h)
    assert rg.log_pseudo_likelihood(K, rg.product_counts(s)) == pytest.approx(brute, rel=1e-12)


def test_pseudo_likelihood_recovers_k_on_unblocked_samples():
    K = 0.25
    model = rg.pseudo_likelihood_model(_configurations(16, K, 200, 2))
    nuts = fit(model, "nuts", draws=500, tune=500, chains=2, seed=seed(3), free_energy=())
    post = nuts["posterior"]["K_prime"]
    z = (float(post.mean()) - K) / float(post.std())
    assert abs(z) < threshold(2), (float(post.mean()), float(post.std()))
    # one parameter: mean-field ADVI must converge and agree with NUTS (a near-Gaussian pseudo-posterior)
    advi = fit(model, "advi", draws=500, seed=seed(4), free_energy=())
    assert bool(advi["diagnostics"]["converged"])
    q = advi["posterior"]["K_prime"]
    assert abs(float(q.mean()) - float(post.mean())) < 0.2 * float(post.std())
    assert float(q.std()) / float(post.std()) == pytest.approx(1.0, abs=0.15)


# --- several couplings: nearest, next-nearest (diagonal) and plaquette ------------------------------------------
def _brute_multi(c, K):
    """ℓ_PL of one periodic configuration with K = (K_nn, K_nnn, K_plaquette), site by site."""
    L, total = c.shape[0], 0.0
    for r in range(L):
        for q in range(L):
            def g(a, b):
                return c[(r + a) % L, (q + b) % L]
            h1 = g(1, 0) + g(-1, 0) + g(0, 1) + g(0, -1)
            h2 = g(1, 1) + g(1, -1) + g(-1, 1) + g(-1, -1)
            h4 = sum(g(a, 0) * g(0, b) * g(a, b) for a in (1, -1) for b in (1, -1))
            total += -np.logaddexp(0.0, -2 * c[r, q] * (K[0] * h1 + K[1] * h2 + K[2] * h4))
    return total


def test_multi_coupling_pseudo_likelihood_by_brute_force():
    rng = np.random.default_rng(seed(5))
    s = 2 * rng.integers(0, 2, size=(3, 5, 5)) - 1  # odd L: every row and column wraps differently
    K = np.array([0.31, 0.12, -0.07])
    brute = sum(_brute_multi(c, K) for c in s)
    assert rg.log_pseudo_likelihood_couplings(K, rg.coupling_counts(s, 3)) == pytest.approx(brute, rel=1e-12)
    # one coupling: the same as the nearest-neighbour product counts
    assert np.array_equal(rg.coupling_counts(s, 1), rg.product_counts(s))


def test_pseudo_likelihood_map_is_the_maximiser():
    counts = rg.coupling_counts(_configurations(8, 0.4, 20, 6), 3)
    k = rg.pseudo_likelihood_map(counts)
    best = rg.log_pseudo_likelihood_couplings(k, counts)
    for step in np.eye(3) * 1e-4:
        assert best >= rg.log_pseudo_likelihood_couplings(k + step, counts)
        assert best >= rg.log_pseudo_likelihood_couplings(k - step, counts)


def test_bad_counts_and_suffixes():
    with pytest.raises(ValueError, match="counts"):
        rg.pseudo_likelihood_map(np.ones(7))
    with pytest.raises(ValueError, match="n_couplings"):
        rg.coupling_counts(np.ones((4, 4)), 4)
    with pytest.raises(ValueError, match="suffixes"):
        rg.coupling_model(np.ones((2, 5)), np.ones((2, 125)), suffixes=["a", "a"])


def _jackknife_se(data, n_couplings, n_blocks=20):
    """Delete-one-block jackknife se of the pseudo-likelihood maximiser over blocks of configurations."""
    counts = np.array([rg.coupling_counts(data[c], n_couplings) for c in np.array_split(np.arange(len(data)), n_blocks)])
    reps = np.array([rg.pseudo_likelihood_map(counts.sum(axis=0) - c) for c in counts])
    return np.sqrt((n_blocks - 1) / n_blocks * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))


def test_multi_coupling_recovers_k_nn_and_zero_others_on_unblocked_samples():
    """R independent data sets at three K: K_nn (alone and with the others) = K, K_nnn = K_plaquette = 0
    (the nearest-neighbour conditional exactly); z-scores calibrated over the data sets.

    With three couplings the pseudo-posterior sd is too small (the site scores of the correlated fields are
    dependent: over 16 data sets at L = 16 the sd of z was 1.7–2.1 and jackknife/posterior sd 1.6–1.9), so
    their z uses max(posterior sd, jackknife se) — what the analysis reports; K_nn alone uses the posterior sd."""
    Ks = [0.25, 0.35, 0.44] * 4
    data = [_configurations(16, K, 40, 100 + i) for i, K in enumerate(Ks)]
    model = rg.coupling_model([rg.coupling_counts(d, 1) for d in data], [rg.coupling_counts(d, 3) for d in data],
                              suffixes=["_1", "_3"])
    post = fit(model, "nuts", draws=400, tune=400, chains=2, seed=seed(7), free_energy=())["posterior"]
    jk = np.array([_jackknife_se(d, 3) for d in data])  # (point, coupling)
    exact = {"K_nn_1": np.array(Ks), "K_nn_3": np.array(Ks), "K_nnn_3": 0.0, "K_plaquette_3": 0.0}
    for j, (name, value) in enumerate(exact.items()):
        draws = post[name].stack(s=("chain", "draw")).values  # (point, draws)
        se = draws.std(axis=1) if j == 0 else np.maximum(draws.std(axis=1), jk[:, j - 1])
        z = (draws.mean(axis=1) - value) / se
        if j == 0:
            assert np.all(np.abs(z) < threshold(len(Ks))), (name, z)
        ok, msg = mean_z_ok(z)
        assert ok, (name, msg)
        ok, msg = sd_z_ok(z)
        assert ok, (name, msg)
