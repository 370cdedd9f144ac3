"""Bayesian RBM: the PyMC model's density and a NUTS fit's symmetry-invariant predictive distribution."""

import numpy as np
import pytest
from scipy.stats import norm
from seeding import seed

from physml.inference import fit
from physml.models import rbm

PRIOR_SIGMA = 2.0


@pytest.fixture(scope="module")
def bas2():
    data = rbm.bars_and_stripes(2, 60, seed=seed(3))
    return data, rbm.build_bayesian_rbm(data, 2, prior_sigma=PRIOR_SIGMA)


def test_model_log_density_is_prior_plus_exact_likelihood(bas2):
    data, model = bas2
    rng = np.random.default_rng(seed(0))
    point = {"W": rng.standard_normal((4, 2)), "a": rng.standard_normal(4), "b": rng.standard_normal(2)}
    expected = (norm.logpdf(point["W"], scale=PRIOR_SIGMA).sum() + norm.logpdf(point["a"], scale=PRIOR_SIGMA).sum()
                + norm.logpdf(point["b"], scale=PRIOR_SIGMA).sum() + rbm.log_likelihood(data, **point).sum())
    assert model.compile_logp()(point) == pytest.approx(expected, rel=1e-9)


def test_nuts_predictive_beats_prior_predictive(bas2):
    data, model = bas2
    result = fit(model, "nuts", draws=300, tune=300, chains=2, seed=seed(4))
    post = result.posterior
    W = post["W"].values.reshape(-1, 4, 2)
    a, b = post["a"].values.reshape(-1, 4), post["b"].values.reshape(-1, 2)
    rng = np.random.default_rng(seed(5))
    S = W.shape[0]
    prior = rbm.predictive_distribution(PRIOR_SIGMA * rng.standard_normal((S, 4, 2)),
                                        PRIOR_SIGMA * rng.standard_normal((S, 4)),
                                        PRIOR_SIGMA * rng.standard_normal((S, 2)))
    posterior = rbm.predictive_distribution(W, a, b)
    freq = rbm.pattern_frequencies(data)
    seen = freq > 0

    def kl(p):
        return float(np.sum(freq[seen] * np.log(freq[seen] / p[seen])))

    assert kl(posterior) < kl(prior), (kl(posterior), kl(prior))
    # the deterministics are the exact ln Z and mean log-likelihood of each draw
    i = 7
    assert post["log_z"].values.reshape(-1)[i] == pytest.approx(rbm.log_partition_exact(W[i], a[i], b[i]), rel=1e-9)
    assert post["mean_log_likelihood"].values.reshape(-1)[i] == pytest.approx(
        rbm.log_likelihood(data, W[i], a[i], b[i]).mean(), rel=1e-9)
