r"""Parallel tempering (replica exchange) of any spin kernel: a sampler with its own state.

M replicas run at inverse temperatures :math:`0 \le \beta_1 < \dots < \beta_M = 1`; replica k samples
:math:`P_k(s) \propto e^{\beta_k \ell(s)}`, :math:`\ell(s) = \sum_e K_e s_i s_j + \sum_i h_i s_i`, with the
spin kernel of the couplings scaled by :math:`\beta_k` (:meth:`IsingCouplings.with_scale`, any
:class:`~.kernel.SpinKernel`). After each kernel step neighbours k, k+1 of one parity exchange configurations
(deterministic even/odd alternation, Okabe et al. 2001; Syed et al. 2021) with the Metropolis probability

.. math::

    \alpha_k = \min\big(1, \exp[(\beta_{k+1} - \beta_k)(\ell(s_k) - \ell(s_{k+1}))]\big),

which satisfies detailed balance for :math:`\prod_k P_k` (so does the kernel step; the product of the two
leaves it invariant and the :math:`\beta_M = 1` replica samples the target).

**Ladder adaptation** (tuning only; the ladder is frozen for the draws): the *constant-acceptance* scheme of
Vousden, Farr & Mandel (2016, MNRAS 455 1919) with fixed ends: after each window of steps the log-gaps are
moved towards equal swap acceptance,
:math:`\ln\Delta_k \leftarrow \ln\Delta_k + \kappa_n (a_k - \bar a)`, :math:`\kappa_n = 1/\sqrt{1+n}`,
then rescaled so :math:`\sum_k \Delta_k = \beta_M - \beta_1`.

**Round trips**: a walker (a configuration followed through swaps) completes one when it goes from the
hottest rung to the coldest and back; the round-trip time is :math:`\tau_{rt} = M\,T / n_{rt}` sweeps
(T sweeps per replica, :math:`n_{rt}` trips of all walkers).

Here: :class:`PTState`, :func:`swap_log_acceptance`, :func:`swap_pass`, :func:`adapt_ladder`,
:class:`ParallelTempering` (``init`` / ``sample`` / ``tune``); ``fit(model, "parallel_tempering")`` is in
:mod:`.tempering_fit`, the free energy along the ladder in :mod:`.tempering_free_energy`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .kernel import SpinKernel, energy_magnetisation_per_spin
from .lattice import IsingCouplings

__all__ = ["PTState", "PTDraws", "ParallelTempering", "swap_log_acceptance", "swap_pass", "adapt_ladder",
           "check_ladder", "linear_ladder", "count_round_trips"]


class PTState(NamedTuple):
    """Spins at each rung (M, N), the ladder, which walker sits at each rung, each walker's heading
    (+1 last saw the hottest rung, −1 then the coldest, 0 neither), steps taken, swap counts, round trips."""

    spins: np.ndarray
    betas: np.ndarray
    walker: np.ndarray
    heading: np.ndarray
    n_steps: int
    swaps_tried: np.ndarray
    swaps_accepted: np.ndarray
    round_trips: int


class PTDraws(NamedTuple):
    """Per-step records: ℓ at every rung (draws, M); the β = 1 replica's E/N (bond), M/N, spins or None."""

    log_weight: np.ndarray
    energy: np.ndarray
    magnetisation: np.ndarray
    spins: np.ndarray | None


def check_ladder(betas) -> np.ndarray:
    """Strictly increasing inverse temperatures in [0, 1] ending at 1, at least 2 of them."""
    b = np.asarray(betas, dtype=float).reshape(-1)
    if b.size < 2 or not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0) or b[0] < 0 or b[-1] != 1.0:
        raise ValueError(f"betas must be >= 2 strictly increasing values in [0, 1] ending at 1, got {betas!r}")
    return b


def linear_ladder(n_replicas: int, beta_min: float = 0.0) -> np.ndarray:
    """``n_replicas`` β equally spaced from ``beta_min`` to 1."""
    if isinstance(n_replicas, bool) or not isinstance(n_replicas, (int, np.integer)) or n_replicas < 2:
        raise ValueError(f"n_replicas must be an integer >= 2, got {n_replicas!r}")
    if not (0.0 <= beta_min < 1.0):
        raise ValueError(f"beta_min must be in [0, 1), got {beta_min!r}")
    return np.linspace(beta_min, 1.0, int(n_replicas))


def swap_log_acceptance(betas, log_weights, k: int) -> float:
    r""":math:`\ln` of the swap ratio of rungs k, k+1: :math:`(\beta_{k+1} - \beta_k)(\ell_k - \ell_{k+1})`."""
    return float((betas[k + 1] - betas[k]) * (log_weights[k] - log_weights[k + 1]))


def swap_pass(uniforms, betas, log_weights, parity: int) -> np.ndarray:
    """Which pairs (k, k+1) with k ≡ parity (mod 2) swap, given one uniform per pair: (M − 1,) bool."""
    m = len(betas)
    accept = np.zeros(m - 1, dtype=bool)
    for k in range(parity % 2, m - 1, 2):
        accept[k] = np.log(uniforms[k]) < swap_log_acceptance(betas, log_weights, k)
    return accept


def adapt_ladder(betas, acceptance, gain: float) -> np.ndarray:
    """One constant-acceptance update of the gaps (ends fixed); ``acceptance`` per pair, (M − 1,)."""
    b = check_ladder(betas)
    a = np.asarray(acceptance, dtype=float)
    log_gap = np.log(np.diff(b)) + np.clip(gain * (a - a.mean()), -1.0, 1.0)
    gap = np.exp(log_gap)
    gap *= (b[-1] - b[0]) / gap.sum()
    out = np.concatenate([[b[0]], b[0] + np.cumsum(gap)])
    out[-1] = 1.0
    return check_ladder(out)


