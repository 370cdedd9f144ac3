"""``fit(model, "nuts", backend="jax")`` (the optional ``physml[jax]`` extra).

Against the exact NIG posterior of the conjugate regression: each posterior mean within
``statcheck.assert_mcmc_mean``'s bound (pooled over independent chains, Bonferroni over the parameters);
the same DataTree layout as the default (numba) backend; the same seed gives identical draws; and without
JAX a one-line ImportError that names ``pip install physml[jax]``.  The sampling tests are skipped where
JAX is not installed (the default install); the missing-JAX error is checked everywhere.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from physml.inference import fit
from physml.models import regression as reg
from seeding import seed
from statcheck import assert_mcmc_mean

pytestmark = pytest.mark.filterwarnings("ignore::physml.inference.draw_checks.FitWarning")  # short layout runs


def regression_model():
    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    return data, prior, reg.conjugate_model(data, prior)


@pytest.fixture(scope="module")
def jax_fit():
    pytest.importorskip("jax")
    data, prior, model = regression_model()
    result = fit(model, "nuts", backend="jax", draws=300, tune=300, chains=4, seed=seed(5))
    return data, prior, model, result


def test_jax_posterior_matches_exact_nig(jax_fit):
    data, prior, _, result = jax_fit
    exact = reg.nig_posterior(data, prior)
    post = result.posterior
    checks = [(f"beta[{name}]", post["beta"].sel(coef=name), exact.mu_n[j]) for j, name in enumerate(data.predictors)]
    checks.append(("sigma2", post["sigma2"], exact.b_n / (exact.a_n - 1)))
    for label, draws, value in checks:
        assert_mcmc_mean(draws.transpose("chain", "draw").values, value, n_checks=len(checks), label=label)


def test_jax_result_has_the_default_layout(jax_fit):
    _, _, model, result = jax_fit
    default = fit(model, "nuts", draws=50, tune=50, chains=2, seed=seed(1))
    assert sorted(result.children) == sorted(default.children)
    for group in result.children:
        assert set(result[group].data_vars) == set(default[group].data_vars), group
    assert "diverging" in result.sample_stats
    assert result.posterior["beta"].dims == ("chain", "draw", "coef")
    assert result.attrs["physml_backend"] == "jax" and default.attrs["physml_backend"] == "nutpie"


def test_jax_same_seed_same_draws(jax_fit):
    _, _, model, _ = jax_fit
    a, b = (fit(model, "nuts", backend="jax", draws=30, tune=30, chains=2, seed=seed(2), free_energy=())
            for _ in range(2))
    np.testing.assert_array_equal(a.posterior["beta"].values, b.posterior["beta"].values)


def test_missing_jax_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    _, _, model = regression_model()
    with pytest.raises(ImportError) as err:
        fit(model, "nuts", backend="jax", draws=10, tune=10, chains=1)
    message = str(err.value)
    assert "pip install physml[jax]" in message and "\n" not in message
