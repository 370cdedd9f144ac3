"""Thresholds for statistical tests, derived from the number of repeats (not a test module).

A test that repeats an estimator R times and checks its z-scores z_r = (est_r − exact)/se_r
asserts bands that a *calibrated* estimator leaves with probability at most ``p_fail``
(default 1e-5 per check, so a suite of a few hundred checks fails by chance about once in
several hundred runs, on any machine and for any seed offset):

* mean z:  |z̄| ≤ q·s/√R with q = Φ⁻¹(1 − p/2) (≈ 4.9), s = the sample sd of z (at least ``sd_floor``);
* sd of z: s² (R − 1) within the χ²_{R−1} quantiles p/2 and 1 − p/2, the upper end widened by
  ``sd_slack`` (se estimates are themselves noisy, so a calibrated estimator's z is heavier-tailed
  than N(0, 1); nothing makes it lighter-tailed but an se that is too large);
* coverage of ±k se: the binomial(R, p_k) quantile p below the nominal p_k = P(|N(0,1)| < k).

Every band is two-sided where the issue is two-sided: an se that is too large fails as surely as
one that is too small.

For one MCMC run, :func:`assert_mcmc_mean` aggregates over its independent chains: the error of
the pooled mean is scaled by max(ArviZ MCSE, between-chain se of the chain means), so an MCSE that
under-states autocorrelation (e.g. Wolff at K_c) is caught by the chains' real spread, and chains
that agree by chance are floored by the MCSE; the threshold is q(p_fail / n_checks) (Bonferroni).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

P_FAIL = 1e-5


def _q(p_fail: float) -> float:
    return float(stats.norm.ppf(1 - p_fail / 2))


def threshold(n_checks: int = 1, p_fail: float = P_FAIL) -> float:
    """|z| bound that n_checks calibrated z-scores all stay below with probability ≥ 1 − p_fail."""
    return _q(p_fail / max(int(n_checks), 1))


def mcmc_z(draws, exact) -> tuple[float, float, float]:
    """(z, pooled mean, scale) of draws shaped (chain, draw) against ``exact``; see the module docstring."""
    import arviz_stats as azs

    x = np.asarray(draws, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"draws must be shaped (chain >= 2, draw), got {x.shape}")
    mean = float(x.mean())
    mcse = float(azs.mcse(x, method="mean"))
    between = float(x.mean(axis=1).std(ddof=1) / np.sqrt(x.shape[0]))
    scale = max(mcse, between)
    return (mean - exact) / scale, mean, scale


def assert_mcmc_mean(draws, exact, *, n_checks: int = 1, p_fail: float = P_FAIL, label: str = ""):
    """The pooled mean of (chain, draw) draws within threshold(n_checks)·scale of ``exact``."""
    z, mean, scale = mcmc_z(draws, exact)
    q = threshold(n_checks, p_fail)
    assert abs(z) < q, f"{label}: mean {mean:.6g} vs exact {exact:.6g}: z {z:+.2f} (bound {q:.2f}, scale {scale:.3g})"
    return z


def z_scores(values, ses, exact) -> np.ndarray:
    return (np.asarray(values, float) - exact) / np.asarray(ses, float)


def mean_z_ok(z, *, p_fail: float = P_FAIL, sd_floor: float = 1.0) -> tuple[bool, str]:
    """|mean z| within q·max(sd, sd_floor)/√R."""
    z = np.asarray(z, float)
    r = z.size
    s = max(float(np.std(z, ddof=1)), sd_floor)
    bound = _q(p_fail) * s / np.sqrt(r)
    return abs(float(z.mean())) <= bound, f"mean z {z.mean():+.3f} (bound ±{bound:.3f}, R={r}, sd {np.std(z, ddof=1):.3f})"


def sd_z_band(r: int, *, p_fail: float = P_FAIL, sd_slack: float = 1.25) -> tuple[float, float]:
    """Band for the sample sd of R z-scores of a calibrated estimator (χ² quantiles; upper end × ``sd_slack``)."""
    lo = np.sqrt(stats.chi2.ppf(p_fail / 2, r - 1) / (r - 1))
    hi = np.sqrt(stats.chi2.ppf(1 - p_fail / 2, r - 1) / (r - 1)) * sd_slack
    return float(lo), float(hi)


def sd_z_ok(z, **kw) -> tuple[bool, str]:
    z = np.asarray(z, float)
    lo, hi = sd_z_band(z.size, **kw)
    s = float(np.std(z, ddof=1))
    return lo <= s <= hi, f"sd z {s:.3f} (band [{lo:.3f}, {hi:.3f}], R={z.size})"


def coverage_floor(r: int, *, k: float = 2.0, p_fail: float = P_FAIL) -> float:
    """Smallest coverage fraction of ±k se that a calibrated estimator reaches with prob. ≥ 1 − p_fail."""
    nominal = 1 - 2 * stats.norm.sf(k)
    return float(stats.binom.ppf(p_fail, r, nominal)) / r


def assert_calibrated(values, ses, exact, *, p_fail: float = P_FAIL, sd_slack: float = 1.25, label: str = ""):
    """Mean z, sd of z and ±2 se coverage all inside their bands for R repeats."""
    z = z_scores(values, ses, exact)
    assert np.all(np.isfinite(z)), f"{label}: non-finite z {z}"
    ok_m, msg_m = mean_z_ok(z, p_fail=p_fail)
    ok_s, msg_s = sd_z_ok(z, p_fail=p_fail, sd_slack=sd_slack)
    cover = float(np.mean(np.abs(z) < 2))
    floor = coverage_floor(z.size, p_fail=p_fail)
    assert ok_m and ok_s and cover >= floor, (
        f"{label}: {msg_m}; {msg_s}; coverage ±2se {cover:.2f} (floor {floor:.2f}); z={np.round(z, 2)}")
    return z
