r"""Parallel tempering of a continuous density with a tempered likelihood: a sampler with its own state.

Rung k of M targets :math:`\pi_k(x) \propto p(x)\,L(x)^{\beta_k}`, :math:`0 \le \beta_1 < \dots < \beta_M = 1`
(β = 0: the prior; β = 1: the posterior). Each PT step is one (or ``kernel_steps``) within-replica
:class:`~.kernels.ReplicaKernel` step at every rung of every chain — one batched density call for all of them
— followed by one pass of neighbour swaps of one parity (even/odd alternation), accepted with

.. math:: \alpha_k = \min\big(1, \exp[(\beta_{k+1} - \beta_k)(\ln L(x_k) - \ln L(x_{k+1}))]\big),

the spin PT's rule with :math:`\ell = \ln L` (:func:`swap_decisions`: the spin PT's
:func:`~physml.inference.spins.parallel_tempering.swap_pass` batched over chains, tested equal to it).
Kernel and swaps each keep :math:`\prod_k \pi_k` invariant, so the β = 1 rung samples the posterior.

**Tuning** (windows of ``window`` steps; frozen for the draws): the ladder by the spin PT's constant-acceptance
rule (Vousden, Farr & Mandel 2016: :func:`~physml.inference.spins.parallel_tempering.adapt_ladder`, gain
:math:`1/\sqrt{1+n}`, ends fixed); per rung, the proposal covariance :math:`LL^\top` from the window's
positions at that rung (pooled over chains, shrunk 10 % towards its diagonal; kept while the rung's kernel
acceptance is below 5 %) and the scale by Robbins–Monro,
:math:`\ln s_k \mathrel{+}= \gamma_n (a_k - a^*)/(a^*(1 - a^*))` towards the kernel's target acceptance.

**Round trips** of each walker hottest → coldest → hottest
(:func:`~physml.inference.spins.parallel_tempering.count_round_trips`), counted per chain.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..spins.parallel_tempering import adapt_ladder, check_ladder, count_round_trips
from .kernels import Density, ProposalParams, ReplicaKernel, TemperedPoint

__all__ = ["ReplicaExchangeState", "ReplicaExchangeDraws", "ReplicaExchange", "swap_decisions", "adapt_scale",
           "adapt_chol"]

MIN_ACCEPTANCE_FOR_COVARIANCE = 0.05


class ReplicaExchangeState(NamedTuple):
    """All chains' replicas as rows (row c·M + k: chain c, rung k), the ladder (M,), per-rung proposal scale
    (M,) and Cholesky factor (M, d, d), which walker sits at each rung (C, M), each walker's heading (C, M),
    steps taken, swap and kernel counts per pair / rung (pooled over chains), round trips per chain (C,)."""

    point: TemperedPoint
    betas: np.ndarray
    scale: np.ndarray
    chol: np.ndarray
    walker: np.ndarray
    heading: np.ndarray
    n_steps: int
    swaps_tried: np.ndarray
    swaps_accepted: np.ndarray
    moves_tried: int
    moves_accepted: np.ndarray
    round_trips: np.ndarray

    @property
    def n_chains(self) -> int:
        return self.walker.shape[0]

    def reset_counters(self) -> "ReplicaExchangeState":
        return self._replace(swaps_tried=0 * self.swaps_tried, swaps_accepted=0 * self.swaps_accepted,
                             moves_tried=0, moves_accepted=0 * self.moves_accepted)


class ReplicaExchangeDraws(NamedTuple):
    """Per step: ln L at every rung (draws, C, M); the β = 1 rung's position (draws, C, d); every rung's
    positions (draws, C, M, d) when recorded (tuning)."""

    log_lik: np.ndarray
    x_target: np.ndarray
    x_all: np.ndarray | None


def swap_decisions(uniforms, betas, log_lik, parity: int) -> np.ndarray:
    """Which pairs (k, k+1), k ≡ parity (mod 2), swap in each chain: (C, M − 1) bool from uniforms (C, M − 1)
    and ln L (C, M) — row by row exactly :func:`~physml.inference.spins.parallel_tempering.swap_pass`
    (same rule, same uniforms), batched over chains."""
    log_ratio = np.diff(np.asarray(betas, float)) * (log_lik[:, :-1] - log_lik[:, 1:])
    with np.errstate(invalid="ignore"):
        accept = np.log(uniforms) < log_ratio
    accept[:, 1 - parity % 2::2] = False
    return accept


def adapt_scale(scale, acceptance, target: float, gain: float) -> np.ndarray:
    r"""One Robbins–Monro step of the per-rung scales towards ``target`` acceptance (log steps clipped to ±2)."""
    step = gain * (np.asarray(acceptance, float) - target) / (target * (1.0 - target))
    return np.asarray(scale, float) * np.exp(np.clip(step, -2.0, 2.0))


def adapt_chol(chol, positions, acceptance) -> np.ndarray:
    """Per-rung Cholesky factors of the shrunk sample covariance of ``positions`` (n, M, d); rungs whose kernel
    acceptance is below :data:`MIN_ACCEPTANCE_FOR_COVARIANCE` (or with too few points) keep theirs."""
    out = np.array(chol, dtype=float, copy=True)
    n, m, d = positions.shape
    if n < 2 * d + 2:
        return out
    for k in range(m):
        if acceptance[k] < MIN_ACCEPTANCE_FOR_COVARIANCE:
            continue
        cov = np.atleast_2d(np.cov(positions[:, k, :], rowvar=False))
        cov = 0.9 * cov + 0.1 * np.diag(np.diag(cov))
        cov += 1e-10 * (np.trace(cov) / d + 1e-300) * np.eye(d)
        try:
            out[k] = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            continue
    return out


class ReplicaExchange:
    """Parallel tempering of ``kernel`` on ``density(x, gradient) -> TemperedPoint`` (batched rows)."""

    def __init__(self, density: Density, kernel: ReplicaKernel, ndim: int, *, kernel_steps: int = 1):
        self.density = density
        self.kernel = kernel
        self.ndim = int(ndim)
        self.kernel_steps = int(kernel_steps)

    def init(self, x0: np.ndarray, betas) -> ReplicaExchangeState:
        """Start from rows ``x0`` (C·M, d), chain-major; identity proposal covariance, the kernel's scale."""
        b = check_ladder(betas)
        m, d = b.size, self.ndim
        x0 = np.asarray(x0, dtype=float).reshape(-1, d)
        if x0.shape[0] % m:
            raise ValueError(f"x0 must have chains x {m} rows, got {x0.shape[0]}")
        c = x0.shape[0] // m
        point = self.density(x0, self.kernel.needs_gradient)
        return ReplicaExchangeState(point, b, np.full(m, self.kernel.initial_scale(d)), np.tile(np.eye(d), (m, 1, 1)),
                                    np.tile(np.arange(m), (c, 1)), np.zeros((c, m), dtype=np.int8), 0,
                                    np.zeros(m - 1, dtype=np.int64), np.zeros(m - 1, dtype=np.int64), 0,
                                    np.zeros(m, dtype=np.int64), np.zeros(c, dtype=np.int64))

    @staticmethod
    def _swaps(rng, state: ReplicaExchangeState, parity: int, walker, heading, accepted, trips):
        """One swap pass in every chain (in place on walker / heading / counts); returns the row permutation."""
        m, c = state.betas.size, state.n_chains
        acc = swap_decisions(rng.random((c, m - 1)), state.betas, state.point.log_lik.reshape(c, m), parity)
        chain, k = np.nonzero(acc)
        perm = np.arange(c * m)
        perm[chain * m + k], perm[chain * m + k + 1] = chain * m + k + 1, chain * m + k
        walker[chain, k], walker[chain, k + 1] = walker[chain, k + 1], walker[chain, k]
        accepted += acc.sum(axis=0)
        for ch in range(c):
            trips[ch] += count_round_trips(walker[ch], heading[ch])
        return perm

    def sample(self, rng: np.random.Generator, state: ReplicaExchangeState, draws: int, *,
               record_all: bool = False) -> tuple[ReplicaExchangeState, ReplicaExchangeDraws]:
        """``draws`` PT steps from ``state`` (kernel step at every rung of every chain, then one swap pass)."""
        m, c, d = state.betas.size, state.n_chains, self.ndim
        params = ProposalParams(np.tile(state.betas, c), np.tile(state.scale, c), np.tile(state.chol, (c, 1, 1)))
        point, walker, heading = state.point, state.walker.copy(), state.heading.copy()
        swaps_tried, swaps_acc = state.swaps_tried.copy(), state.swaps_accepted.copy()
        moves_acc, trips = state.moves_accepted.copy(), state.round_trips.copy()
        log_lik, x_target = np.empty((draws, c, m)), np.empty((draws, c, d))
        x_all = np.empty((draws, c, m, d)) if record_all else None
        for t in range(draws):
            for _ in range(self.kernel_steps):
                point, acc = self.kernel.step(rng, point, params, self.density)
                moves_acc += acc.reshape(c, m).sum(axis=0)
            parity = (state.n_steps + t) % 2
            perm = self._swaps(rng, state._replace(point=point), parity, walker, heading, swaps_acc, trips)
            swaps_tried[parity::2] += c
            point = point.take(perm)
            log_lik[t] = point.log_lik.reshape(c, m)
            xs = point.x.reshape(c, m, d)
            x_target[t] = xs[:, -1]
            if record_all:
                x_all[t] = xs
        new = state._replace(point=point, walker=walker, heading=heading, n_steps=state.n_steps + draws,
                             swaps_tried=swaps_tried, swaps_accepted=swaps_acc,
                             moves_tried=state.moves_tried + draws * self.kernel_steps * c,
                             moves_accepted=moves_acc, round_trips=trips)
        return new, ReplicaExchangeDraws(log_lik, x_target, x_all)

    def tune(self, rng: np.random.Generator, state: ReplicaExchangeState, steps: int, *, adapt_betas: bool = True,
             window: int = 100) -> ReplicaExchangeState:
        """``steps`` tuning steps in windows of ``window``: after each full window the proposal covariance and
        scale of every rung move and, with ``adapt_betas``, the inner rungs of the ladder. Counters, round trips
        and headings restart at the end."""
        n_window, done = 0, 0
        while done < steps:
            size = min(window, steps - done)
            state, rec = self.sample(rng, state, size, record_all=True)
            done += size
            if size == window:
                gain = 1.0 / np.sqrt(1.0 + n_window)
                move_acc = state.moves_accepted / max(state.moves_tried, 1)
                chol = adapt_chol(state.chol, rec.x_all.reshape(-1, *rec.x_all.shape[2:]), move_acc)
                scale = adapt_scale(state.scale, move_acc, self.kernel.target_acceptance, gain)
                betas = state.betas
                if adapt_betas:
                    swap_acc = (state.swaps_accepted + 0.5) / (state.swaps_tried + 1.0)
                    betas = adapt_ladder(state.betas, swap_acc, gain)
                state = state._replace(betas=betas, scale=scale, chol=chol).reset_counters()
                n_window += 1
        return state.reset_counters()._replace(round_trips=0 * state.round_trips, heading=0 * state.heading)
