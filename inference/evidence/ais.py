r"""Annealed importance sampling (Neal 2001) and bidirectional Monte Carlo (Grosse et al. 2015, 2016).

One engine for PyMC models, spin models and RBMs. A *path* is a family of unnormalised densities
:math:`f_\beta`, :math:`\beta \in [0, 1]`, with :math:`Z_0 = \int f_0` known and exact draws at
:math:`\beta = 0`. Each of :math:`R` independent runs visits :math:`0=\beta_0<\dots<\beta_K=1`:

.. math:: x_1 \sim \pi_0, \qquad
          \ln w = \sum_{k=1}^{K} \big[\ln f_{\beta_k}(x_k) - \ln f_{\beta_{k-1}}(x_k)\big],
          \qquad x_{k+1} \sim T_{\beta_k}(x_k, \cdot),

where :math:`x_k` is the state that has just been moved at :math:`\beta_{k-1}` and :math:`T_\beta`
is any kernel that leaves :math:`\pi_\beta = f_\beta / Z_\beta` invariant *and does not depend on
the run's own states* (a kernel tuned on the runs themselves breaks :math:`E[w] = Z_1/Z_0` and
biases :math:`\ln\hat Z`, in either direction). Then

.. math:: \ln\hat Z_1 = \ln Z_0 + \ln\overline{w}, \qquad E[\ln \hat Z_1] \le \ln Z_1
          \quad\text{(Jensen: a stochastic lower bound)},

with the delta-method se :math:`\sqrt{\mathrm{Var}(w)/(R\,\bar w^2)}`.  *Reverse* AIS runs the same
ladder from 1 to 0, starting from draws of :math:`\pi_1`: :math:`E[w_\mathrm{rev}] = Z_0/Z_1`, so
:math:`\ln Z_0 - \ln\overline{w_\mathrm{rev}}` is a stochastic *upper* bound of :math:`\ln Z_1`.
**Bidirectional Monte Carlo** (BDMC) runs both and sandwiches the free energy :math:`F = -\ln Z_1`:

.. math:: F_\mathrm{lower} = -(\ln Z_0 - \ln\overline{w_\mathrm{rev}})
          \;\lesssim\; F \;\lesssim\; F_\mathrm{upper} = -(\ln Z_0 + \ln\overline{w_\mathrm{fwd}}),

and the width :math:`F_\mathrm{upper} - F_\mathrm{lower}` bounds the error of either estimate
(the reverse bound is exact only when its starts are exact draws of :math:`\pi_1`).

**One set of checks** (:func:`weight_problems`, :func:`ais_record`, :func:`bdmc_record`): a record's
note starts with ``unreliable:`` when the weights' Kish ESS is below ``max(5, 0.05 R)``, when the
PSIS Pareto :math:`\hat k` of the weights (ArviZ, via :func:`.weights.pareto_khat`;
25 runs or more) exceeds 0.7 (heavy-tailed weights: the delta-method se is then optimistic), when
the sandwich is wider than its tolerance (default 0.1 nats), or when its bounds cross by more than
the tolerance and 4 times their MC error (the reverse starts are then not draws of the target).
The weights alone cannot see runs that *all* lag behind the tempered targets (a systematic error
with well-behaved weights): the forward AIS records of this package therefore carry a reverse
check by default, and store its sandwich in ``sandwich_lower`` / ``sandwich_upper``.

The engine (:func:`anneal`) takes an :class:`AnnealingPath`: ``log_z_base``, ``sample_base(n, rng)``,
``log_weight_increment(state, beta_from, beta_to)`` and ``move(state, beta, rng)``. Spin models and
RBMs supply their own (:mod:`physml.inference.spins.coupling_ais`, :mod:`physml.inference.rbm.ais`);
:func:`ais` wraps the common case :math:`f_\beta = p\,L^\beta` (prior times tempered likelihood) given
three callables::

    ais(sample_prior, log_likelihood, transition, betas, n_runs, seed)
    sample_prior(n, rng) -> x                           # n independent draws from the beta=0 end
    log_likelihood(x) -> (n,)                           # ln L at each run's state
    transition(x, log_lik, beta, rng) -> (x, log_lik)   # pi_beta-invariant move

The PyMC path (HMC moves tuned on a pilot population, ``ais_pymc``, ``bdmc_pymc``) is in
:mod:`.pymc_ais`; the weight statistics (ESS, Pareto k-hat, delta-method se) in :mod:`.weights`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from .weights import KHAT_RELIABLE, log_mean_exp, relative_weights_se, weight_stats
from ..records import FreeEnergy

__all__ = ["AnnealingPath", "AISResult", "anneal", "ais", "LikelihoodState", "TemperedLikelihoodPath",
           "weight_problems", "ais_record", "bdmc_record", "BDMC_TOLERANCE"]

#: default tolerance (nats) on the BDMC sandwich width F_upper - F_lower
BDMC_TOLERANCE = 0.1


class AnnealingPath(Protocol):
    """A path of unnormalised densities f_beta with exact draws and known ln Z at beta = 0."""

    log_z_base: float

    def sample_base(self, n: int, rng: np.random.Generator): ...

    def log_weight_increment(self, state, beta_from: float, beta_to: float) -> np.ndarray: ...

    def move(self, state, beta: float, rng: np.random.Generator): ...


@dataclass(frozen=True)
class AISResult:
    """One AIS pass. ``log_z``: the estimate of ln Z at beta = 1 (a stochastic lower bound for a
    forward pass 0 → 1, an upper bound for a reverse pass 1 → 0); ``log_z_base`` = ln Z at beta = 0;
    ``ess`` (Kish) and ``khat`` (PSIS Pareto k-hat, nan below 25 runs) of the weights."""

    log_weights: np.ndarray
    log_z: float
    se: float
    betas: np.ndarray
    log_z_base: float
    ess: float
    khat: float
    wall_time_s: float
    final_state: object = field(default=None, repr=False)

    @property
    def reverse(self) -> bool:
        return bool(self.betas[0] > self.betas[-1])

    @property
    def n_runs(self) -> int:
        return int(self.log_weights.size)


def _check_ladder(betas) -> np.ndarray:
    b = np.asarray(betas, dtype=float)
    if b.ndim != 1 or b.size < 2:
        raise ValueError("betas must be a 1-D ladder of at least 2 temperatures")
    up = b if b[0] <= b[-1] else b[::-1]
    if up[0] == 0.0 and np.isclose(up[-1], 1.0) and np.all(np.diff(up) > 0):
        return b
    raise ValueError("betas must increase strictly from 0 to 1 (forward AIS) or decrease strictly from 1 to 0 "
                     "(reverse AIS)")


def anneal(path: AnnealingPath, betas, n_runs: int, seed=0, *, start=None) -> AISResult:
    """Run ``n_runs`` AIS runs of ``path`` along ``betas``: 0 → 1 from ``path.sample_base`` (forward),
    or 1 → 0 from ``start``, a state of ``n_runs`` draws of pi_1 (reverse)."""
    b = _check_ladder(betas)
    if isinstance(n_runs, bool) or int(n_runs) != n_runs or int(n_runs) < 2:
        raise ValueError(f"n_runs must be an integer >= 2, got {n_runs}")
    n_runs = int(n_runs)
    reverse = b[0] > b[-1]
    if reverse and start is None:
        raise ValueError("reverse AIS (betas from 1 to 0) needs start: draws of the beta = 1 distribution")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    state = start if start is not None else path.sample_base(n_runs, rng)
    log_w = np.zeros(n_runs)
    for k in range(1, b.size):
        # the state was last moved at b[k-1] (or drawn there): it is distributed as pi_{b[k-1]}
        inc = np.asarray(path.log_weight_increment(state, b[k - 1], b[k]), dtype=float)
        if inc.shape != (n_runs,):
            raise ValueError(f"the path's log weight increment must have shape ({n_runs},), got {inc.shape}")
        log_w += inc
        if k < b.size - 1:
            state = path.move(state, b[k], rng)
    log_w = np.where(np.isnan(log_w), -np.inf, log_w)
    lme = float(log_mean_exp(log_w))
    base = float(path.log_z_base)
    ess, khat = weight_stats(log_w)
    return AISResult(log_weights=log_w, log_z=base - lme if reverse else base + lme, se=relative_weights_se(log_w),
                     betas=b, log_z_base=base, ess=ess, khat=khat, wall_time_s=time.perf_counter() - t0,
                     final_state=state)


# ------------------------------------------------------------------ f_beta = p L^beta
class LikelihoodState(NamedTuple):
    """Runs' states ``x`` and their log likelihoods ``log_lik`` (n,)."""

    x: np.ndarray
    log_lik: np.ndarray


