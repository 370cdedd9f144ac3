r"""Stopping rule for stochastic-gradient variational inference.

The rule follows Dhaka et al. (2020, "Robust, accurate stochastic optimization
for variational inference") and Welandawe et al. (2022, "Robust, automated and
accurate black-box variational inference"):

1. **Stationarity.**  At a fixed learning rate the iterates of stochastic
   optimisation do not converge; they reach a stationary distribution around
   the optimum.  Every ``check_every`` steps the last half of the iterates at
   the current rate (the first half is burn-in) is split into four chunks that
   are treated as four chains, and the split-:math:`\hat R`
   (ArviZ) of every tracked summary (the marginal means and log-sds of *q* in
   the unconstrained space, and the per-step −ELBO estimate) is computed.
   The window is stationary when the largest :math:`\hat R` is below
   ``rhat_tol`` (1.1).
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
from arviz_stats.base import array_stats

__all__ = ["StoppingRule", "LevelSummary", "window_rhat", "window_mcse"]


def window_rhat(trace: np.ndarray, n_chunks: int = 4, negligible=None) -> np.ndarray:
    """Split-R̂ (classic, not rank-normalised: ~40x cheaper) of each column of ``trace`` (steps × series).

    The window is cut into ``n_chunks`` consecutive chunks used as chains.
    A series that is constant over the window (zero variance, R̂ undefined), or
    whose whole range over the window is below ``negligible`` (per series, absolute;
    e.g. a noise-free gradient converging geometrically), counts as stationary (R̂ = 1).
    """
    trace = np.asarray(trace, dtype=float)
    n = (trace.shape[0] // n_chunks) * n_chunks
    t = trace[-n:]
    chunks = t.reshape(n_chunks, n // n_chunks, -1).transpose(2, 0, 1)  # series, chain, draw
    spread = np.ptp(t, axis=0)
    scale = np.maximum(np.abs(t).max(axis=0), 1e-300)
    with np.errstate(all="ignore"):
        r = np.asarray(array_stats.rhat(chunks, method="split"), dtype=float)
    constant = spread <= 1e-12 * scale
    if negligible is not None:
        constant |= spread <= np.asarray(negligible, dtype=float)
    r = np.where(constant, 1.0, r)
    return np.where(np.isfinite(r), r, np.inf)


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
    start_step: int
    end_step: int
    stationary: bool
    rhat: float
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
    rhat_tol: float = 1.1
    rho: float = 0.5
    check_every: int = 50
    min_window: int = 100
    max_window: int = 4000
    mcse_fraction: float = 0.25

    def __post_init__(self):
        for name in ("tol_mean", "tol_log_sd", "mcse_fraction"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.rhat_tol > 1:
            raise ValueError(f"rhat_tol must be > 1, got {self.rhat_tol}")
        if not 0 < self.rho < 1:
            raise ValueError(f"rho must be in (0, 1), got {self.rho}")
        for name in ("check_every", "min_window", "max_window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_window < self.min_window:
            raise ValueError("max_window must be >= min_window")

    def window_length(self, n_level: int) -> int:
        """Length of the window examined after ``n_level`` steps at the current rate."""
        w = (n_level // 2) // self.check_every * self.check_every
        return int(min(w, self.max_window))

    @property
    def max_level_steps(self) -> int:
        """Steps after which a level ends even if its window is not stationary (4 × ``max_window``)."""
        return 4 * self.max_window

    def max_rhat(self, summaries: np.ndarray, neg_elbo: np.ndarray) -> float:
        """Largest split-R̂ over a window of marginal means and log-sds (``summaries``, steps × 2d) and −ELBOs.

        A series whose range is below 10⁻³ of its tolerance (means: ``tol_mean`` × the current sd; log-sds:
        ``tol_log_sd``; −ELBO: 10⁻⁹ relative) counts as stationary.
        """
        d = summaries.shape[1] // 2
        el = neg_elbo[:, None]
        sd_now = np.exp(summaries[-1, d:])
        negligible = np.concatenate([1e-3 * self.tol_mean * sd_now, np.full(d, 1e-3 * self.tol_log_sd),
                                     [1e-9 * (1.0 + abs(float(el[-1, 0])))]])
        return float(np.max(window_rhat(np.hstack([summaries, el]), negligible=negligible)))

    def mcse_ok(self, level: LevelSummary) -> bool:
        return bool(np.all(level.mcse_mean <= self.mcse_fraction * self.tol_mean)
                    and np.all(level.mcse_log_sd <= self.mcse_fraction * self.tol_log_sd))

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
                  f"log sd = {float(np.max(cur.mcse_log_sd, initial=0)):.2g}; R-hat = {cur.rhat:.3f}")
        return bool(ok_delta and ok_mcse), reason
