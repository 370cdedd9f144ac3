r"""Accuracy on request: re-run a free-energy estimator on a growing budget until its error is below ``fe_tol``.

A *budget* is a dict of an estimator's size knobs (draws, rungs, temperatures, runs). Each knob shrinks
one part of the error as a power of its size: a **Monte Carlo** knob as :math:`n^{-1/2}` (draws, runs),
a **bias** knob as :math:`n^{-p}` (Simpson rungs p = 4, AIS temperatures p = 1). Each round runs the
estimator afresh at budget :math:`b_r` (seed ``seed + r``: reproducible, independent rounds; round 0
is the plain run) and splits its error into a Monte Carlo part :math:`m` and a bias part :math:`d`:

* TI: :math:`m` = MCSE, :math:`d` = discretisation error, total :math:`e = \sqrt{m^2 + d^2}` (its se);
* AIS / BDMC: :math:`m` = se, :math:`d` = the larger distance from the value to an end of the BDMC
  sandwich (half the width for the BDMC midpoint, the whole width for forward AIS), :math:`e = \max(m, d)`.

Stop when :math:`e \le \tau` and the record is not flagged ``unreliable:``. Otherwise aim at
:math:`t = 0.8\tau`: :math:`d^* = d` if :math:`d \le t/2`, else :math:`t/2`; :math:`m^*` the largest
Monte Carlo error with :math:`e(m^*, d^*) \le t`; then

.. math:: n_\text{bias} \leftarrow n\,\big(d/d^*\big)^{1/p}, \qquad
          n_\text{MC} \leftarrow n\,\big(m/m^*\big)^{2}\ \text{(at most}\times 2\text{ while the bias knobs grow)},

each factor clipped to [1, 16] and the largest at least 1.5 (×2 for every knob when the error is
below target but the record is flagged). The next round's time is predicted as the last round's
wall time × the ratio of the work :math:`\prod n` (knobs marked ``work``); if that would pass the time
cap the factors are shrunk (geometrically) to fit, and when less than ×1.5 of work fits the driver
stops: the last record's note then starts ``unreliable: fe_tol τ not reached within the C s cap (se …)``.
The final record's ``wall_time_s`` is the time of all rounds; its note says the rounds and the budget.
Same seed, same machine → the same budgets and numbers, except where the time cap shrinks a round
(then the budget depends on the measured wall times).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from typing import Callable, NamedTuple

from ..records import FreeEnergy

__all__ = ["Knob", "ErrorSplit", "check_tolerance", "until_tolerance", "with_tolerance", "split_sandwich", "split_details",
           "FE_TIME_CAP"]

#: default time cap (s) of one estimator's rounds together
FE_TIME_CAP = 60.0
TARGET_FRACTION = 0.8
GROWTH_MIN = 1.5
GROWTH_MAX = 16.0


class Knob(NamedTuple):
    """A budget key: ``part`` "monte_carlo" (error ∝ n^-order, order 0.5) or "bias"; ``snap`` rounds a
    grown value to an allowed one (default: integer ceiling); ``work``: whether run time scales with it."""

    name: str
    part: str
    order: float
    snap: Callable[[float], float] = math.ceil
    work: bool = True


class ErrorSplit(NamedTuple):
    """Monte Carlo and bias parts of a record's error; ``total`` is compared with ``fe_tol``;
    ``quadrature``: total = √(m² + d²) (else max(m, d))."""

    monte_carlo: float
    bias: float
    total: float
    quadrature: bool = True


def split_sandwich(record: FreeEnergy) -> tuple[FreeEnergy, ErrorSplit]:
    """AIS / BDMC: m = se, d = largest distance from the value to a sandwich end (0 without a sandwich)."""
    d = max(abs(record.value - record.sandwich_lower), abs(record.sandwich_upper - record.value))
    d = 0.0 if math.isnan(record.sandwich_lower) or math.isnan(record.sandwich_upper) else d
    return record, ErrorSplit(record.se, d, max(record.se, d), quadrature=False)


def split_details(out: tuple[FreeEnergy, dict]) -> tuple[FreeEnergy, ErrorSplit]:
    """TI run with ``return_details``: m = ``mc_se``, d = ``discretisation``, total = the record's se."""
    record, details = out
    return record, ErrorSplit(float(details["mc_se"]), float(details["discretisation"]), record.se)


def check_tolerance(fe_tol, fe_time_cap, prefix: str = "") -> None:
    """ValueError naming ``fe_tol`` (a number >= 0, 0 = off) or ``fe_time_cap`` (a number > 0)."""
    for name, v, ok, rule in (("fe_tol", fe_tol, lambda x: x >= 0, ">= 0 (nats; 0 = off)"),
                              ("fe_time_cap", fe_time_cap, lambda x: x > 0, "> 0 (seconds)")):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise ValueError(f"{prefix}{name} must be a finite number {rule}, got {v!r}")


