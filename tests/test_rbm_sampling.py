"""RBM block Gibbs, AIS and learning against exact enumeration."""

import numpy as np
import pytest

from physml.inference import contrastive_divergence as cd
from physml.inference import rbm_ais, rbm_exact, rbm_gibbs
from physml.models import rbm


def random_rbm(n_visible, n_hidden, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n_visible, n_hidden)), rng.standard_normal(n_visible),
            rng.standard_normal(n_hidden))


def test_block_gibbs_reaches_the_exact_visible_distribution():
    W, a, b = random_rbm(3, 2, seed=1)
    n_chains = 20000
    visible = rbm_gibbs.sample(W, a, b, n_samples=n_chains, n_steps=30, seed=2)
    freq = np.bincount(rbm.pattern_codes(visible), minlength=8) / n_chains
    exact = rbm.visible_distribution(W, a, b)
    se = np.sqrt(exact * (1 - exact) / n_chains)  # independent chains: binomial se per pattern
    assert np.all(np.abs(freq - exact) < 4 * se)


@pytest.mark.parametrize("seed, base", [(0, "uniform"), (1, "data")])
def test_ais_within_four_se_of_exact(seed, base):
    data = rbm.bars_and_stripes(3, 100, seed=seed)
    W, a, b = random_rbm(9, 6, seed=10 + seed)
    a0 = None if base == "uniform" else rbm_ais.base_rate_visible_bias(data)
    value, se = rbm_ais.log_partition_ais(W, a, b, n_betas=1000, n_runs=200, seed=seed, base_visible_bias=a0)
    exact = rbm.log_partition_exact(W, a, b)
    assert se > 0
    assert abs(value - exact) < 4 * se


def test_ais_se_is_calibrated_across_seeds():
    # few distributions on purpose (large se): the spread of ln Z-hat over independent seeds must
    # match the delta-method se, within the sampling error of a standard deviation from n seeds
    W, a, b = random_rbm(6, 4, seed=3, scale=1.5)
    exact = rbm.log_partition_exact(W, a, b)
    runs = [rbm_ais.ais_run(W, a, b, n_betas=30, n_runs=100, seed=s) for s in range(20)]
    values, ses = np.array([r.log_z for r in runs]), np.array([r.se for r in runs])
    n = len(runs)
    assert abs(values.mean() - exact) < 4 * ses.mean() / np.sqrt(n)
    assert abs(values.std(ddof=1) / ses.mean() - 1) < 4 / np.sqrt(2 * (n - 1))


def test_ais_schedule_and_settings():
    betas = rbm_ais.beta_schedule(14501)
    assert betas[0] == 0 and betas[-1] == 1 and np.all(np.diff(betas) > 0)
    np.testing.assert_allclose(np.diff(betas)[[0, 600, -1]], [1e-3, 1e-4, 1e-5], rtol=1e-6)
    with pytest.raises(ValueError, match="n_runs"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, 0), n_betas=10, n_runs=1, seed=0)
    with pytest.raises(ValueError, match="n_betas"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, 0), n_betas=1, n_runs=10, seed=0)
    with pytest.raises(ValueError, match="base_visible_bias"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, 0), n_betas=10, n_runs=10, seed=0,
                                  base_visible_bias=np.zeros(2))


@pytest.mark.parametrize("method", ["exact", "cd", "pcd"])
def test_learning_improves_exact_log_likelihood_on_bas(method):
    data = rbm.bars_and_stripes(3, 200, seed=4)
    params = cd.init_params(9, 6, seed=5, data=data)
    settings = cd.TrainingSettings(method=method, n_epochs=40, learning_rate=0.05, batch_size=10, momentum=0.5)
    history = cd.train(data, params, settings, seed=6)
    assert len(history.log_likelihood) == 41
    assert history.log_likelihood[-1] > history.log_likelihood[0]
    assert history.log_likelihood[-1] == pytest.approx(rbm_exact.mean_log_likelihood(data, *history.params))
    assert np.all(np.diff(history.wall_time_s) >= 0)


def test_training_settings_validation():
    with pytest.raises(ValueError, match="method"):
        cd.TrainingSettings(method="sgd")
    with pytest.raises(ValueError, match="k must"):
        cd.TrainingSettings(k=0)
    with pytest.raises(ValueError, match="momentum"):
        cd.TrainingSettings(momentum=1.0)
    with pytest.raises(ValueError, match="n_hidden"):
        cd.init_params(9, 0, seed=0)
    with pytest.raises(ValueError, match="data must have shape"):
        cd.train(np.zeros((5, 4)), cd.init_params(9, 2, seed=0), cd.TrainingSettings(), seed=0)