@dataclass(frozen=True)
class TemperedLikelihoodPath:
    r"""The path :math:`f_\beta(x) = p(x) L(x)^\beta` (normalised prior: :math:`\ln Z_0 = 0`)."""

    sample_prior: object
    log_likelihood: object
    transition: object
    log_z_base: float = 0.0

    def sample_base(self, n, rng) -> LikelihoodState:
        x = self.sample_prior(n, rng)
        return LikelihoodState(x, np.asarray(self.log_likelihood(x), dtype=float))

    def start_at(self, x) -> LikelihoodState:
        """States for a reverse pass from draws ``x`` of the beta = 1 end."""
        return LikelihoodState(x, np.asarray(self.log_likelihood(x), dtype=float))

    def log_weight_increment(self, state, beta_from, beta_to):
        with np.errstate(invalid="ignore"):
            return (beta_to - beta_from) * state.log_lik

    def move(self, state, beta, rng) -> LikelihoodState:
        x, ll = self.transition(state.x, state.log_lik, beta, rng)
        return LikelihoodState(x, np.asarray(ll, dtype=float))


def ais(sample_prior, log_likelihood, transition, betas, n_runs: int, seed=0) -> AISResult:
    """Forward AIS along :math:`p\\,L^\\beta` (``betas`` 0 → 1); see the module docstring for the callables."""
    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or betas.size < 2 or betas[0] != 0.0:
        raise ValueError("betas must increase strictly from 0 to 1")
    return anneal(TemperedLikelihoodPath(sample_prior, log_likelihood, transition), betas, n_runs, seed)


