r"""The optimisation loop of the VI fit: Adam on the ELBO at a falling learning rate until the stopping rule holds.

Step :math:`t`: draw :math:`\varepsilon_{1..n} \sim N(0, I)`, map them to :math:`\theta_s` through the family,
evaluate :math:`\log p(\theta_s)` and its gradient in one batch, and take an Adam step (:mod:`.optimiser`)
along the control-variate gradient of the ELBO (:mod:`.families`); draws with a non-finite density are
dropped, a step without any finite draw makes no update, and 100 such steps in a row end the fit.

Levels (:mod:`.convergence`): the rate :math:`\eta_k = \eta_0 \rho^k` stays fixed during level :math:`k`.  Every
``check_every`` steps of the level the last half (at most ``max_window`` steps) of the marginal-summary and −ELBO
traces is tested for drift; once stationary (or after ``4 max_window`` steps) the Polyak average

.. math:: \bar p_k = \frac1W \sum_{t \in \text{window}} p_t = \frac{S_{n} - S_{n-W}}{W}, \qquad S_n = \sum_{t \le n} p_t,

closes the level (from the running sums :math:`S` kept at the checkpoints), unless its MCSE is still too large
and the window may grow.  The fit stops when two consecutive level averages agree.

Control variate (:mod:`.control_variate`): the Laplace one the family starts with can add gradient noise
instead of removing it (hierarchical models, whose joint mode is far from q's mass), so after ``min_window``
steps of every level it is re-fitted under the current q from fresh draws (:func:`refit_control_variate`).

The loop's state is the frozen :class:`OptimiserState`, advanced by :func:`gradient_step` every step and by
:func:`checkpoint` every ``check_every`` steps; the per-step record (−ELBO, rate, level, marginal summaries)
goes to the append-only :class:`StepHistory`.  :func:`optimise` runs it; :func:`final_params` is the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..model_density import ModelDensity
from .control_variate import refit
from .convergence import LevelSummary, StoppingRule, window_mcse
from .families import VariationalFamily
from .optimiser import AdamState, adam_init, adam_step

__all__ = ["OptimiserState", "StepHistory", "gradient_step", "checkpoint", "optimise", "final_params",
           "refit_control_variate", "MAX_CONSECUTIVE_INVALID", "REGRESSION_MAX_DIM"]

MAX_CONSECUTIVE_INVALID = 100  # steps in a row without one finite draw that end the fit
MAX_N_MC_GROWTH = 8           # draws per step grow at most this many times over the fit (see _next_n_mc)
REGRESSION_MAX_DIM = 200       # above this dimension the control variate is only kept or dropped, not re-fitted


@dataclass(frozen=True)
class OptimiserState:
    """Where the optimisation stands after ``step`` steps (``step`` counts steps that made no update, too)."""

    params: np.ndarray                       # variational parameters
    adam: AdamState
    lr: float                                # learning rate of the current level
    n_mc: int                                # draws of q per gradient step at the current level
    running: np.ndarray                      # sum of params over the steps of the current level
    checkpoints: Mapping[int, np.ndarray]    # running sums after every check_every steps of the level
    step: int = 0
    level: int = 0
    level_start: int = 0                     # step at which the current level began
    levels: tuple[LevelSummary, ...] = ()    # closed levels
    n_skipped: int = 0                       # steps without any finite draw
    consecutive_bad: int = 0
    last_drift_z: float = float("inf")
    control_variates: tuple[str, ...] = ("laplace",)   # the control variate chosen at each re-fit
    converged: bool = False
    stop_reason: str = ""

    @property
    def n_level(self) -> int:
        """Steps taken at the current level."""
        return self.step - self.level_start

    @classmethod
    def start(cls, params: np.ndarray, lr: float, n_mc: int) -> OptimiserState:
        return cls(params=params, adam=adam_init(params), lr=lr, n_mc=n_mc, running=np.zeros_like(params),
                   checkpoints={0: np.zeros_like(params)})


class StepHistory:
    """Append-only per-step record: −ELBO estimate, learning rate, level, marginal means and log-sds."""

    def __init__(self, max_steps: int, d: int):
        self.neg_elbo = np.empty(max_steps)
        self.learning_rate = np.empty(max_steps)
        self.level = np.empty(max_steps, dtype=np.int64)
        self.summaries = np.empty((max_steps, 2 * d))

    def record(self, state: OptimiserState, neg_elbo: float, fam: VariationalFamily) -> None:
        """Row ``state.step`` (1-based) after a gradient step."""
        i = state.step - 1
        self.neg_elbo[i], self.learning_rate[i], self.level[i] = neg_elbo, state.lr, state.level
        self.summaries[i] = np.concatenate(fam.marginals(state.params))

    def window(self, step: int, W: int) -> tuple[np.ndarray, np.ndarray]:
        """Marginal summaries (W × 2d) and −ELBOs of the ``W`` steps up to ``step``."""
        return self.summaries[step - W:step], self.neg_elbo[step - W:step]


def gradient_step(state: OptimiserState, fam: VariationalFamily, density: ModelDensity,
                  eps: np.ndarray) -> tuple[OptimiserState, float]:
    """One Adam step on the ELBO with the standard-normal draws ``eps`` (n × d); the new state and the −ELBO estimate."""
    th = fam.theta(state.params, eps)
    lp, g = density.log_joint_and_grad(th)
    good = np.isfinite(lp) & np.all(np.isfinite(g), axis=1)
    step = state.step + 1
    if not good.any():
        bad = state.consecutive_bad + 1
        reason = (f"log density not finite at {MAX_CONSECUTIVE_INVALID} consecutive steps"
                  if bad >= MAX_CONSECUTIVE_INVALID else "")
        return replace(state, step=step, running=state.running + state.params, n_skipped=state.n_skipped + 1,
                       consecutive_bad=bad, stop_reason=reason), float("nan")
    grad = fam.grad(state.params, eps[good], th[good], g[good])
    neg_elbo = -(fam.expected_logp(state.params, th[good], lp[good]) + fam.entropy(state.params))
    params, adam = adam_step(state.adam, state.params, grad, state.lr, step)
    return replace(state, step=step, params=params, adam=adam, running=state.running + params,
                   consecutive_bad=0), neg_elbo


def _level_summary(state: OptimiserState, fam: VariationalFamily, summaries: np.ndarray, drift: float,
                   stationary: bool) -> LevelSummary:
    """The Polyak average over the window ``summaries`` of the current level, with its MCSEs."""
    W, d = len(summaries), fam.d
    avg = (state.checkpoints[state.n_level] - state.checkpoints[state.n_level - W]) / W
    a_mean, a_log_sd = fam.marginals(avg)
    mc = window_mcse(summaries)
    return LevelSummary(lr=state.lr, n_mc=state.n_mc, start_step=state.level_start, end_step=state.step,
                        stationary=stationary,
                        drift_z=drift, window=W, params=avg, mean=a_mean, log_sd=a_log_sd,
                        mcse_mean=mc[:d] / np.exp(a_log_sd), mcse_log_sd=mc[d:])


def checkpoint(state: OptimiserState, rule: StoppingRule, fam: VariationalFamily, history: StepHistory,
               progress: bool = False) -> OptimiserState:
    """Every ``check_every`` steps of a level: keep the running sum; close the level, stop or go on."""
    n = state.n_level
    state = replace(state, checkpoints={**state.checkpoints, n: state.running})
    if n < 2 * rule.min_window:
        return state
    W = rule.window_length(n)
    if W < rule.min_window:
        return state
    summaries, neg_elbo = history.window(state.step, W)
    dz, crit = rule.max_drift_z(summaries, neg_elbo)
    state = replace(state, last_drift_z=dz)
    stationary = dz < crit
    if not stationary and n < rule.max_level_steps:
        return state
    summ = _level_summary(state, fam, summaries, dz, stationary)
    if (stationary and not rule.mcse_ok(summ) and rule.window_needed(summ) <= rule.max_window
            and n < rule.max_level_steps):
        return state  # stationary but the average is still too noisy: grow the window
    ok, why = rule.converged(state.levels[-1] if state.levels else None, summ)
    if progress:
        print(f"[vi] step {state.step}: level {state.level} lr={state.lr:.3g} drift z={dz:.2f} (< {crit:.2f}) "
              f"window={W} -> {why}")
    if ok:
        return replace(state, levels=state.levels + (summ,), converged=True, stop_reason=why)
    # next level: smaller learning rate, fresh window
    zeros = np.zeros_like(state.params)
    return replace(state, levels=state.levels + (summ,), level=state.level + 1, lr=state.lr * rule.rho,
                   n_mc=_next_n_mc(state, rule, summ),
                   level_start=state.step, running=zeros, checkpoints={0: zeros})


def _next_n_mc(state: OptimiserState, rule: StoppingRule, summ: LevelSummary) -> int:
    """Draws per step of the next level: when a stationary level's MCSE would need a window beyond
    ``max_window`` (:meth:`StoppingRule.window_needed`), the next level takes that many times (2 to 4) more
    draws per step, which the MCSE needs (MCSE ∝ gradient noise / √(W n_mc), whatever the rate); at most
    ``MAX_N_MC_GROWTH`` × the first level's."""
    needed = rule.window_needed(summ)
    if not summ.stationary or rule.mcse_ok(summ) or needed <= rule.max_window:
        return state.n_mc
    factor = int(min(4, max(2, math.ceil(needed / rule.max_window))))
    first = state.levels[0].n_mc if state.levels else state.n_mc
    return int(min(state.n_mc * factor, MAX_N_MC_GROWTH * first))


