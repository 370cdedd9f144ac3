"""Each sampler's <E> and <|M|> within 4 MCSE of exact; fit() registration; PyMC step methods."""

import numpy as np
import pymc as pm
import pytest

from physml.inference import checkerboard, swendsen_wang, wolff  # noqa: F401  (registers methods)
from physml.inference.checkerboard import CheckerboardKernel, CheckerboardStep
from physml.inference.lattice import couplings_of
from physml.inference.records import diagnostics
from physml.inference.registry import METHODS
from physml.inference.swendsen_wang import SwendsenWangStep
from physml.inference.wolff import WolffStep
from physml.models.ising import K_CRITICAL, enumerate_ising, ising_couplings, ising_model, kaufman_observables

RUNS = {"checkerboard": checkerboard.run_checkerboard, "heat_bath": checkerboard.run_heat_bath,
        "swendsen_wang": swendsen_wang.run_swendsen_wang, "wolff": wolff.run_wolff}


def within_4_mcse(d, name, exact):
    return abs(d[f"mean_{name}"] - exact) < 4 * d[f"mcse_{name}"]


@pytest.mark.parametrize("method", list(RUNS))
@pytest.mark.parametrize("K", [0.3, K_CRITICAL])
def test_l4_matches_enumeration(method, K):
    model = ising_model(4, K)
    ex = enumerate_ising(ising_couplings(4, K))
    d = diagnostics(RUNS[method](model, draws=3000, tune=100, chains=4, seed=5))
    assert within_4_mcse(d, "energy", ex["energy_per_spin"])
    assert within_4_mcse(d, "abs_magnetisation", ex["abs_magnetisation"])
    assert within_4_mcse(d, "magnetisation_sq", ex["magnetisation_sq"])
    assert d["max_rhat"] < 1.05


@pytest.mark.parametrize("method", ["checkerboard", "heat_bath"])
def test_field_and_odd_periodic_lattice(method):
    """h != 0 and a non-bipartite 3x3 torus (3+ colours) against enumeration."""
    model = ising_model(3, 0.35, h=0.1)
    ex = enumerate_ising(couplings_of(model)[0])
    d = diagnostics(RUNS[method](model, draws=3000, tune=100, chains=4, seed=6))
    assert within_4_mcse(d, "energy", ex["energy_per_spin"])
    assert within_4_mcse(d, "abs_magnetisation", ex["abs_magnetisation"])


@pytest.mark.parametrize("method", list(RUNS))
def test_l8_energy_matches_kaufman_derivative(method):
    exact = kaufman_observables(8, K_CRITICAL)["energy_per_spin"]
    d = diagnostics(RUNS[method](ising_model(8, K_CRITICAL), draws=2000, tune=200, chains=4, seed=7))
    assert within_4_mcse(d, "energy", exact)
    assert d["tau_int_sweeps_energy"] > 0


def test_methods_registered_and_supports():
    for name in RUNS:
        assert name in METHODS and METHODS[name].family == "mcmc"
    with pm.Model() as plain:
        pm.Normal("x")
    assert isinstance(METHODS["checkerboard"].supports(plain), str)
    assert METHODS["checkerboard"].supports(ising_model(4, 0.3)) is None
    assert isinstance(METHODS["wolff"].supports(ising_model(4, 0.3, h=0.1)), str)


def test_result_datatree_layout(tmp_path):
    import xarray as xr
    dt = checkerboard.run_checkerboard(ising_model(4, 0.3), draws=50, tune=10, chains=2, seed=1)
    assert dt["posterior"]["spins"].shape == (2, 50, 16)
    assert set(np.unique(dt["posterior"]["spins"].values)) <= {-1, 1}
    path = tmp_path / "r.nc"
    dt.to_netcdf(path)
    back = xr.open_datatree(path)
    assert "min_ess_bulk" in diagnostics(back)


def test_step_is_pure_and_seeded():
    kern = CheckerboardKernel(ising_couplings(8, 0.4), "metropolis", 2)
    s0 = kern.init(rng=np.random.default_rng(0))
    before = s0.spins.copy()
    a = kern.step(np.random.default_rng(1), s0)
    b = kern.step(np.random.default_rng(1), s0)
    assert np.array_equal(s0.spins, before) and np.array_equal(a.spins, b.spins)
    with pytest.raises(ValueError):
        CheckerboardKernel(ising_couplings(4, 0.4), "glauber")
    with pytest.raises(ValueError):
        CheckerboardKernel(ising_couplings(4, 0.4), "metropolis", 0)


@pytest.mark.parametrize("step_cls,kw", [(CheckerboardStep, {"rule": "heat_bath"}), (SwendsenWangStep, {}),
                                         (WolffStep, {})])
def test_pymc_sample_with_physml_step(step_cls, kw):
    model = ising_model(3, 0.3)
    ex = enumerate_ising(couplings_of(model)[0])
    with model:
        idata = pm.sample(draws=1500, tune=50, chains=2, cores=1, step=step_cls(**kw), random_seed=3,
                          progressbar=False, compute_convergence_checks=False)
    up = idata.posterior["up"].values
    s = 2 * up.astype(int) - 1
    m = np.abs(s.mean(axis=-1))
    import arviz_stats as azs
    assert abs(m.mean() - ex["abs_magnetisation"]) < 4 * float(azs.mcse(m))


def test_pymc_default_step_is_binary_gibbs_metropolis():
    """The declarative model is sampled by PyMC's own BinaryGibbsMetropolis, and that baseline is right."""
    model = ising_model(2, 0.3)
    _, selected = pm.sampling.mcmc.assign_step_methods(model)
    assert [cls.__name__ for cls in selected] == ["BinaryGibbsMetropolis"]
    ex = enumerate_ising(couplings_of(model)[0])
    with model:
        idata = pm.sample(draws=1000, tune=50, chains=2, cores=1, random_seed=4, progressbar=False,
                          compute_convergence_checks=False)
    s = 2 * idata.posterior["up"].values.astype(int) - 1
    m = np.abs(s.mean(axis=-1))
    import arviz_stats as azs
    assert abs(m.mean() - ex["abs_magnetisation"]) < 4 * float(azs.mcse(m))
