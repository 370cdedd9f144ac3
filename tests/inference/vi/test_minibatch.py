"""Minibatch density for VI on large data (``physml.inference.vi.minibatch``), on a 2e5-row conjugate regression.

* exact sums over all rows do not depend on the chunking and equal the closed-form log density;
* the minibatch estimates are unbiased (mean of many calls against the exact value, in units of its se);
* mean-field ADVI on minibatches reaches the family's closed-form optimum and the exact posterior means
  (z over seeds, aggregated per ``statcheck``), reproducibly, with a bounded peak memory (the old path
  held 2000 draws × n rows: 3 GB at n = 2e5);
* bad input: a batch of 0 rows, a model with a ``pm.Potential``.

One ``MinibatchDensity`` is compiled for the whole module (compiling dominates the time).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from physml.inference import fit
from physml.inference.model_density import density_override
from physml.inference.vi import minibatch
from physml.inference.vi.minibatch import MinibatchDensity
from physml.models import regression as reg
from physml.models.regression_meanfield import advi_meanfield_optimum
from seeding import seed, seeds
from statcheck import mean_z_ok, threshold

N_ROWS, BATCH = 200_000, 1024


@pytest.fixture(scope="module")
def problem():
    data = reg.synthetic_data(n=N_ROWS, d=3, rho=0.0, seed=seed(11))
    prior = reg.ConjugatePrior(3)
    model = reg.conjugate_model(data, prior)
    return data, prior, model, MinibatchDensity(model, BATCH, seed=seed(1))


def _closed_form_log_joint(data, prior, dens, x) -> np.ndarray:
    """log p(β, u = ln σ², y) + u (the Jacobian) per row of ``x``, by SciPy: independent of PyTensor."""
    flat = dict(zip(dens.value_names, dens.slices))
    u, beta = x[:, flat["sigma2_log__"]][:, 0], x[:, flat["beta"]]
    s2 = np.exp(u)
    out = stats.invgamma(prior.a0, scale=prior.b0).logpdf(s2) + u
    for k in range(len(x)):
        out[k] += stats.multivariate_normal(prior.m0, s2[k] * prior.V0).logpdf(beta[k])
        out[k] += stats.norm(data.X @ beta[k], math.sqrt(s2[k])).logpdf(data.y).sum()
    return out


def _points(dens, k: int = 4) -> np.ndarray:
    """``k`` points a few posterior sds around the anchor."""
    sd = 1.0 / np.sqrt(np.diag(dens.laplace.H))
    return dens.anchor + 2.0 * sd * np.random.default_rng(seed(5)).standard_normal((k, dens.ndim))


def test_exact_sums_do_not_depend_on_the_chunks_and_equal_the_closed_form(problem, monkeypatch):
    data, prior, _, dens = problem
    x = _points(dens)
    lp, ll, glp, gll = dens.values_and_grads(x)
    monkeypatch.setattr(minibatch, "CHUNK_ELEMENTS", 7919)  # ~1980 rows per chunk of 4 points: 102 chunks
    lp2, ll2, glp2, gll2 = dens.values_and_grads(x)
    np.testing.assert_allclose(ll2, ll, rtol=1e-11)
    np.testing.assert_allclose(gll2, gll, rtol=1e-8, atol=1e-6)
    np.testing.assert_array_equal(lp2, lp)
    np.testing.assert_allclose(lp + ll, _closed_form_log_joint(data, prior, dens, x), rtol=1e-10)


def test_minibatch_estimates_are_unbiased_and_low_noise(problem):
    _, _, _, dens = problem
    x = _points(dens, 3)
    lp, ll, glp, gll = dens.values_and_grads(x)
    exact, grad = lp + ll, glp + gll
    R = 400
    est = [dens.log_joint_and_grad(x) for _ in range(R)]
    values, grads = np.array([e[0] for e in est]), np.array([e[1] for e in est])
    z = np.concatenate([(values.mean(0) - exact) / (values.std(0, ddof=1) / math.sqrt(R)),
                        ((grads.mean(0) - grad) / (grads.std(0, ddof=1) / math.sqrt(R))).ravel()])
    assert np.max(np.abs(z)) < threshold(z.size), z
    # second-order control variates: ~0.002 nats measured; a plain minibatch has ~ sqrt(n/B) = 14 nats here
    assert np.max(values.std(0)) < 0.05, values.std(0)


@pytest.fixture(scope="module")
def advi_fits(problem):
    """Four minibatch ADVI fits (seeded batches and draws) and the peak memory above the start."""
    _, _, model, dens = problem
    fits, peaks = [], []
    with density_override(model, dens):
        for s in seeds(100, 4):
            dens.rng = np.random.default_rng(s)
            before = _reset_peak_rss()
            fits.append(fit(model, "advi", draws=1000, seed=s, idata_kwargs={"log_likelihood": False}))
            peaks.append(_peak_rss() - before if before is not None else None)
        dens.rng = np.random.default_rng(seeds(100, 1)[0])
        again = fit(model, "advi", draws=1000, seed=seeds(100, 1)[0], idata_kwargs={"log_likelihood": False})
    return fits, peaks, again


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter (VmHWM) and return the current RSS in bytes; None if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmRSS")
    except OSError:
        return None


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak_rss() -> int:
    return _status("VmHWM")


def test_minibatch_advi_reaches_the_family_optimum_and_the_exact_means(problem, advi_fits):
    data, prior, _, dens = problem
    fits, _, _ = advi_fits
    opt = advi_meanfield_optimum(data.X, data.y, prior.m0, prior.V0, prior.a0, prior.b0)
    exact = reg.nig_posterior(data, prior).moments()
    i_beta = [i for i, p in enumerate(dens.param_names) if p.startswith("beta")]
    i_u = dens.param_names.index("sigma2_log__")
    z = []
    for dt in fits:
        assert bool(dt["diagnostics"]["converged"]), dt["diagnostics"]["stop_reason"].values
        q_mean, q_sd = dt["vi_params"]["mean"].values, dt["vi_params"]["sd"].values
        # q's parameters against the closed-form optimum of its family, within the stopping rule's tolerances
        np.testing.assert_array_less(np.abs(q_mean[i_beta] - opt["mean_beta"]) / opt["sd_beta"], 0.15)
        np.testing.assert_array_less(np.abs(np.log(q_sd[i_beta] / opt["sd_beta"])), 0.05)
        assert abs(q_mean[i_u] - opt["mean_log_sigma2"]) / opt["sd_log_sigma2"] < 0.15
        assert abs(math.log(q_sd[i_u] / opt["sd_log_sigma2"])) < 0.05
        # draws against the exact posterior means: MC error plus the optimiser's tolerance (0.05 sd)
        beta = dt["posterior"]["beta"].values.reshape(-1, data.d)
        for j, name in enumerate(data.predictors):
            ref = exact[f"beta[{name}]"]
            se = math.hypot(beta[:, j].std() / math.sqrt(len(beta)), 0.05 * ref["sd"])
            z.append((beta[:, j].mean() - ref["mean"]) / se)
    z = np.array(z)
    assert np.max(np.abs(z)) < threshold(z.size), z
    ok, why = mean_z_ok(z)
    assert ok, why


def test_minibatch_advi_is_reproducible_and_memory_bounded(advi_fits):
    fits, peaks, again = advi_fits
    np.testing.assert_array_equal(again["vi_params"]["mean"].values, fits[0]["vi_params"]["mean"].values)
    if peaks[0] is None:
        pytest.skip("/proc/self/clear_refs not available: cannot reset the peak RSS")
    # all rows at once held 2000 draws × 2e5 rows × 8 bytes = 3.2 GB in the evaluation alone
    assert max(peaks) < 300 * 2**20, [p / 2**20 for p in peaks]


def test_bad_input_is_refused_before_compiling():
    data = reg.synthetic_data(n=50, d=2)
    model = reg.conjugate_model(data, reg.ConjugatePrior(2))
    with pytest.raises(ValueError, match="batch_size must be an integer in \\[1, 50\\]"):
        MinibatchDensity(model, 0)
    with pytest.raises(ValueError, match="batch_size"):
        MinibatchDensity(model, 51)
    with model:
        pm.Potential("extra", -model["sigma2"])
    with pytest.raises(ValueError, match="pm.Potential"):
        MinibatchDensity(model, 10)
