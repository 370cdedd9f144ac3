"""Improper priors: the posterior is fitted as usual, the evidence is refused (physml.inference.priors).

The detection rule is checked deterministically on small models; the fits use few draws and only check
that a number is (or is not) produced — the estimators' accuracy is tested in test_free_energy*.py.
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from scipy import stats

from physml.inference import FREE_ENERGY_ESTIMATORS, fit, free_energies
from physml.inference.evidence.pymc_ais import ais_pymc, bdmc_pymc
from physml.inference.evidence.bridge_sampling import bridge_sampling
from physml.inference.evidence.importance_sampling import importance_sampling
from physml.inference.priors import improper_prior_terms, require_proper_prior
from physml.inference.records import FreeEnergy
from physml.inference.mcmc.smc import estimate_smc
from physml.inference.evidence.power_posteriors import power_posterior_ti

from seeding import seed

Y = np.array([0.3, -0.2, 1.1, 0.5, 0.9, -0.4, 0.2, 0.7])
FLAT_TERMS = ["Flat on 'beta'", "HalfFlat on 'sigma'"]


def flat_model():
    with pm.Model() as m:
        beta = pm.Flat("beta")
        sigma = pm.HalfFlat("sigma")
        pm.Normal("y", beta, sigma, observed=Y)
    return m


def potential_prior_model():
    """A data-free Potential beside observed data: a prior factor of unknown normalisation."""
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Potential("shrink", -0.5 * mu**2)
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


def potential_likelihood_model():
    """mu ~ N(0, 1) and the likelihood Σ ln N(y_i | mu, 1) written as a Potential on pm.Data."""
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        y = pm.Data("y_data", Y)
        pm.Potential("loglik", pm.logp(pm.Normal.dist(mu, 1.0), y).sum())
    return m


def boltzmann_model():
    """No data at all: the Potential is the energy, Z its partition function (as the Ising models)."""
    with pm.Model() as m:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        pm.Potential("energy", -0.5 * ((x - 1.0) ** 2).sum())
    return m


def hyperparameter_data_model():
    """pm.Data that only parametrise a prior do not make a data-free Potential a likelihood."""
    with pm.Model() as m:
        scale = pm.Data("prior_scale", 2.0)
        mu = pm.Normal("mu", 0.0, scale)
        pm.Potential("shrink", -(mu**4))
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


def observed_potential_model():
    """A Potential on an observed variable is a likelihood term; one with no free variable a constant."""
    with pm.Model() as m:
        mu = pm.Uniform("mu", -5.0, 5.0)
        y = pm.Normal("y", mu, 1.0, observed=Y)
        pm.Potential("robust", -pt.abs(y - mu).sum())
        pm.Potential("constant", pt.constant(2.0))
    return m


@pytest.mark.parametrize("build, expected", [
    (flat_model, FLAT_TERMS),
    (potential_prior_model, ["data-free Potential 'shrink'"]),
    (hyperparameter_data_model, ["data-free Potential 'shrink'"]),
    (potential_likelihood_model, []),
    (boltzmann_model, []),
    (observed_potential_model, []),
])
def test_detection_rule(build, expected):
    assert improper_prior_terms(build()) == expected


def test_built_in_models_have_proper_priors():
    from physml.models import continuous_ising as ci, ising as im, regression as reg

    data = reg.synthetic_data()
    for m in (im.ising_model(L=4, K=0.3, h=0.1), ci.continuous_ising_model(im.ising_couplings(4, 0.3)),
              reg.conjugate_model(data, reg.ConjugatePrior(data.d))):
        assert improper_prior_terms(m) == []
        require_proper_prior(m, "test")  # does not raise


@pytest.fixture(scope="module")
def flat():
    return flat_model()


def _undefined(record: FreeEnergy, names: list[str]) -> None:
    assert record.kind == "undefined" and math.isnan(record.value) and math.isnan(record.se)
    assert record.note.startswith(f"undefined: improper prior ({', '.join(names)}) — the marginal likelihood is not defined")


def test_nuts_fits_the_posterior_and_records_an_undefined_bridge(flat, tmp_path):
    result = fit(flat, "nuts", draws=100, tune=200, chains=2, seed=seed(1))
    post = result["posterior"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 100
    assert np.all(np.isfinite(post["beta"].values)) and np.all(post["sigma"].values > 0)
    (record,) = free_energies(result)
    assert record.estimator == "bridge"
    _undefined(record, FLAT_TERMS)
    result.to_netcdf(tmp_path / "nuts.nc")
    (reread,) = free_energies(xr.open_datatree(tmp_path / "nuts.nc"))
    _undefined(reread, FLAT_TERMS)


def test_advi_records_undefined_neg_elbo_and_psis(flat):
    result = fit(flat, "advi", draws=50, seed=seed(2))
    assert "beta" in result["posterior"]
    records = {r.estimator: r for r in free_energies(result)}
    assert sorted(records) == ["neg_elbo", "psis_is"]
    for record in records.values():
        _undefined(record, FLAT_TERMS)


@pytest.mark.parametrize("estimators", [("bridge",), ("ti", "bridge")])
def test_explicit_request_raises_naming_the_variables(flat, estimators):
    with pytest.raises(ValueError, match=r"cannot run: improper prior \(Flat on 'beta', HalfFlat on 'sigma'\)"):
        fit(flat, "nuts", draws=10, tune=10, chains=1, free_energy=estimators)
    with pytest.raises(ValueError, match=r"data-free Potential 'shrink'.*pm.Data"):
        fit(potential_prior_model(), "nuts", draws=10, tune=10, chains=1, free_energy=estimators)


# the guard comes before any use of the result, so an empty one (with the group bridge asks for) will do
EMPTY_RESULT = xr.DataTree.from_dict({"posterior": xr.Dataset()})
ESTIMATOR_CALLS = {
    "power_posterior_ti": lambda m: power_posterior_ti(m),
    "bridge_sampling": lambda m: bridge_sampling(m, EMPTY_RESULT),
    "importance_sampling": lambda m: importance_sampling(m, EMPTY_RESULT),
    "estimate_smc": lambda m: estimate_smc(m, EMPTY_RESULT, seed=0),
    **{f"registry:{name}": (lambda m, name=name: FREE_ENERGY_ESTIMATORS[name].estimate(m, EMPTY_RESULT, seed=0))
       for name in ("ti", "bridge", "psis_is", "smc", "ais", "bdmc")},
    "ais_pymc": lambda m: ais_pymc(m),
    "bdmc_pymc": lambda m: bdmc_pymc(m, EMPTY_RESULT),
}


@pytest.mark.parametrize("call", sorted(ESTIMATOR_CALLS))
@pytest.mark.parametrize("build, named", [(flat_model, "Flat on 'beta'"),
                                          (potential_prior_model, "data-free Potential 'shrink'")])
def test_every_estimator_refuses_an_improper_prior(call, build, named):
    with pytest.raises(ValueError, match=f"cannot run: improper prior \\(.*{named}"):
        ESTIMATOR_CALLS[call](build())


def test_smc_refuses_flat_priors_and_records_undefined_evidence_for_a_prior_potential(flat):
    with pytest.raises(ValueError, match=r"method 'smc' cannot fit this model: .*Flat on 'beta'"):
        fit(flat, "smc")
    result = fit(potential_prior_model(), "smc", draws=200, chains=2, seed=seed(3))
    assert np.all(np.isfinite(result["posterior"]["mu"].values))
    (record,) = free_energies(result)
    assert record.estimator == "smc"
    _undefined(record, ["data-free Potential 'shrink'"])


def test_a_potential_on_data_is_a_likelihood_and_gives_the_evidence():
    """Bridge sampling from exact posterior draws of the Potential-likelihood model matches
    ln N(y; 0, I + 11ᵀ) within 4 se."""
    n = Y.size
    exact = -stats.multivariate_normal(np.zeros(n), np.eye(n) + np.ones((n, n))).logpdf(Y)
    rng = np.random.default_rng(seed(4))
    mu = Y.sum() / (n + 1) + rng.standard_normal((2, 500)) / math.sqrt(n + 1)
    posterior = xr.Dataset({"mu": (("chain", "draw"), mu)})
    record = bridge_sampling(potential_likelihood_model(), posterior, seed=seed(5))
    assert record.kind == "estimate" and abs(record.value - exact) < 4 * record.se, (record, exact)
