"""Free-energy estimators on posteriordb's sblrc: a vague prior (β ~ N(0, 10), σ ~ HalfNormal(10))
and a sharp, correlated posterior (sd ≈ 0.001), where E_t[ln p(y|θ)] changes over ~10 decades of t.

Reference: −ln p(y) = 194.96759 (se 0), independent of every estimator under test: β integrated out
analytically given σ, then 1-D adaptive quadrature over ln σ (``regression.log_evidence_independent``;
checked against dense multivariate-normal quadrature in test_regression_exact.py).
Estimators must either land within 4 se of it or flag themselves: note starting with "unreliable".
The conjugate regression (exact evidence) checks that the self-checks do not fire on an easy model.
"""

from __future__ import annotations

import functools

import re

import numpy as np
import pytest

from paths import POSTERIORDB
from physml.inference.evidence.pymc_ais import ais_pymc
from physml.inference.records import free_energies
from physml.inference.mcmc.smc import run_smc, smc_free_energy
from physml.inference.evidence.power_posteriors import power_posterior_ti
from physml.inference.evidence.thermodynamic_integration import power_ladder

from seeding import seed
from statcheck import threshold

DATA = POSTERIORDB / "sblrc.json"


@functools.lru_cache(maxsize=None)
def reference_free_energy() -> float:
    from physml.models import regression as reg

    return -reg.log_evidence_independent(reg.load_data(DATA), reg.IndependentPrior())


@functools.lru_cache(maxsize=None)
def sblrc_model():
    from physml.models import regression as reg

    return reg.independent_model(reg.load_data(DATA), reg.IndependentPrior())


@functools.lru_cache(maxsize=None)
def conjugate():
    from physml.models import regression as reg

    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    return reg.conjugate_model(data, prior), -reg.log_evidence_exact(data, prior)


def _within(rec, exact):
    return abs(rec.value - exact) < threshold() * rec.se


@pytest.mark.slow
def test_ti_default_ladder_on_sblrc_matches_reference():
    rec, det = power_posterior_ti(sblrc_model(), draws=1000, tune=500, seed=seed(1), return_details=True)
    # the only flag allowed is the divergence one: sblrc's vague prior makes NUTS diverge on some low-t rungs, which
    # marks the record (divergent draws can bias a rung), but the ladder itself must resolve E_t (no other problem)
    problems = rec.note.split(" (reparameterise")[0] if rec.note.startswith("unreliable") else ""
    assert not problems or re.fullmatch(r"unreliable: NUTS diverged \d+ times on the rungs", problems), rec.note
    assert _within(rec, reference_free_energy()), (rec.value, rec.se)
    # the ladder spans many decades: t_1 is set from the prior draws, far below the power ladder's
    assert det["ladder"][0] < 1e-3 and det["ladder"][-1] == 1.0


def test_ti_power_ladder_from_zero_on_sblrc_is_flagged():
    """The old default, (k/n)^5 from t = 0, cannot resolve E_t near 0 (E_0 = -inf in expectation)."""
    rec = power_posterior_ti(sblrc_model(), ladder=power_ladder(10), draws=200, tune=200, seed=seed(0))
    assert rec.note.startswith("unreliable"), rec


def test_ais_on_sblrc_within_4_se_or_flagged():
    """AIS's runs lag behind the sharpening tempered posteriors here, all alike, so −ln Ẑ errs high by
    up to ~1 nat while the weights look healthy (Pareto k̂ < 0.7 for some seeds): only a reverse pass
    reveals it. Both the forward record (its reverse check from the pilot population) and BDMC from
    posteriordb's reference draws must land on the reference or flag themselves."""
    from physml.inference.evidence.pymc_ais import bdmc_pymc
    from physml.models import regression as reg

    exact = reference_free_energy()
    rec = ais_pymc(sblrc_model(), seed=seed(0), n_runs=64, n_temperatures=1000)
    assert np.isfinite(rec.sandwich_lower) and np.isfinite(rec.sandwich_upper), rec
    assert rec.note.startswith("unreliable") or _within(rec, exact), rec
    bdmc = bdmc_pymc(sblrc_model(), reg.posteriordb_reference(DATA).posterior, seed=seed(1), n_runs=64,
                     n_temperatures=1000)
    margin = threshold() * 2 * bdmc.se  # >= q MC se of either end of the sandwich
    assert bdmc.note.startswith("unreliable") or (
        bdmc.sandwich_lower - margin <= exact <= bdmc.sandwich_upper + margin), bdmc
    # too few temperatures: the weights collapse and AIS says so
    few = ais_pymc(sblrc_model(), seed=seed(0), n_runs=64, n_temperatures=100)
    assert few.note.startswith("unreliable"), few


