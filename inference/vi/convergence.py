r"""Stopping rule for stochastic-gradient variational inference.

The rule follows Dhaka et al. (2020, "Robust, accurate stochastic optimization
for variational inference") and Welandawe et al. (2022, "Robust, automated and
accurate black-box variational inference"), with a drift test in place of their
split-:math:`\hat R`:

1. **Stationarity.**  At a fixed learning rate the iterates of stochastic
   optimisation do not converge; they reach a stationary distribution around
   the optimum.  Every ``check_every`` steps the last half of the iterates at
   the current rate (the first half is burn-in) is examined for a *drift*: each
   tracked series (the marginal means and log-sds of *q* in the unconstrained
   space, and the per-step −ELBO estimate) is cut into :math:`B = 20` batches,
   and the least-squares line through the batch means :math:`\bar x_k`,
   :math:`k = 1..B`, gives the change over the window and its standard error

   .. math:: \Delta = B\,\hat\beta, \quad \hat\beta = \frac{\sum_k (k - \bar k)\bar x_k}{\sum_k (k - \bar k)^2},
             \qquad \mathrm{se}(\Delta) = B \sqrt{\frac{\sum_k r_k^2/(B-2)}{\sum_k (k-\bar k)^2}}

   (:math:`r_k` the residuals; batch means absorb the autocorrelation of the iterates).  The window is
   stationary when no series drifts significantly *and* noticeably: for every series
   :math:`|\Delta| \le \max(t^*\,\mathrm{se},\ \delta)`, with :math:`t^*` the Student-t
   (:math:`B-2` dof) quantile at a family-wise false-alarm probability ``drift_p`` (0.01, Bonferroni over the
   series) and :math:`\delta` a negligible change (``mcse_fraction`` × the tolerance of step 4: means
   ``tol_mean`` sd, log-sds ``tol_log_sd``, the −ELBO ``tol_mean`` nats).  Unlike split-:math:`\hat R`
   (whose threshold 1.1 lets a linear trend as large as the noise pass, yet rejects a stationary series
   whose autocorrelation time exceeds 1/20 of the window), the test rejects a drift of a few se whatever
   the noise level and accepts stationary noise whatever its size: a noisier ELBO (minibatches) only
   widens the se.
2. **Iterate averaging.**  Once stationary, the Polyak–Ruppert average of the
   variational parameters over the window is the estimate at that rate; the
   Monte Carlo standard error (MCSE) of the average is computed from the
   autocorrelated window with ArviZ's MCSE.  If the MCSE is larger than a
   quarter of the tolerance the window keeps growing (up to ``max_window``).
3. **Step-size reduction.**  The learning rate is then multiplied by ``rho``
   (0.5), which shrinks the bias of constant-rate iterates (Welandawe et al.).
4. **Termination.**  The fit has converged when two consecutive averaged
   estimates agree within tolerance — every marginal mean moved by less than
   ``tol_mean`` marginal sds and every marginal log-sd by less than
   ``tol_log_sd`` — and the MCSE of the last average is below a quarter of
   those tolerances.  Bias (which shrinks with the rate) and noise (MCSE) are
   therefore both controlled.  Running out of ``max_steps`` first means *not
   converged*.

All summaries are in the unconstrained space, in units of the fitted
marginal sd, so the tolerances mean the same on every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats
from arviz_stats.base import array_stats

__all__ = ["StoppingRule", "LevelSummary", "window_drift", "drift_critical", "drift_z", "window_mcse",
           "N_BATCHES"]


N_BATCHES = 20  # batches of the drift test


def window_drift(trace: np.ndarray, n_batches: int = N_BATCHES) -> tuple[np.ndarray, np.ndarray]:
    """Change ``Δ`` over the window of each column of ``trace`` (steps × series) and its se (module docstring).

    The window is cut into ``n_batches`` batches of equal length (the oldest steps left over are dropped);
    the least-squares line through the batch means gives Δ = slope × ``n_batches``.
    """
    trace = np.asarray(trace, dtype=float)
    n = (trace.shape[0] // n_batches) * n_batches
    means = trace[trace.shape[0] - n:].reshape(n_batches, n // n_batches, -1).mean(axis=1)
    k = np.arange(n_batches) - 0.5 * (n_batches - 1)
    sxx = float(k @ k)
    slope = k @ means / sxx
    resid = means - means.mean(axis=0) - np.outer(k, slope)
    se_slope = np.sqrt(np.sum(resid ** 2, axis=0) / (n_batches - 2) / sxx)
    return n_batches * slope, n_batches * se_slope


def drift_critical(n_series: int, p: float, n_batches: int = N_BATCHES) -> float:
    """Two-sided Student-t critical value for ``n_series`` drift tests at family-wise false-alarm ``p``."""
    return float(scipy.stats.t.isf(p / (2 * max(int(n_series), 1)), n_batches - 2))


def drift_z(trace: np.ndarray, negligible, critical: float, n_batches: int = N_BATCHES) -> np.ndarray:
    """|Δ| / max(se, ``negligible`` / ``critical``) per column: below ``critical`` iff |Δ| ≤ max(critical se, δ)."""
    delta, se = window_drift(trace, n_batches)
    floor = np.maximum(np.asarray(negligible, dtype=float) / critical, 1e-300)
    z = np.abs(delta) / np.maximum(se, floor)
    return np.where(np.isfinite(z), z, np.inf)


def window_mcse(trace: np.ndarray) -> np.ndarray:
    """MCSE of the mean of each column of an autocorrelated ``trace`` (steps × series)."""
    trace = np.asarray(trace, dtype=float)
    spread = np.ptp(trace, axis=0)
    with np.errstate(all="ignore"):
        m = np.asarray(array_stats.mcse(trace.T, chain_axis=None, draw_axis=-1), dtype=float)
    return np.where(spread == 0, 0.0, np.where(np.isfinite(m), m, np.inf))


@dataclass
class LevelSummary:
    """What one learning-rate level produced."""

    lr: float
    n_mc: int                   # draws of q per gradient step
    start_step: int
    end_step: int
    stationary: bool
    drift_z: float              # largest drift statistic of the window (stationary: below the critical value)
    window: int
    params: np.ndarray          # Polyak average of the raw variational parameters
    mean: np.ndarray            # marginal means of q (unconstrained space)
    log_sd: np.ndarray          # marginal log-sds of q
    mcse_mean: np.ndarray       # MCSE of the averaged means, in marginal-sd units
    mcse_log_sd: np.ndarray     # MCSE of the averaged log-sds


@dataclass
class StoppingRule:
    """Settings of the rule described in the module docstring."""

    tol_mean: float = 0.05
    tol_log_sd: float = 0.02
    drift_p: float = 0.01
    rho: float = 0.5
    check_every: int = 50
    min_window: int = 100
    max_window: int = 4000
    mcse_fraction: float = 0.25

    def __post_init__(self):
        for name in ("tol_mean", "tol_log_sd", "mcse_fraction"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.drift_p < 1:
            raise ValueError(f"drift_p must be in (0, 1), got {self.drift_p}")
        if not 0 < self.rho < 1:
            raise ValueError(f"rho must be in (0, 1), got {self.rho}")
        for name in ("check_every", "min_window", "max_window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_window < self.min_window:
            raise ValueError("max_window must be >= min_window")
        if self.min_window < 2 * N_BATCHES:
            raise ValueError(f"min_window must be >= {2 * N_BATCHES} (two steps per batch of the drift test), "
                             f"got {self.min_window}")

    def window_length(self, n_level: int) -> int:
        """Length of the window examined after ``n_level`` steps at the current rate."""
        w = (n_level // 2) // self.check_every * self.check_every
        return int(min(w, self.max_window))

    @property
    def max_level_steps(self) -> int:
        """Steps after which a level ends even if its window is not stationary (4 × ``max_window``)."""
        return 4 * self.max_window

    def critical(self, n_series: int) -> float:
        """The drift statistic's critical value for ``n_series`` series (``drift_p`` family-wise)."""
        return drift_critical(n_series, self.drift_p)

    def max_drift_z(self, summaries: np.ndarray, neg_elbo: np.ndarray) -> tuple[float, float]:
        """Largest drift statistic over a window of marginal means and log-sds (``summaries``, steps × 2d) and
        −ELBOs, and its critical value; stationary when the first is below the second (module docstring)."""
        d = summaries.shape[1] // 2
        sd_now = np.exp(summaries[-1, d:])
        negligible = self.mcse_fraction * np.concatenate([self.tol_mean * sd_now, np.full(d, self.tol_log_sd),
                                                          [self.tol_mean]])
        crit = self.critical(2 * d + 1)
        z = drift_z(np.hstack([summaries, neg_elbo[:, None]]), negligible, crit)
        return float(np.max(z)), crit

    def mcse_ok(self, level: LevelSummary) -> bool:
        return bool(np.all(level.mcse_mean <= self.mcse_fraction * self.tol_mean)
                    and np.all(level.mcse_log_sd <= self.mcse_fraction * self.tol_log_sd))

    def window_needed(self, level: LevelSummary) -> float:
        """Window that would bring the level's MCSE to its target (MCSE ∝ 1/√W): W × (MCSE / target)²."""
        over = max(float(np.max(level.mcse_mean, initial=0)) / (self.mcse_fraction * self.tol_mean),
                   float(np.max(level.mcse_log_sd, initial=0)) / (self.mcse_fraction * self.tol_log_sd))
        return level.window * over ** 2

    def compare(self, prev: LevelSummary, cur: LevelSummary) -> tuple[float, float]:
        """Largest change of a marginal mean (in sd units) and of a marginal log-sd."""
        sd = np.exp(cur.log_sd)
        dmean = float(np.max(np.abs(cur.mean - prev.mean) / sd)) if sd.size else 0.0
        dlog = float(np.max(np.abs(cur.log_sd - prev.log_sd))) if sd.size else 0.0
        return dmean, dlog

    def converged(self, prev: LevelSummary | None, cur: LevelSummary) -> tuple[bool, str]:
        """Whether the fit may stop after level ``cur``; with a one-line reason."""
        if prev is None:
            return False, "first level"
        if not (prev.stationary and cur.stationary):
            return False, "a level did not reach stationarity"
        dmean, dlog = self.compare(prev, cur)
        ok_delta = dmean <= self.tol_mean and dlog <= self.tol_log_sd
        ok_mcse = self.mcse_ok(cur)
        reason = (f"averaged iterates agree across learning rates {prev.lr:.3g} -> {cur.lr:.3g}: "
                  f"max |d mean| = {dmean:.3g} sd (tol {self.tol_mean}), "
                  f"max |d log sd| = {dlog:.3g} (tol {self.tol_log_sd}); "
                  f"max MCSE mean = {float(np.max(cur.mcse_mean, initial=0)):.2g} sd, "
                  f"log sd = {float(np.max(cur.mcse_log_sd, initial=0)):.2g}; drift z = {cur.drift_z:.2f}")
        return bool(ok_delta and ok_mcse), reason
