"""ArviZ-native fit results: ``observed_data`` and the pointwise ``log_likelihood`` group.

The pointwise values must equal PyMC's own ``compute_log_likelihood`` on the same draws (an
independent implementation: per draw, no vectorisation, no chunks), for nutpie, PyMC's NUTS and VI;
``arviz_stats.loo`` / ``compare`` must run on physml results of two regression models.
"""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from pymc.stats import compute_log_likelihood

from physml.inference import fit
from physml.inference.log_likelihood import ATTR, add_log_likelihood, pointwise_log_likelihood
from seeding import seed

N = 40
pytestmark = pytest.mark.filterwarnings("ignore::physml.inference.draw_checks.FitWarning")  # short runs


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(seed(11))
    x = rng.uniform(-2, 2, N)
    return x, 0.5 + 2.0 * x + rng.standard_normal(N)  # a strong slope: the line model wins by far


def line_model(x, y):
    with pm.Model(coords={"obs": np.arange(N)}) as m:
        a = pm.Normal("a", 0, 5)
        b = pm.Normal("b", 0, 5)
        s = pm.HalfNormal("s", 2)
        pm.Normal("y", a + b * x, s, observed=y, dims="obs")
    return m


def constant_model(y):
    with pm.Model() as m:
        a = pm.Normal("a", 0, 5)
        s = pm.HalfNormal("s", 5)
        pm.Normal("y", a, s, observed=y)
    return m


@pytest.fixture(scope="module")
def fits(data):
    x, y = data
    line, const = line_model(x, y), constant_model(y)
    kw = dict(draws=300, tune=300, chains=2, free_energy=())
    return {"line": (line, fit(line, "nuts", seed=seed(1), **kw)),
            "constant": (const, fit(const, "nuts", seed=seed(2), **kw))}


def assert_same_as_pymc(model, result):
    with model:
        ref = compute_log_likelihood(result, extend_inferencedata=False, progressbar=False)
    ours = result["log_likelihood"].to_dataset()
    assert set(ours.data_vars) == set(ref.data_vars) == {rv.name for rv in model.observed_RVs}
    for name in ref.data_vars:
        assert ours[name].dims == ref[name].dims
        np.testing.assert_allclose(ours[name].values, ref[name].values, rtol=1e-10, atol=1e-12)


def test_nutpie_fit_has_observed_data_and_pymc_log_likelihood(fits, data):
    for model, result in fits.values():
        assert {"observed_data", "log_likelihood"} <= set(result.children)
        np.testing.assert_array_equal(result["observed_data"]["y"].values, data[1])
        assert_same_as_pymc(model, result)
        assert result.attrs[ATTR] == "stored for ['y']"
    assert fits["line"][1]["log_likelihood"]["y"].dims == ("chain", "draw", "obs")


def test_loo_and_compare_rank_the_true_model_first(fits):
    loo = azs.loo(fits["line"][1])
    assert np.isfinite(loo.elpd) and loo.n_data_points == N
    table = azs.compare({name: result for name, (_, result) in fits.items()})
    assert list(table.index) == ["line", "constant"]
    # the data have slope 2 over x in [-2, 2] with unit noise: tens of nats apart, far beyond the se
    assert abs(table.loc["constant", "elpd_diff"]) > 5 * table.loc["constant", "dse"]


def test_log_likelihood_survives_netcdf(fits, tmp_path):
    _, result = fits["line"]
    path = tmp_path / "line.nc"
    result.to_netcdf(path)
    back = xr.open_datatree(path)
    np.testing.assert_array_equal(back["log_likelihood"]["y"].values, result["log_likelihood"]["y"].values)
    assert back.attrs[ATTR] == result.attrs[ATTR]


def test_pymc_backend_and_vi_match_pymc_too(data):
    x, y = data
    model = line_model(x, y)
    nuts = fit(model, "nuts", backend="pymc", draws=100, tune=100, chains=2, seed=seed(3), free_energy=())
    assert "observed_data" in nuts.children
    assert_same_as_pymc(model, nuts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of a 500-step ADVI is not what is tested here
        vi = fit(model, "advi", draws=200, seed=seed(3), max_steps=500, free_energy=())
    assert_same_as_pymc(model, vi)


def test_multivariate_observed_gives_one_value_per_row():
    """No sampling: any draws will do for the equality with PyMC (here drawn around the data mean)."""
    rng = np.random.default_rng(seed(12))
    with pm.Model(coords={"obs": np.arange(20), "dim": np.arange(3)}) as model:
        mu = pm.Normal("mu", 0, 3, dims="dim")
        pm.MvNormal("Y", mu, np.eye(3), observed=1.0 + rng.standard_normal((20, 3)), dims=("obs", "dim"))
    draws = xr.Dataset({"mu": (("chain", "draw", "dim"), 1.0 + 0.2 * rng.standard_normal((2, 50, 3)))},
                       coords={"chain": [0, 1], "draw": np.arange(50), "dim": np.arange(3)})
    result = add_log_likelihood(xr.DataTree.from_dict({"posterior": draws}), model)
    assert result["log_likelihood"]["Y"].dims == ("chain", "draw", "obs")
    assert_same_as_pymc(model, result)


def test_chunks_give_the_same_numbers(fits):
    model, result = fits["line"]
    small = pointwise_log_likelihood(model, result["posterior"].to_dataset(), chunk_elements=7 * N + 3)
    np.testing.assert_array_equal(small["y"].values, result["log_likelihood"]["y"].values)


def test_size_cap_skips_the_group_with_a_note(fits):
    model, result = fits["constant"]
    copy = result.copy()
    del copy["log_likelihood"]
    with pytest.warns(UserWarning, match="no log_likelihood group: skipped"):
        add_log_likelihood(copy, model, max_bytes=1000)
    assert "log_likelihood" not in copy.children
    assert copy.attrs[ATTR].startswith("skipped: the pointwise log likelihood would take")


def test_idata_kwargs_on_nutpie(fits):
    model = fits["constant"][0]  # nutpie's compiled model is cached per model object
    kw = dict(draws=50, tune=50, chains=1, seed=seed(4), free_energy=())
    off = fit(model, "nuts", idata_kwargs={"log_likelihood": False}, **kw)
    assert "log_likelihood" not in off.children and "observed_data" in off.children
    named = fit(model, "nuts", idata_kwargs={"log_likelihood": ["y"]}, **kw)
    assert list(named["log_likelihood"].data_vars) == ["y"]
    with pytest.raises(ValueError, match=r"idata_kwargs supports only \('log_likelihood',\).*'save_warmup'"):
        fit(model, "nuts", idata_kwargs={"save_warmup": True}, **kw)
    with pytest.raises(ValueError, match=r"idata_kwargs\['log_likelihood'\] must be a bool or names from \['y'\]"):
        fit(model, "nuts", idata_kwargs={"log_likelihood": ["z"]}, **kw)


def test_model_without_observed_data_has_no_group():
    with pm.Model() as m:
        pm.Normal("a", 0, 1)
    draws = xr.Dataset({"a": (("chain", "draw"), np.zeros((1, 5)))})
    result = add_log_likelihood(xr.DataTree.from_dict({"posterior": draws}), m)
    assert "log_likelihood" not in result.children and "observed_data" not in result.children
    assert result.attrs[ATTR] == "none: the model has no observed variables"