def test_smc_on_sblrc_is_flagged_unreliable():
    result = run_smc(sblrc_model(), draws=250, tune=0, chains=2, seed=seed(2), progress=False)
    rec = next(r for r in free_energies(result) if r.estimator == "smc")
    # PyMC's IMH-SMC is ~100 nats off here (its 2-population se, widened by t_1, may even cover that):
    # what is tested is that it says so
    assert rec.note.startswith("unreliable"), (rec.value - reference_free_energy(), rec.note)
    ss = result["sample_stats"]
    for name in ("log_marginal_likelihood", "n_stages", "final_accept_rate", "final_beta"):
        assert ss[name].sizes == {"chain": 2}
    assert np.allclose(ss["final_beta"].values, 1.0)


def test_smc_on_conjugate_regression_is_not_flagged():
    model, exact = conjugate()
    result = run_smc(model, draws=500, tune=0, chains=2, seed=seed(1), progress=False)
    rec = next(r for r in free_energies(result) if r.estimator == "smc")
    assert not rec.note.startswith("unreliable"), rec.note
    assert "bridge sampling on the final particles" in rec.note
    assert _within(rec, exact), (rec, exact)  # se carries the t_1 quantile of 2 populations


def test_smc_free_energy_self_check_logic():
    # consistent populations: no flag; ideal sd = sqrt(6 * 1 / 1000) = 0.077
    ok = smc_free_energy(np.array([-61.0, -61.05]), n_stages=[6, 6], draws=1000)
    assert not ok.note.startswith("unreliable")
    bad = smc_free_energy(np.array([-300.0, -320.0]), n_stages=[25, 25], draws=1000)
    assert bad.note.startswith("unreliable") and "populations disagree" in bad.note
    low_acc = smc_free_energy(np.array([-61.0, -61.05]), n_stages=[6, 6], draws=1000, final_accept=[0.02, 0.5])
    assert low_acc.note.startswith("unreliable")
    # without the run's details the record is as before
    plain = smc_free_energy(np.array([-61.0, -61.05]))
    assert plain.note.startswith("2 independent SMC populations")


def test_smc_low_independent_proposal_acceptance_is_flagged():
    # 0.17: the 4x4 HS-Ising at K_c (biased +0.5 nat); a random-walk MH kernel at 0.17 is fine
    imh = smc_free_energy(np.array([-61.0, -61.05]), n_stages=[6, 6], draws=1000, final_accept=[0.17, 0.16])
    assert imh.note.startswith("unreliable") and "IMH" in imh.note
    mh = smc_free_energy(np.array([-61.0, -61.05]), n_stages=[6, 6], draws=1000, final_accept=[0.17, 0.16],
                         independent_proposal=False)
    assert not mh.note.startswith("unreliable"), mh.note


def test_smc_on_the_critical_hs_ising_flags_itself():
    # a mixture of 2^16 unit Gaussians: IMH acceptance ~0.15 for any seed, -ln Z biased +0.5 nat at 1000 particles
    from physml.models import continuous_ising as ci
    from physml.models import ising as im

    model = ci.continuous_ising_model(im.ising_couplings(4, im.K_CRITICAL))
    result = run_smc(model, draws=500, tune=0, chains=2, seed=seed(4), progress=False)
    rec = next(r for r in free_energies(result) if r.estimator == "smc")
    assert rec.note.startswith("unreliable") and "IMH" in rec.note, rec.note