# ------------------------------------------------------------------ shared checks and records
def weight_problems(res: AISResult) -> list[str]:
    """Why the weights of one pass cannot be trusted (empty list: no problem detected)."""
    direction = "reverse" if res.reverse else "forward"
    out = []
    if res.ess < max(5.0, 0.05 * res.n_runs):
        out.append(f"{direction} weight ESS {res.ess:.1f} of {res.n_runs} runs (a few runs dominate)")
    if res.khat > KHAT_RELIABLE:
        out.append(f"{direction} weights heavy-tailed (Pareto k-hat {res.khat:.2f} > {KHAT_RELIABLE})")
    return out


def _weights_summary(res: AISResult) -> str:
    k = "n/a" if math.isnan(res.khat) else f"{res.khat:.2f}"
    return f"weight ESS {res.ess:.0f}/{res.n_runs}, k-hat {k}"


def _flagged(problems: list[str], advice: str, note: str) -> str:
    if not problems:
        return note
    return f"unreliable: {'; '.join(problems)} ({advice}); {note}"


def _sandwich(forward: AISResult, reverse: AISResult, tolerance: float):
    """(lower, upper, problems, text) of the BDMC sandwich of F = -ln Z from a forward and a reverse pass."""
    if forward.reverse or not reverse.reverse:
        raise ValueError("a sandwich needs a forward pass (betas 0 → 1) and a reverse pass (1 → 0)")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    upper, lower = -forward.log_z, -reverse.log_z
    width = upper - lower
    problems = weight_problems(forward) + weight_problems(reverse)
    noise = 4 * math.hypot(forward.se, reverse.se)  # bounds may cross by MC noise; beyond it the starts are off
    if not width <= tolerance:
        problems.insert(0, f"BDMC sandwich width {width:.3g} nats > tolerance {tolerance:g}")
    elif not -width <= max(tolerance, noise):
        problems.insert(0, f"BDMC bounds cross by {-width:.3g} nats, beyond tolerance {tolerance:g} and "
                           f"4 x their MC error ({noise:.2g}): the reverse starts are not draws of the target")
    text = (f"BDMC sandwich F in [{lower:.4f}, {upper:.4f}] (width {width:.3g} nats; forward {upper:.4f} ± "
            f"{forward.se:.2g}, {_weights_summary(forward)}; reverse {lower:.4f} ± {reverse.se:.2g}, "
            f"{_weights_summary(reverse)})")
    return lower, upper, problems, text


