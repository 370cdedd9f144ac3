"""``fit()`` warns like ``pm.sample`` and refuses unsupported structure before sampling.

The divergent model is the centered eight schools (Rubin 1981; Gelman et al., BDA3 §5.5): with NUTS
4 × 1000 at the default target_accept its funnel makes the sampler diverge (34 divergences, R-hat 1.09
measured in issue 12), so the fit must warn and bridge sampling on its draws must flag itself; TI's
rungs on the same model diverge too (here at target_accept 0.6, which makes it overwhelmingly likely).
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

from physml.inference import diagnostics, fit, free_energies
from physml.inference.draw_checks import FitWarning, draw_problems
from physml.inference.evidence.power_posteriors import power_posterior_ti
from seeding import seed

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])  # Rubin (1981), SAT coaching effects
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])  # and their standard errors


def centered_eight_schools():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfCauchy("tau", 5)
        theta = pm.Normal("theta", mu, tau, shape=8)
        pm.Normal("y", theta, SIGMA, observed=Y)
    return m


def discrete_model():
    with pm.Model() as m:
        k = pm.Poisson("k", 3.0)
        pm.Normal("y", k, 1.0, observed=np.array([2.2, 3.1, 2.7]))
    return m


def test_divergent_fit_warns_once_with_a_hint_and_flags_its_bridge_estimate():
    model = centered_eight_schools()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(model, "nuts", draws=1000, tune=1000, chains=4, seed=seed(1), free_energy="bridge")
    diag = diagnostics(result)
    problems = draw_problems(diag)
    assert diag["divergences"] > 0 and problems, diag
    ours = [w for w in caught if issubclass(w.category, FitWarning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    text = str(ours[0].message)
    assert "\n" not in text and "reparameterise" in text and "target_accept" in text
    assert all(p in text for p in problems) and f"{diag['divergences']} divergences" in text
    (bridge,) = [r for r in free_energies(result) if r.estimator == "bridge"]
    assert bridge.note.startswith("unreliable:"), bridge.note
    assert f"the fit had {diag['divergences']} divergent transitions" in bridge.note
    assert "log_likelihood" in result.children  # the warnings do not cost the ArviZ groups


def test_ti_whose_rungs_diverged_is_unreliable():
    rec, det = power_posterior_ti(centered_eight_schools(), n_rungs=4, draws=200, tune=200, chains=2,
                                  seed=seed(2), return_details=True, target_accept=0.6)
    assert det["divergences"] > 0, det["divergences"]
    assert rec.note.startswith(f"unreliable: NUTS diverged {det['divergences']} times on the rungs"), rec.note
    assert "target_accept" in rec.note.split("power posteriors")[0]


@pytest.mark.parametrize("diag, expected", [
    ({"divergences": 0, "max_rhat": 1.005, "min_ess_bulk": 800.0, "n_chains": 4, "n_draws": 1000}, []),
    ({"divergences": 3, "max_rhat": 1.0, "min_ess_bulk": 800.0, "n_chains": 4, "n_draws": 1000},
     ["3 divergences after tuning (0.075 % of the draws)"]),
    ({"max_rhat": 1.09, "min_ess_bulk": 800.0, "n_chains": 4, "n_draws": 1000}, ["max R-hat 1.090 > 1.01"]),
    ({"max_rhat": 1.0, "min_ess_bulk": 37.0, "n_chains": 4, "n_draws": 1000},
     ["min bulk ESS 37 < 400 (100 per chain, 4 chains)"]),
    ({"max_rhat": float("nan"), "min_ess_bulk": 150.0, "n_chains": 1, "n_draws": 1000}, []),  # 1 chain: no R-hat
])
def test_draw_problems_thresholds(diag, expected):
    assert draw_problems(diag) == expected


def test_discrete_variables_with_an_evidence_estimator_are_refused_before_sampling(monkeypatch):
    def no_sampling(*args, **kwargs):
        raise AssertionError("fit sampled before refusing")

    monkeypatch.setattr(pm, "sample", no_sampling)
    model = discrete_model()
    for free_energy in ("bridge", ("bridge",), ["ti"]):
        with pytest.raises(ValueError, match=r"free_energy=\('(bridge|ti)',\) needs continuous free variables, "
                                             r"but \['k'\] are discrete"):
            fit(model, "metropolis", draws=100, tune=100, chains=2, seed=seed(3), free_energy=free_energy)


def test_smc_refusal_names_smc_not_gradient_samplers():
    with pytest.raises(ValueError, match="method 'smc' cannot fit this model") as info:
        fit(discrete_model(), "smc", draws=100, chains=2, seed=seed(4))
    assert "gradient" not in str(info.value) and "SMC" in str(info.value)


@pytest.mark.parametrize("bad", [3, ["bridge", 3], {"bridge": 1}.values()])
def test_free_energy_must_be_names(bad):
    with pytest.raises(ValueError, match="free_energy must be an estimator name or a tuple of names|"
                                         "free_energy must name estimators"):
        fit(centered_eight_schools(), "nuts", draws=10, tune=10, chains=1, seed=seed(5), free_energy=bad)


def test_free_energy_string_unknown_is_named_whole():
    with pytest.raises(ValueError, match=r"got 'brigde'"):
        fit(centered_eight_schools(), "nuts", draws=10, tune=10, chains=1, seed=seed(5), free_energy="brigde")


def test_metropolis_on_a_discrete_model_has_no_stray_runtime_warnings():
    """Spins pinned by the data (p(k=0 | y) ~ e^-200) never move: ArviZ's R-hat and ESS of a constant
    are 0/0, which used to print 'invalid value encountered in scalar divide' per component."""
    with pm.Model() as pinned:
        k = pm.Bernoulli("k", 0.5, shape=3)
        pm.Normal("y", 10 * k, 0.5, observed=np.array([10.1, 9.8, 10.2]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(pinned, "metropolis", draws=200, tune=200, chains=2, seed=seed(6))
    stray = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not stray, stray
    assert result["log_likelihood"]["y"].shape == (2, 200, 3)