def count_round_trips(walker, heading) -> int:
    """Update headings in place from the walkers at the two ends (``walker[k]``: the walker at rung k);
    returns the round trips completed (hottest → coldest → hottest)."""
    done = 0
    hot, cold = walker[0], walker[-1]
    if heading[hot] == -1:
        done += 1
    heading[hot] = 1
    if heading[cold] == 1:
        heading[cold] = -1
    return done


class ParallelTempering:
    """Replica exchange of ``make_kernel`` (couplings → :class:`SpinKernel`) on ``couplings`` (β = 1)."""

    def __init__(self, couplings: IsingCouplings, make_kernel: Callable[[IsingCouplings], SpinKernel]):
        if not isinstance(couplings, IsingCouplings):
            raise ValueError("couplings must be an IsingCouplings record")
        self.couplings = couplings
        self.make_kernel = make_kernel
        self._kernels: dict[bytes, list[SpinKernel]] = {}
        dense = couplings.n_edges > 2 * couplings.n_spins and couplings.n_spins <= 4096
        self._dense = couplings.dense_matrix() if dense else None

    @property
    def n_spins(self) -> int:
        return self.couplings.n_spins

    def log_weights(self, spins: np.ndarray) -> np.ndarray:
        r""":math:`\ell(s)` of each row of ``spins`` (dense :math:`\tfrac12 s^\top K s + h^\top s` on dense graphs)."""
        if self._dense is None:
            return self.couplings.log_weight(spins)
        s = spins.astype(float)
        return 0.5 * np.einsum("mi,mi->m", s @ self._dense, s) + s @ self.couplings.field

    def kernels(self, betas) -> list[SpinKernel]:
        key = np.asarray(betas, dtype=float).tobytes()
        if key not in self._kernels:
            self._kernels = {key: [self.make_kernel(self.couplings.with_scale(float(b))) for b in betas]}
        return self._kernels[key]

    def init(self, rng: np.random.Generator, betas) -> PTState:
        """Uniformly random spins at every rung of the ladder ``betas``."""
        b = check_ladder(betas)
        m = b.size
        spins = (2 * rng.integers(0, 2, size=(m, self.n_spins)) - 1).astype(np.int8)
        return PTState(spins, b, np.arange(m), np.zeros(m, dtype=np.int8), 0, np.zeros(m - 1, dtype=np.int64),
                       np.zeros(m - 1, dtype=np.int64), 0)

    def sample(self, rng: np.random.Generator, state: PTState, draws: int, *,
               record_spins: bool = False) -> tuple[PTState, PTDraws]:
        """``draws`` PT steps (a kernel step at every rung, then one swap pass) from ``state``."""
        betas, m, n = state.betas, state.betas.size, self.n_spins
        kernels = self.kernels(betas)
        bufs = np.zeros((m, n + 1), dtype=np.int8)  # ghost-padded rows, row k at rung k
        bufs[:, :-1] = state.spins
        walker, heading = state.walker.copy(), state.heading.copy()
        tried, accepted = state.swaps_tried.copy(), state.swaps_accepted.copy()
        trips, edges = state.round_trips, self.couplings.edges
        lw_out = np.empty((draws, m))
        energy, mag = np.empty(draws), np.empty(draws)
        spins_out = np.empty((draws, n), dtype=np.int8) if record_spins else None
        for t in range(draws):
            for k in range(m):
                kernels[k].advance(rng, bufs[k], 1)
            lw = self.log_weights(bufs[:, :-1])
            parity = (state.n_steps + t) % 2
            acc = swap_pass(rng.random(m - 1), betas, lw, parity)
            tried[parity::2] += 1
            for k in np.flatnonzero(acc):
                bufs[[k, k + 1]] = bufs[[k + 1, k]]
                lw[[k, k + 1]] = lw[[k + 1, k]]
                walker[[k, k + 1]] = walker[[k + 1, k]]
            accepted += acc
            trips += count_round_trips(walker, heading)
            lw_out[t] = lw
            energy[t], mag[t] = energy_magnetisation_per_spin(bufs[-1], edges, n)
            if record_spins:
                spins_out[t] = bufs[-1][:-1]
        new = PTState(bufs[:, :-1].copy(), betas, walker, heading, state.n_steps + draws, tried,
                      accepted, trips)
        return new, PTDraws(lw_out, energy, mag, spins_out)

    def tune(self, rng: np.random.Generator, states: list[PTState], steps: int, *, adapt: bool = True,
             window: int = 100) -> list[PTState]:
        """``steps`` steps of every chain in lockstep; with ``adapt`` the shared ladder moves after each
        ``window`` by :func:`adapt_ladder` on the pooled acceptance. Swap counters and round trips restart."""
        rngs = rng.spawn(len(states))
        n_window = 0
        done = 0
        while done < steps:
            size = min(window, steps - done)
            states = [self.sample(r, s, size)[0] for r, s in zip(rngs, states)]
            done += size
            if adapt and size == window:
                tried = sum(s.swaps_tried for s in states)
                acc = (sum(s.swaps_accepted for s in states) + 0.5) / (tried + 1.0)
                betas = adapt_ladder(states[0].betas, acc, 1.0 / np.sqrt(1.0 + n_window))
                n_window += 1
                states = [s._replace(betas=betas, swaps_tried=0 * s.swaps_tried,
                                     swaps_accepted=0 * s.swaps_accepted) for s in states]
        return [s._replace(swaps_tried=0 * s.swaps_tried, swaps_accepted=0 * s.swaps_accepted, round_trips=0,
                           heading=0 * s.heading) for s in states]