def refit_control_variate(fam: VariationalFamily, params: np.ndarray, density: ModelDensity,
                          rng: np.random.Generator, n_mc: int) -> tuple[VariationalFamily, str]:
    """The family with the control variate of least held-out gradient variance under the current q
    (:func:`.control_variate.refit`), from fresh draws that the optimiser never uses; with the choice."""
    regress = fam.d <= REGRESSION_MAX_DIM
    n = max(8 * n_mc, 4 * (fam.d + 2)) if regress else 8 * n_mc
    eps = rng.standard_normal((n, fam.d))
    theta = fam.theta(params, eps)
    lp, g = density.log_joint_and_grad(theta)
    cv, choice = refit(fam.cv, theta, lp, g, fam.chol(params), regress=regress)
    return fam.with_control_variate(cv), choice


def optimise(fam: VariationalFamily, density: ModelDensity, rule: StoppingRule, rng: np.random.Generator, *,
             lr: float, n_mc: int, max_steps: int, progress: bool = False
             ) -> tuple[OptimiserState, StepHistory, VariationalFamily]:
    """Run the loop from ``fam.init()`` until the rule holds, the density fails or ``max_steps``.

    After ``min_window`` steps of every level (the burn-in before the first window the rule examines) the
    control variate is re-fitted under the current q (:func:`refit_control_variate`).  Returns the final
    state, the history and the family with its last control variate."""
    state = OptimiserState.start(fam.init(), lr, n_mc)
    history = StepHistory(max_steps, fam.d)
    while state.step < max_steps:
        state, neg_elbo = gradient_step(state, fam, density, rng.standard_normal((state.n_mc, fam.d)))
        history.record(state, neg_elbo, fam)
        if state.stop_reason:
            break
        if state.n_level == rule.min_window:
            fam, choice = refit_control_variate(fam, state.params, density, rng, state.n_mc)
            state = replace(state, control_variates=state.control_variates + (choice,))
        if state.n_level % rule.check_every == 0:
            state = checkpoint(state, rule, fam, history, progress)
            if state.converged:
                break
    if not state.converged and not state.stop_reason:
        tail = (f"; last level: {state.levels[-1].lr:.3g} lr, drift z {state.levels[-1].drift_z:.2f}"
                if state.levels else "")
        state = replace(state, stop_reason=(
            f"max_steps={max_steps} reached before the stopping rule was satisfied "
            f"({len(state.levels)} level(s) completed, current drift z {state.last_drift_z:.3g}{tail})"))
    return state, history, fam


def final_params(state: OptimiserState) -> np.ndarray:
    """The estimate: the last level's average if converged; else the Polyak average over the last half of the
    current level (from its checkpoints), else the last level's average, else the last iterate."""
    if state.converged:
        return state.levels[-1].params
    keys = sorted(k for k in state.checkpoints if k >= state.n_level // 2)
    if keys and keys[-1] > keys[0]:
        return (state.checkpoints[keys[-1]] - state.checkpoints[keys[0]]) / (keys[-1] - keys[0])
    if state.levels:
        return state.levels[-1].params
    return state.params
