"""Parallel tempering of continuous PyMC models (tempered likelihood): the swap rule is the spin PT's, the
evidence on the conjugate regression against the exact NIG evidence (aggregated over seeds), the bimodal toy's
mode weights and evidence, the spin PT's TI over β against enumeration, bad input."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from bimodal_toy import bimodal_model, log_evidence
from seeding import seed, seeds
from statcheck import assert_calibrated, assert_mcmc_mean, threshold

from physml.inference import diagnostics, fit, free_energies
from physml.inference.spins.parallel_tempering import swap_pass
from physml.inference.tempering.sampler import swap_decisions
from physml.models import regression as reg

pytestmark = pytest.mark.filterwarnings("ignore:parallel_tempering")
PT_NAMES = ("pt_stepping_stone", "pt_bar", "pt_ti")


def test_batched_swap_is_the_spin_swap_rule():
    """Same uniforms, same ln L: the batched continuous swap decides exactly as the spin PT's swap_pass,
    including −inf log likelihoods (never accepted into a finite one) and both parities."""
    rng = np.random.default_rng(seed(0))
    betas = np.array([0.0, 0.01, 0.1, 0.4, 1.0])
    for parity in (0, 1):
        u = rng.random((50, 4))
        ll = rng.normal(-5.0, 20.0, size=(50, 5))
        ll[::7, 2] = -np.inf
        got = swap_decisions(u, betas, ll, parity)
        want = np.array([swap_pass(u[c], betas, ll[c], parity) for c in range(50)])
        np.testing.assert_array_equal(got, want)
        assert got.any() and not got[:, 1 - parity::2].any()


@pytest.fixture(scope="module")
def regression():
    data = reg.synthetic_data(n=20, d=2, rho=0.5, seed=5)
    prior = reg.ConjugatePrior(d=2)
    return reg.conjugate_model(data, prior), -reg.log_evidence_exact(data, prior), reg.nig_posterior(data, prior)


def test_evidence_on_conjugate_regression_is_calibrated(regression, tmp_path):
    """−ln p(y) by stepping stone, BAR and TI from PT (MALA kernel, 9 rungs from the prior) over 6 seeds:
    mean z, sd z and ±2 se coverage in their bands for each estimator; posterior mean of β vs the exact NIG."""
    model, exact, post = regression
    runs = seeds(100, 6)
    values = {n: [] for n in PT_NAMES}
    ses = {n: [] for n in PT_NAMES}
    for i, s in enumerate(runs):
        dt = fit(model, "parallel_tempering", draws=300, tune=300, chains=4, seed=s, n_replicas=9, kernel="mala")
        recs = {r.estimator: r for r in free_energies(dt)}
        for n in PT_NAMES:
            values[n].append(recs[n].value)
            ses[n].append(recs[n].se)
        if i == 0:
            assert_mcmc_mean(dt.posterior["beta"].values[..., 0], float(post.mu_n[0]), label="beta[0]")
            assert {"posterior", "sample_stats", "ladder", "log_likelihood", "observed_data"} <= set(dt.children)
            assert dt["sample_stats"]["log_weight"].shape == (4, 300, 9)
            assert diagnostics(dt)["round_trips"] > 0
            dt.to_netcdf(tmp_path / "pt.nc")
            assert {r.estimator for r in free_energies(xr.open_datatree(tmp_path / "pt.nc"))} == set(PT_NAMES)
    for n in PT_NAMES:
        assert_calibrated(values[n], ses[n], exact, label=n)
        assert max(ses[n]) < 0.3, (n, ses[n])


def test_bimodal_mode_weights_and_evidence():
    """Modes at ±(8, 0), unit sd, prior N(0, 10²): PT's β = 1 replica puts weight 1/2 on each mode (pooled
    indicator within threshold x max(MCSE, between-chain se), and that scale below 0.1, i.e. the chains do cross);
    the evidence records within threshold se of the closed form or flagged."""
    model, _ = bimodal_model()
    dt = fit(model, "parallel_tempering", draws=600, tune=400, chains=4, seed=seed(7), n_replicas=9)
    right = (dt.posterior["theta"].values[..., 0] > 0).astype(float)
    assert_mcmc_mean(right, 0.5, n_checks=1, label="mode weight")
    import arviz_stats as azs

    assert float(azs.mcse(right, method="mean")) < 0.1
    assert np.all((right.mean(axis=1) > 0) & (right.mean(axis=1) < 1)), "every chain visits both modes"
    ex = -log_evidence()
    for r in free_energies(dt):
        assert r.note.startswith("unreliable:") or abs(r.value - ex) < threshold(3) * r.se, (r.estimator, r.value, ex)
        assert r.se < 0.3


def test_spin_pt_ti_over_beta_vs_enumeration():
    """The spin PT's TI over β (pt_ti) against −ln Z by enumeration on an N = 10 SK-like sample, 2 seeds:
    within threshold se or flagged, with a finite small se."""
    from physml.inference.spins.lattice import couplings_from_matrix
    from physml.models.ising import ising_model_from_couplings

    rng = np.random.default_rng(12345)
    n = 10
    j = np.triu(rng.normal(0.0, 1.6 / np.sqrt(n), size=(n, n)), 1)
    c = couplings_from_matrix(j + j.T)
    s = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    exact = -float(np.logaddexp.reduce(c.log_weight(s)))
    runs = seeds(200, 2)
    flagged = 0
    for sd in runs:
        dt = fit(ising_model_from_couplings(c), "parallel_tempering", draws=600, tune=300, chains=4, seed=sd,
                 n_replicas=9)
        r = next(r for r in free_energies(dt) if r.estimator == "pt_ti")
        assert 0 < r.se < 0.2, r
        flagged += r.note.startswith("unreliable:")
        assert r.note.startswith("unreliable:") or abs(r.value - exact) < threshold(len(runs)) * r.se, (r, exact)
    assert flagged < len(runs), "a 9-rung ladder on N = 10 resolves <l>_beta: TI must not flag every run"


def test_same_seed_same_numbers_and_bad_input(regression):
    model = regression[0]
    kw = dict(draws=30, tune=20, chains=2, n_replicas=4, adapt_window=10)
    a = fit(model, "parallel_tempering", seed=seed(3), **kw)
    b = fit(model, "parallel_tempering", seed=seed(3), **kw)
    np.testing.assert_array_equal(a.posterior["beta"].values, b.posterior["beta"].values)
    bad = [({"betas": [0.0, 0.7, 0.6, 1.0]}, "betas"), ({"betas": [-0.1, 0.5, 1.0]}, "betas"),
           ({"betas": [0.0, 0.5, 1.2]}, "betas"), ({"betas": [0.0, 0.5]}, "betas"), ({"n_replicas": 1}, "n_replicas"),
           ({"kernel": "nuts"}, "kernel"), ({"kernel_steps": 0}, "kernel_steps"), ({"power": -1.0}, "power"),
           ({"beta_min": 1.0}, "beta_min")]
    for options, name in bad:
        with pytest.raises(ValueError, match=name):
            fit(model, "parallel_tempering", draws=5, tune=0, chains=1, **options)
    with pm.Model() as discrete:
        k = pm.Poisson("k", 3.0)
        pm.Normal("y", k, 1.0, observed=[1.0, 2.0])
    with pytest.raises(ValueError, match="discrete"):
        fit(discrete, "parallel_tempering", draws=5, tune=0, chains=1)
    with pm.Model() as no_data:
        pm.Normal("x", 0.0, 1.0)
    with pytest.raises(ValueError, match="no observed data"):
        fit(no_data, "parallel_tempering", draws=5, tune=0, chains=1)


def test_registered_estimators_after_another_method_and_improper_prior(regression):
    """The registered ``pt_bar`` / ``pt_ti`` for a fit by another method (here: no result at all): one shared PT
    run gives both records (finite, the same run); an improper prior is refused naming the estimator."""
    from physml.inference import FREE_ENERGY_ESTIMATORS

    model = regression[0]
    opts = {"draws": 150, "tune": 150, "n_replicas": 5}
    bar = FREE_ENERGY_ESTIMATORS["pt_bar"].estimate(model, None, seed=seed(11), **opts)
    ti = FREE_ENERGY_ESTIMATORS["pt_ti"].estimate(model, None, seed=seed(11), **opts)
    assert (bar.estimator, ti.estimator) == ("pt_bar", "pt_ti")
    assert np.isfinite(bar.value) and bar.se > 0 and np.isfinite(ti.value)
    assert bar.wall_time_s == ti.wall_time_s  # the same PT run
    with pm.Model() as flat:
        mu = pm.Flat("mu")
        pm.Normal("y", mu, 1.0, observed=[0.1, -0.3])
    with pytest.raises(ValueError, match="pt_bar evidence cannot run: improper prior"):
        FREE_ENERGY_ESTIMATORS["pt_bar"].estimate(flat, None, seed=0)
    with pytest.raises(ValueError, match="improper"):
        fit(flat, "parallel_tempering", draws=5, tune=0, chains=1)


def test_unmixed_posterior_flags_every_ladder_record():
    """The ln-ratio series can look mixed while the β = 1 replicas' parameters are not: an R-hat or ESS failure
    of the posterior must reach every free-energy record as an ``unreliable:`` flag."""
    from physml.inference.spins.tempering_free_energy import ladder_records
    from physml.inference.tempering.pymc_tempering import posterior_flags

    assert posterior_flags({"max_rhat": 1.01, "min_ess_bulk": 500.0}) == ()
    flags = posterior_flags({"max_rhat": 1.10, "min_ess_bulk": 16.0})
    assert len(flags) == 2 and "R-hat 1.100" in flags[0] and "ESS 16" in flags[1]
    rng = np.random.default_rng(seed(11))
    lw = -np.abs(rng.normal(size=(4, 400, 5)))
    records = ladder_records(lw, np.linspace(0.0, 1.0, 5), 0.0, np.full(4, 0.5), run_flags=flags)
    assert len(records) == 3
    assert all(r.note.startswith("unreliable:") and "R-hat 1.100" in r.note for r in records)
