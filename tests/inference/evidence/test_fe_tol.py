"""Accuracy on request (``fe_tol``): TI and AIS / BDMC grow their budgets until the error is below the
tolerance, or say `unreliable:` when the time cap stops them; bad values are a ValueError.

Statistical checks are "reached, and the error within threshold() se of the exact value" for one run
(a calibrated estimator fails that with probability <= 1e-5), and "flagged, saying why" where the
flag is under test. Exact references: Kaufman's ln Z (Ising, periodic) and the closed form of
tests/fe_models.NormalMean.
"""

from __future__ import annotations

import math
import re

import pytest

import fe_models
import statcheck
from seeding import seed
from physml.inference.evidence.adaptive import ErrorSplit, Knob, until_tolerance
from physml.inference.evidence.pymc_ais import ais_pymc_to_tolerance
from physml.inference.spins.free_energy import bdmc_to_tolerance, ti_to_tolerance
from physml.inference.records import FreeEnergy
from physml.inference.registry import FREE_ENERGY_ESTIMATORS
from physml.inference.evidence.power_posteriors import ti_to_tolerance as pymc_ti_to_tolerance
from physml.models import ising as im

L, K = 8, im.K_CRITICAL
N_CHECKS = 3  # reached-tolerance error checks in this file (Bonferroni)


@pytest.fixture(scope="module")
def ising():
    return im.ising_couplings(L, K, 0.0, "periodic"), -im.log_partition_kaufman(L, K)


def assert_reached(rec: FreeEnergy, exact: float, fe_tol: float, label: str):
    assert not rec.note.startswith("unreliable:"), f"{label}: {rec.note}"
    assert f"fe_tol {fe_tol:g} reached" in rec.note, rec.note
    assert rec.se <= fe_tol, f"{label}: se {rec.se} > fe_tol {fe_tol}"
    z = (rec.value - exact) / rec.se
    assert abs(z) < statcheck.threshold(N_CHECKS), f"{label}: error {rec.value - exact:+.4f}, z {z:+.2f}; {rec.note}"


def test_driver_grows_monte_carlo_and_bias_knobs():
    """Deterministic estimator: m = 1/√draws, d = 1/rungs⁴; the driver grows both and stops at the target."""
    calls = []

    def estimate(budget, r):
        calls.append((dict(budget), r))
        m, d = 1 / math.sqrt(budget["draws"]), 1 / budget["rungs"] ** 4
        total = math.hypot(m, d)
        return FreeEnergy(1.0, total, "estimate", "toy", note="toy"), ErrorSplit(m, d, total)

    knobs = (Knob("draws", "monte_carlo", 0.5), Knob("rungs", "bias", 4.0))
    rec = until_tolerance(estimate, {"draws": 100, "rungs": 3}, knobs, fe_tol=0.01, fe_time_cap=600)
    assert rec.se <= 0.01
    assert [r for _, r in calls] == list(range(len(calls))) and len(calls) >= 2
    assert calls[-1][0]["draws"] > 100 and calls[-1][0]["rungs"] > 3
    assert rec.note.startswith("toy; fe_tol 0.01 reached:") and f"{len(calls)} round(s)" in rec.note


def test_ising_ti_reaches_tolerance(ising):
    couplings, exact = ising
    rec = ti_to_tolerance(couplings, n_rungs=9, draws=100, allocate="variance", seed=seed(11), fe_tol=0.02,
                          fe_time_cap=300)
    assert_reached(rec, exact, 0.02, "ising TI")


def test_ising_bdmc_reaches_tolerance(ising):
    couplings, exact = ising
    rec = bdmc_to_tolerance(couplings, n_temps=100, n_runs=32, seed=seed(12), fe_tol=0.05, fe_time_cap=300)
    assert_reached(rec, exact, 0.05, "ising BDMC")
    assert rec.sandwich_upper - rec.sandwich_lower <= 0.1


def test_normal_mean_ti_reaches_tolerance():
    nm = fe_models.normal_mean()
    rec = pymc_ti_to_tolerance(nm.model, n_rungs=5, draws=100, tune=200, seed=seed(13), fe_tol=0.04,
                               fe_time_cap=300)
    assert_reached(rec, -nm.log_z(), 0.04, "NormalMean TI")


@pytest.mark.parametrize("which", ["ising_ti", "ising_bdmc", "normal_mean_ais", "registry_ti"])
def test_impossible_tolerance_is_flagged(ising, which):
    couplings, _ = ising
    tiny = {"fe_tol": 1e-6, "fe_time_cap": 0.01}
    if which == "ising_ti":
        rec = ti_to_tolerance(couplings, n_rungs=5, draws=20, seed=seed(14), **tiny)
    elif which == "ising_bdmc":
        rec = bdmc_to_tolerance(couplings, n_temps=10, n_runs=8, seed=seed(15), **tiny)
    elif which == "registry_ti":  # the route of fit(..., free_energy_options={"ti": {"fe_tol": ...}})
        rec = FREE_ENERGY_ESTIMATORS["ti"].estimate(fe_models.normal_mean().model, None, seed=seed(17), n_rungs=3,
                                                    draws=50, tune=50, **tiny)
    else:
        rec = ais_pymc_to_tolerance(fe_models.normal_mean().model, n_runs=16, n_temperatures=10, seed=seed(16),
                                    **tiny)
    assert rec.note.startswith("unreliable: fe_tol 1e-06 not reached within the 0.01 s cap (se "), rec.note
    # how many rounds fit into 0.01 s depends on the machine's speed (a warm tiny Ising TI takes a few ms)
    assert re.search(r"; \d+ round\(s\) in ", rec.note) and math.isfinite(rec.wall_time_s), rec.note


@pytest.mark.parametrize("kwargs, name", [({"fe_tol": -0.1}, "fe_tol"), ({"fe_tol": float("nan")}, "fe_tol"),
                                          ({"fe_tol": "0.05"}, "fe_tol"), ({"fe_tol": True}, "fe_tol"),
                                          ({"fe_tol": 0.05, "fe_time_cap": 0.0}, "fe_time_cap"),
                                          ({"fe_tol": 0.05, "fe_time_cap": float("inf")}, "fe_time_cap")])
def test_bad_tolerance_is_a_value_error(ising, kwargs, name):
    with pytest.raises(ValueError, match=name):
        ti_to_tolerance(ising[0], n_rungs=5, draws=20, **kwargs)


@pytest.mark.parametrize("model", ["ising", "regression"])
@pytest.mark.parametrize("value", ["-1", "nan"])
def test_bad_tolerance_setting_names_it(tmp_path, model, value):
    from physml.analyses import analysis

    with pytest.raises(ValueError, match="setting fe_tol"):
        analysis(model).run(tmp_path / "out", settings={"fe_tol": value}, methods=None, quick=True, seed=seed(0),
                        data=None, progress=False)
    assert not (tmp_path / "out").exists()


def test_regression_plans_pass_fe_tol_to_ti_and_ais():
    from physml.analyses.regression import plans

    nuts = plans(["nuts"], True, fe_tol=0.05, fe_time_cap=30.0)[0]
    for name in ("ti", "ais"):
        assert nuts.free_energy_options[name]["fe_tol"] == 0.05
        assert nuts.free_energy_options[name]["fe_time_cap"] == 30.0
    off = plans(["nuts"], True)[0]
    assert all("fe_tol" not in o for o in off.free_energy_options.values())