def ais_record(res: AISResult, *, estimator: str, note: str, wall_time_s: float | None = None,
               reverse: AISResult | None = None, tolerance: float = BDMC_TOLERANCE) -> FreeEnergy:
    """The :class:`FreeEnergy` of a forward pass, −ln Ẑ ± se, flagged by :func:`weight_problems`; with a
    ``reverse`` pass also the sandwich (``sandwich_lower`` / ``sandwich_upper``), flagged when wider than
    ``tolerance`` nats (a forward pass whose runs all lag behind the targets has well-behaved weights,
    and only the reverse pass reveals it)."""
    if res.reverse:
        raise ValueError("ais_record needs a forward pass (betas from 0 to 1)")
    note = (f"{note}; {_weights_summary(res)}; ln Z-hat is a stochastic lower bound of ln Z, so -ln Z-hat "
            "errs high (E[-ln Z-hat] >= F); se from the spread of the weights")
    problems, lower, upper = weight_problems(res), float("nan"), float("nan")
    if reverse is not None:
        lower, upper, problems, text = _sandwich(res, reverse, tolerance)
        note = f"{note}; reverse check: {text}"
    note = _flagged(problems, "the se from the weights' spread is then optimistic: use more temperatures / moves",
                    note)
    return FreeEnergy(value=-res.log_z, se=res.se, kind="estimate", estimator=estimator,
                      wall_time_s=res.wall_time_s if wall_time_s is None else wall_time_s, pareto_k=res.khat,
                      note=note, sandwich_lower=lower, sandwich_upper=upper)


def _max_finite(*values) -> float:
    """Largest finite value, nan when there is none (k-hat needs >= 25 runs)."""
    finite = [float(v) for v in values if np.isfinite(v)]
    return max(finite) if finite else float("nan")


def bdmc_record(forward: AISResult, reverse: AISResult, *, estimator: str, note: str,
                tolerance: float = BDMC_TOLERANCE, wall_time_s: float | None = None) -> FreeEnergy:
    r"""The BDMC :class:`FreeEnergy`: the sandwich :math:`[F_\mathrm{lower}, F_\mathrm{upper}]` (record fields
    ``sandwich_lower`` / ``sandwich_upper``), value its midpoint, se = half its width ⊕ the midpoint's MC error.

    Flagged ``unreliable:`` when the width exceeds ``tolerance`` nats, when the bounds cross by more than
    both the tolerance and 4 times their MC error, or when either pass's weights fail :func:`weight_problems`.
    """
    lower, upper, problems, text = _sandwich(forward, reverse, tolerance)
    note = _flagged(problems, "anneal more slowly (more temperatures / moves) until the bounds meet",
                    f"{note}; {text}; value = midpoint, se = half-width ⊕ MC error")
    mc = 0.5 * math.hypot(forward.se, reverse.se)
    wall = forward.wall_time_s + reverse.wall_time_s if wall_time_s is None else wall_time_s
    return FreeEnergy(value=0.5 * (upper + lower), se=math.hypot(0.5 * (upper - lower), mc), kind="estimate",
                      estimator=estimator, wall_time_s=wall,
                      pareto_k=_max_finite(forward.khat, reverse.khat), note=note,
                      sandwich_lower=lower, sandwich_upper=upper)