def _factors(split: ErrorSplit, knobs, fe_tol: float, flagged: bool) -> dict:
    """Growth factor of every knob from the error split (see the module docstring)."""
    t = TARGET_FRACTION * fe_tol
    m, d = split.monte_carlo, split.bias
    if not (math.isfinite(m) and math.isfinite(d)):
        return {k.name: GROWTH_MAX if k.part == "bias" else 2.0 for k in knobs}
    if flagged and split.total <= t:
        return {k.name: 2.0 for k in knobs}
    d_goal = d if d <= t / 2 else t / 2
    m_goal = math.sqrt(max(t * t - d_goal * d_goal, 0.0)) if split.quadrature else t
    bias_grows = d > d_goal
    out = {}
    for k in knobs:
        err, goal = (d, d_goal) if k.part == "bias" else (m, m_goal)
        f = (err / goal) ** (1.0 / k.order) if goal > 0 and err > goal else 1.0
        if k.part != "bias" and bias_grows:
            f = min(f, 2.0)
        out[k.name] = min(max(f, 1.0), GROWTH_MAX)
    top = max(out, key=out.get)
    out[top] = max(out[top], GROWTH_MIN)
    return out


def _work(budget: dict, knobs) -> float:
    return math.prod(float(budget[k.name]) for k in knobs if k.work)


def _grown(budget: dict, knobs, factors: dict, last_wall: float, time_left: float):
    """The next budget, its factors shrunk to fit ``time_left`` (None when less than ×1.5 of work fits)."""
    ratio = math.prod(factors[k.name] for k in knobs if k.work)
    allowed = time_left / max(last_wall, 1e-3)
    if allowed < GROWTH_MIN:
        return None
    if ratio > 0.9 * allowed:  # aim below the cap: snapping rounds up
        shrink = math.log(0.9 * allowed) / math.log(ratio)
        factors = {name: f ** shrink for name, f in factors.items()}
    new = {k.name: k.snap(budget[k.name] * factors[k.name]) for k in knobs}
    fits = _work(new, knobs) <= allowed * _work(budget, knobs)
    return new if fits and new != budget else None


def until_tolerance(estimate: Callable[[dict, int], tuple[FreeEnergy, ErrorSplit]], budget: dict, knobs, *,
                    fe_tol: float, fe_time_cap: float = FE_TIME_CAP) -> FreeEnergy:
    """Run ``estimate(budget, round)`` on a growing budget until its error is at most ``fe_tol`` or the
    time cap would be passed (then flagged ``unreliable:``); see the module docstring."""
    check_tolerance(fe_tol, fe_time_cap)
    if not fe_tol > 0:
        raise ValueError(f"fe_tol must be > 0 for until_tolerance, got {fe_tol!r}")
    t0 = time.perf_counter()
    budget, r = dict(budget), 0
    while True:
        t_round = time.perf_counter()
        record, split = estimate(budget, r)
        last_wall, elapsed = time.perf_counter() - t_round, time.perf_counter() - t0
        flagged = record.note.startswith("unreliable:")
        done = split.total <= fe_tol and not flagged
        nxt = None if done else _grown(budget, knobs, _factors(split, knobs, fe_tol, flagged), last_wall,
                                       fe_time_cap - elapsed)
        if nxt is None:
            break
        budget, r = nxt, r + 1
    sizes = ", ".join(f"{k}={v:g}" for k, v in budget.items())
    text = (f"{r + 1} round(s) in {elapsed:.1f} s, final budget {sizes}; error {split.total:.3g} "
            f"(Monte Carlo {split.monte_carlo:.3g}, bias {split.bias:.3g})")
    if done:
        note = f"{record.note}; fe_tol {fe_tol:g} reached: {text}"
    else:
        note = (f"unreliable: fe_tol {fe_tol:g} not reached within the {fe_time_cap:g} s cap "
                f"(se {split.total:.3g}); {text}; {record.note}")
    return dataclasses.replace(record, note=note, wall_time_s=elapsed)


#: arguments that fix the ladder / temperatures outright, so that growing the knobs would change nothing
OVERRIDES = frozenset({"ladder", "betas"})


def with_tolerance(run: Callable[..., object], knobs, split: Callable[[object], tuple[FreeEnergy, ErrorSplit]],
                   **run_options) -> Callable[..., FreeEnergy]:
    """``run(*args, seed=..., **options)`` made to accept ``fe_tol`` (0 = off: ``run`` itself) and
    ``fe_time_cap``: with ``fe_tol`` > 0, :func:`until_tolerance` over the ``knobs`` (starting at the
    caller's values, else ``run``'s defaults), ``split(run(..., **run_options))`` giving each round's
    record and error split, round r seeded ``seed + r``."""
    params = inspect.signature(run).parameters

    def wrapped(*args, seed=0, fe_tol: float = 0.0, fe_time_cap: float = FE_TIME_CAP, **options) -> FreeEnergy:
        check_tolerance(fe_tol, fe_time_cap)
        if fe_tol == 0:
            return run(*args, seed=seed, **options)
        fixed = sorted(set(options) & OVERRIDES)
        if fixed:  # a user ladder / temperature list would make growing the budget knobs a no-op
            raise ValueError(f"fe_tol cannot grow a budget that {', '.join(fixed)} fixes: drop it or set fe_tol=0")
        budget = {k.name: options.pop(k.name, params[k.name].default) for k in knobs}

        def estimate(b, r):
            return split(run(*args, seed=seed + r, **options, **b, **run_options))

        return until_tolerance(estimate, budget, knobs, fe_tol=fe_tol, fe_time_cap=fe_time_cap)

    wrapped.__name__ = f"{run.__name__}_to_tolerance"
    wrapped.__doc__ = f"{run.__name__} with fe_tol / fe_time_cap (physml.inference.evidence.adaptive)."
    return wrapped
