"""RBM block Gibbs, AIS and learning against exact enumeration.

Statistical checks use ``statcheck`` thresholds (Bonferroni over the checks of a test) and seeds from
``seeding``; learning histories are checked against a brute-force sum over every (v, h) written in
``rbm_brute_force`` (independent of the library's enumeration).
"""

import dataclasses

import numpy as np
import pytest
from rbm_brute_force import brute_force_mean_log_likelihood, random_rbm
from seeding import seed, seeds
from statcheck import assert_calibrated, threshold

from physml.inference.rbm import contrastive_divergence as cd
from physml.inference.rbm import ais as rbm_ais
from physml.inference.rbm import gibbs as rbm_gibbs
from physml.models import rbm


def test_block_gibbs_reaches_the_exact_visible_distribution():
    W, a, b = random_rbm(3, 2, rng_seed=seed(1))
    n_chains = 20000
    visible = rbm_gibbs.sample(W, a, b, n_samples=n_chains, n_steps=30, seed=seed(2))
    freq = np.bincount(rbm.pattern_codes(visible), minlength=8) / n_chains
    exact = rbm.visible_distribution(W, a, b)
    se = np.sqrt(exact * (1 - exact) / n_chains)  # independent chains: binomial se per pattern
    z = (freq - exact) / se
    assert np.all(np.abs(z) < threshold(8)), z


@pytest.mark.parametrize("case, base", [(0, "uniform"), (1, "data")])
def test_ais_within_threshold_se_of_exact(case, base):
    data = rbm.bars_and_stripes(3, 100, seed=seed(case))
    W, a, b = random_rbm(9, 6, rng_seed=seed(10 + case))
    a0 = None if base == "uniform" else rbm_ais.base_rate_visible_bias(data)
    value, se = rbm_ais.log_partition_ais(W, a, b, n_betas=1000, n_runs=200, seed=seed(case), base_visible_bias=a0)
    exact = rbm.log_partition_exact(W, a, b)
    assert se > 0
    assert abs(value - exact) < threshold(2) * se, (value, exact, se)  # two parametrised cases


def test_ais_se_is_calibrated_across_seeds():
    # few distributions on purpose (large se): over independent seeds the z-scores of ln Z-hat
    # against the exact value must have mean 0, sd 1 and ±2 se coverage (statcheck bands for R = 20)
    W, a, b = random_rbm(6, 4, rng_seed=seed(3), scale=1.5)
    exact = rbm.log_partition_exact(W, a, b)
    runs = [rbm_ais.ais_run(W, a, b, n_betas=30, n_runs=100, seed=s) for s in seeds(0, 20)]
    assert_calibrated([r.log_z for r in runs], [r.se for r in runs], exact, label="AIS ln Z")


def test_ais_schedule_and_settings():
    betas = rbm_ais.beta_schedule(14501)
    assert betas[0] == 0 and betas[-1] == 1 and np.all(np.diff(betas) > 0)
    np.testing.assert_allclose(np.diff(betas)[[0, 600, -1]], [1e-3, 1e-4, 1e-5], rtol=1e-6)
    with pytest.raises(ValueError, match="n_runs"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, seed(0)), n_betas=10, n_runs=1, seed=seed(0))
    with pytest.raises(ValueError, match="n_betas"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, seed(0)), n_betas=1, n_runs=10, seed=seed(0))
    with pytest.raises(ValueError, match="base_visible_bias"):
        rbm_ais.log_partition_ais(*random_rbm(3, 2, seed(0)), n_betas=10, n_runs=10, seed=seed(0),
                                  base_visible_bias=np.zeros(2))


@pytest.mark.parametrize("method", ["exact", "cd", "pcd"])
def test_learning_improves_exact_log_likelihood_on_bas(method):
    data = rbm.bars_and_stripes(3, 200, seed=seed(4))
    params = cd.init_params(9, 6, seed=seed(5), data=data)
    settings = cd.TrainingSettings(method=method, n_epochs=40, learning_rate=0.05, batch_size=10, momentum=0.5)
    history = cd.train(data, params, settings, seed=seed(6))
    ll = history.log_likelihood
    assert len(ll) == 41
    assert ll[-1] > ll[0]
    # entry k is the exact mean log-likelihood after k epochs: checked by brute force (all 2^15 (v, h))
    # at the start, after 40 epochs and, re-running the same seeded training for 15 epochs, after 15
    mid = cd.train(data, params, dataclasses.replace(settings, n_epochs=15), seed=seed(6),
                   monitor=False)
    for k, p in ((0, params), (15, mid.params), (40, history.params)):
        assert ll[k] == pytest.approx(brute_force_mean_log_likelihood(data, *p), rel=1e-10), k
    assert np.all(np.diff(history.wall_time_s) >= 0)


def test_training_settings_validation():
    with pytest.raises(ValueError, match="method"):
        cd.TrainingSettings(method="sgd")
    with pytest.raises(ValueError, match="k must"):
        cd.TrainingSettings(k=0)
    with pytest.raises(ValueError, match="momentum"):
        cd.TrainingSettings(momentum=1.0)
    with pytest.raises(ValueError, match="n_hidden"):
        cd.init_params(9, 0, seed=seed(0))
    with pytest.raises(ValueError, match="data must have shape"):
        cd.train(np.zeros((5, 4)), cd.init_params(9, 2, seed=seed(0)), cd.TrainingSettings(), seed=seed(0))
