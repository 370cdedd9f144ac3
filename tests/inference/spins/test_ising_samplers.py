"""Each sampler's <E>, <|M|>, <M²> against exact values; fit() registration; PyMC step methods.

Each check aggregates over independent chains (``statcheck.assert_mcmc_mean``: the error of the
pooled mean in units of max(MCSE, between-chain se), bound q(1e-5 / checks)), so neither an MCSE
that under-states the autocorrelation at K_c nor one lucky trajectory decides it.
"""

import numpy as np
import pymc as pm
import pytest

from physml.inference.spins import checkerboard, swendsen_wang, wolff  # noqa: F401  (registers methods)
from physml.inference.spins.checkerboard import CheckerboardKernel
from physml.inference.spins.driver import run_blocks
from physml.inference.spins.kernel import SpinKernel
from physml.inference.spins.lattice import couplings_of
from physml.inference.records import diagnostics
from physml.inference.registry import METHODS
from physml.inference.spins.pymc_steps import CheckerboardStep, SwendsenWangStep, WolffStep
from physml.inference.spins.swendsen_wang import SwendsenWangKernel
from physml.inference.spins.wolff import WolffKernel
from physml.models.ising import K_CRITICAL, enumerate_ising, ising_couplings, ising_model, kaufman_observables

from seeding import seed
from statcheck import assert_mcmc_mean

RUNS = {"checkerboard": checkerboard.run_checkerboard, "heat_bath": checkerboard.run_heat_bath,
        "swendsen_wang": swendsen_wang.run_swendsen_wang, "wolff": wolff.run_wolff}


def assert_observables(result, exact: dict, label: str):
    """Every observable named in ``exact`` against its exact value, aggregated over the chains."""
    post = result["posterior"]
    for name, value in exact.items():
        assert_mcmc_mean(post[name].transpose("chain", "draw").values, value, n_checks=len(exact),
                         label=f"{label} {name}")


@pytest.mark.parametrize("method", list(RUNS))
@pytest.mark.parametrize("K", [0.3, K_CRITICAL])
def test_l4_matches_enumeration(method, K):
    model = ising_model(4, K)
    ex = enumerate_ising(ising_couplings(4, K))
    res = RUNS[method](model, draws=1500, tune=100, chains=8, seed=seed(5))
    assert_observables(res, {"energy": ex["energy_per_spin"], "abs_magnetisation": ex["abs_magnetisation"],
                             "magnetisation_sq": ex["magnetisation_sq"]}, f"{method} K={K:.3f}")


@pytest.mark.parametrize("method", ["checkerboard", "heat_bath"])
def test_field_and_odd_periodic_lattice(method):
    """h != 0 and a non-bipartite 3x3 torus (3+ colours) against enumeration."""
    model = ising_model(3, 0.35, h=0.1)
    ex = enumerate_ising(couplings_of(model)[0])
    res = RUNS[method](model, draws=1500, tune=100, chains=8, seed=seed(6))
    assert_observables(res, {"energy": ex["energy_per_spin"], "abs_magnetisation": ex["abs_magnetisation"]},
                       method)


@pytest.mark.parametrize("method", list(RUNS))
def test_l8_energy_matches_kaufman_derivative(method):
    exact = kaufman_observables(8, K_CRITICAL)["energy_per_spin"]
    res = RUNS[method](ising_model(8, K_CRITICAL), draws=1000, tune=200, chains=8, seed=seed(7))
    assert_observables(res, {"energy": exact}, method)


def test_cluster_moves_beat_local_moves_at_kc():
    """Critical slowing down: at K_c (L = 16) the integrated autocorrelation time of |M| in sweeps
    is several times shorter for Wolff than for checkerboard Metropolis (measured 1.3 vs 11.3)."""
    model = ising_model(16, K_CRITICAL)
    tau = {m: diagnostics(RUNS[m](model, draws=2000, tune=200, chains=4, seed=seed(8)))
           ["tau_int_sweeps_abs_magnetisation"] for m in ("checkerboard", "wolff")}
    assert 0 < tau["wolff"] < tau["checkerboard"] / 3, tau


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


@pytest.mark.parametrize("make", [lambda c: CheckerboardKernel(c, "heat_bath", 2), lambda c: SwendsenWangKernel(c, 2),
                                  lambda c: WolffKernel(c, 3)])
def test_every_kernel_implements_the_protocol(make):
    """The driver sees only SpinKernel: same seed -> same batch; a cluster kernel's batch is its steps."""
    kern = make(ising_couplings(6, 0.4))
    assert isinstance(kern, SpinKernel)
    s0 = kern.init(rng=np.random.default_rng(seed(0)))
    runs = [run_blocks(kern, np.random.default_rng(seed(1)), s0, 7, True) for _ in range(2)]
    (state, obs, spins), (_, obs2, spins2) = runs
    assert spins.shape == (7, 36) and np.array_equal(spins, spins2) and np.array_equal(state.spins, spins[-1])
    assert np.array_equal(obs["energy"], obs2["energy"])
    assert (kern.step_stat in obs) == (kern.step_stat is not None)
    if kern.step_stat:  # the in-place batch is the sequence of pure steps drawn from the same Generator
        rng, s = np.random.default_rng(seed(1)), s0
        for t in range(7):
            s = kern.step(rng, s)
            assert np.array_equal(s.spins, spins[t])


@pytest.mark.parametrize("step_cls,kw", [(CheckerboardStep, {"rule": "heat_bath"}), (SwendsenWangStep, {}),
                                         (WolffStep, {})])
def test_pymc_sample_with_physml_step(step_cls, kw):
    model = ising_model(3, 0.3)
    ex = enumerate_ising(couplings_of(model)[0])
    with model:
        idata = pm.sample(draws=750, tune=50, chains=4, cores=1, step=step_cls(**kw), random_seed=seed(3),
                          progressbar=False, compute_convergence_checks=False)
    s = 2 * idata.posterior["up"].values.astype(int) - 1
    assert_mcmc_mean(np.abs(s.mean(axis=-1)), ex["abs_magnetisation"], label=step_cls.__name__)


def test_pymc_default_step_is_binary_gibbs_metropolis():
    """The declarative model is sampled by PyMC's own BinaryGibbsMetropolis, and that baseline is right."""
    model = ising_model(2, 0.3)
    _, selected = pm.sampling.mcmc.assign_step_methods(model)
    assert [cls.__name__ for cls in selected] == ["BinaryGibbsMetropolis"]
    ex = enumerate_ising(couplings_of(model)[0])
    with model:
        idata = pm.sample(draws=500, tune=50, chains=4, cores=1, random_seed=seed(4), progressbar=False,
                          compute_convergence_checks=False)
    s = 2 * idata.posterior["up"].values.astype(int) - 1
    assert_mcmc_mean(np.abs(s.mean(axis=-1)), ex["abs_magnetisation"], label="BinaryGibbsMetropolis")
