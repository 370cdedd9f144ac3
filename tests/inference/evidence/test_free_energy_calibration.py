"""Is each free-energy estimator's se honest — neither too small nor too large?

R = 50 seeded repeats per estimator on the 1-D Normal-mean model (exact evidence in closed form;
its graph compiled once and reused).  With z_r = (F̂_r − F)/se_r, ``statcheck.assert_calibrated``
requires, each band set from R so that a calibrated estimator fails it with probability ≤ 1e-5:
|mean z| ≤ 4.4·sd/√R (bias), sd(z) within the χ²₄₉ band [0.59, 1.83] (an se 1.5× too large gives
sd ≈ 0.65 and fails; too small fails the upper end or the coverage), and the coverage of ±2 se at
least 0.78.  Seeds go through ``seeding`` so the suite can be re-run on other trajectories.
"""

from __future__ import annotations

import pytest
import xarray as xr

from physml.inference.evidence.pymc_ais import ais_pymc
from physml.inference.evidence.bridge_sampling import bridge_sampling
from physml.inference.evidence.importance_sampling import gaussian_log_weights, importance_sampling, vi_log_weights_tree
from physml.inference.evidence.power_posteriors import power_posterior_ti, sample_power_posterior

from fe_models import normal_mean
from seeding import seeds
from statcheck import assert_calibrated

N_REPEATS = 50
SEEDS = seeds(1000, N_REPEATS)


def _check(records, label):
    case = normal_mean()
    return assert_calibrated([r.value for r in records], [r.se for r in records], -case.log_z(1.0), label=label)


@pytest.mark.slow
def test_ti_se_calibrated():
    model = normal_mean().model
    _check([power_posterior_ti(model, n_rungs=10, draws=300, tune=200, seed=s) for s in SEEDS], "ti")


def test_bridge_se_calibrated():
    model = normal_mean().model
    recs = []
    for s in SEEDS:
        trace = sample_power_posterior(model, 1.0, draws=200, tune=200, chains=2, seed=s)
        recs.append(bridge_sampling(model, trace["posterior"], seed=s))
    _check(recs, "bridge")


def test_psis_is_se_calibrated():
    case = normal_mean()
    m, v = case.power_posterior(1.0)
    recs = []
    for s in SEEDS:  # a decent VI-like q: slightly shifted and wider than the posterior
        log_p, log_q, _ = gaussian_log_weights(case.model, [m + 0.2 * v**0.5], sd=[1.3 * v**0.5],
                                               n_draws=500, seed=s)
        result = xr.DataTree()
        result["vi_log_weights"] = vi_log_weights_tree(log_p, log_q)
        recs.append(importance_sampling(case.model, result, seed=s))
    _check(recs, "psis_is")


def test_ais_se_calibrated():
    model = normal_mean().model
    _check([ais_pymc(model, seed=s, n_runs=100, n_temperatures=100) for s in SEEDS], "ais")
