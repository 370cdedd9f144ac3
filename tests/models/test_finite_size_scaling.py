"""Bayesian finite-size scaling: the PyMC model recovers known exponents from data drawn from its scaling form.

Synthetic U₄, χ′, ⟨|m|⟩ at L = 8, 16, 32 (7 couplings each, x ∈ [−0.4, 0.4]) from the exact 2D Ising
exponents with smooth scaling functions, corrections and measurement noise of the size real runs give;
NUTS's posterior must contain the truth within threshold(4) posterior sd for K_c, ν, γ/ν and β/ν.
The numpy log likelihood (the model's energy) must equal the PyMC model's.
"""
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.graph.replace import graph_replace
from seeding import seed
from statcheck import threshold

from physml.inference import fit
from physml.models import finite_size_scaling as fss

TRUTH = {**fss.EXACT, "coef_binder": np.array([0.61, 0.35, -0.4, 0.1]), "corr_binder": 0.3,
         "coef_log_chi_prime": np.array([-0.35, 2.0, -0.5, 0.0]), "corr_log_chi_prime": 1.0,
         "coef_log_abs_m": np.array([0.05, 0.9, -0.6, 0.2]), "corr_log_abs_m": -0.5}
SE = {"binder": 0.004, "log_chi_prime": 0.012, "log_abs_m": 0.008}


def _data(s):
    L = np.repeat([8, 16, 32], 7)
    K = fss.K_CRITICAL + 0.002 + np.tile(np.linspace(-0.4, 0.4, 7), 3) / L
    return fss.synthetic_data(TRUTH, L, K, SE, 1.75, 3, np.random.default_rng(seed(s)))


@pytest.fixture(scope="module")
def synthetic_fits():
    model = fss.fss_model(_data(5), degree=3)
    return model, fit(model, "nuts", draws=300, tune=300, chains=2, seed=seed(6), free_energy=())


def test_nuts_recovers_exponents_from_synthetic_data(synthetic_fits):
    post = synthetic_fits[1]["posterior"]
    for p, exact in fss.EXACT.items():
        z = (float(post[p].mean()) - exact) / float(post[p].std())
        assert abs(z) < threshold(len(fss.EXACT)), (p, float(post[p].mean()), float(post[p].std()))


def test_mean_field_advi_converges_on_the_nuts_centre_with_too_small_sds(synthetic_fits):
    """The FSS posterior is strongly correlated: mean-field ADVI must converge (it did not before the drift-test
    stopping rule), centre where NUTS does, and under-state the sds (the family's known failure, reported)."""
    model, nuts = synthetic_fits
    advi = fit(model, "advi", seed=seed(7), free_energy=())
    assert bool(advi["diagnostics"]["converged"])
    for p in fss.EXACT:
        centre, width = float(nuts["posterior"][p].mean()), float(nuts["posterior"][p].std())
        q = advi["posterior"][p]
        assert abs(float(q.mean()) - centre) < threshold(len(fss.EXACT)) * width, p
        assert float(q.std()) < width, p


def test_log_likelihood_matches_pymc_model():
    data = _data(1)
    model = fss.fss_model(data, degree=3)
    point = {"K_c": fss.K_CRITICAL, "nu": 1.0, "gamma_over_nu": 1.75, "beta_over_nu": 0.125,
             **{k: v for k, v in TRUTH.items() if k.startswith(("coef_", "corr_"))}}
    total = sum(pm.logp(obs, model.rvs_to_values[obs]).sum() for obs in model.observed_RVs)
    fixed = {rv: pt.as_tensor(np.asarray(point[rv.name], dtype=float)) for rv in model.free_RVs}
    pymc_ll = float(graph_replace(total, fixed, strict=False).eval())
    assert pymc_ll == pytest.approx(fss.log_likelihood(point, data, 1.75, 3), rel=1e-10)


def test_bad_input():
    d = _data(2)
    with pytest.raises(ValueError, match="at least 2 distinct sizes"):
        fss.ScalingData(np.full(3, 8.0), *(np.ones(3) for _ in range(7)))
    with pytest.raises(ValueError, match="degree"):
        fss.fss_model(d, degree=0)
    with pytest.raises(ValueError, match="omega"):
        fss.fss_model(d, omega=0.0)
