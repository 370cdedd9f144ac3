r"""The spin-kernel protocol: what a Markov kernel on Ising spins provides to the generic driver.

A spin kernel is a transition :math:`T(s \to s')` on :math:`s \in \{-1, +1\}^N` that leaves the
Boltzmann distribution of its couplings invariant,

.. math::

    \sum_s P(s)\,T(s \to s') = P(s'), \qquad P(s) \propto \exp\Big(\sum_e K_e s_i s_j + \sum_i h_i s_i\Big).

One *step* applies it ``sweeps`` times (Wolff: a fixed number of cluster flips). The observables
recorded after each step are the bond energy and magnetisation per spin,

.. math::

    E/N = -\frac1N \sum_{e=(i,j)} s_i s_j, \qquad M/N = \frac1N \sum_i s_i .

Here: :class:`SpinState` (blackjax style: immutable spins plus an update count), the
:class:`SpinKernel` protocol (``init`` / ``step`` on states; ``advance`` / ``sample_batch`` in place on a
ghost-padded buffer, the fast path of the driver and of the free-energy estimators), and the pieces
every kernel shares: :func:`initial_spin_state`, :func:`with_ghost`, :func:`sweep_step`,
:func:`sample_by_steps`, the argument checks and the compiled observable sums.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numba
import numpy as np

from .lattice import IsingCouplings


class SpinState(NamedTuple):
    """Spins in {-1, +1} (int8, shape (N,)) and the bookkeeping a kernel reports."""

    spins: np.ndarray
    n_updates: int = 0


class BatchDraws(NamedTuple):
    """Per-step records of :meth:`SpinKernel.sample_batch`: E/N, M/N, spins (or None), the step statistic (or None)."""

    energy: np.ndarray
    magnetisation: np.ndarray
    spins: np.ndarray | None
    stat: np.ndarray | None


@runtime_checkable
class SpinKernel(Protocol):
    """A Markov kernel on Ising spins, as the driver (:func:`~.driver.run_blocks`) uses it.

    ``buf`` is the ghost-padded spin buffer of :func:`with_ghost` (int8, length N + 1, last entry 0),
    updated in place. ``step_stat`` names the per-step number ``advance`` returns (e.g. clusters,
    spins flipped), or is None when it returns nothing worth recording.
    """

    step_stat: str | None

    @property
    def couplings(self) -> IsingCouplings: ...

    @property
    def n_spins(self) -> int: ...

    @property
    def sweeps(self) -> int:
        """Sweeps per step (the unit of ``SpinState.n_updates``: ``sweeps × N`` per step)."""

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState: ...

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        """One step on a copy of ``state`` (the input is not modified)."""

    def advance(self, rng: np.random.Generator, buf: np.ndarray, n_steps: int) -> float | None:
        """``n_steps`` steps on ``buf`` in place; returns the last step's ``step_stat`` value (or None)."""

    def sample_batch(self, rng: np.random.Generator, buf: np.ndarray, draws: int,
                     record_spins: bool) -> BatchDraws:
        """``draws`` steps on ``buf`` in place, recording E/N, M/N (and spins, the step statistic) after each."""


# ----------------------------------------------------------------- shared pieces
def require_couplings(couplings) -> None:
    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")


def require_count(name: str, value) -> None:
    """``value`` must be an integer ≥ 1 (not a bool): sweeps, clusters per step."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def initial_spin_state(n_spins: int, spins=None, rng: np.random.Generator | None = None) -> SpinState:
    """State from given spins (±1), or uniformly random spins drawn with ``rng``."""
    if spins is None:
        rng = np.random.default_rng(rng)
        spins = 2 * rng.integers(0, 2, size=n_spins, dtype=np.int8) - 1
    spins = np.asarray(spins).reshape(-1)
    if spins.shape != (n_spins,) or not np.all(np.abs(spins) == 1):
        raise ValueError(f"spins must have shape ({n_spins},) with values in {{-1, +1}}")
    return SpinState(spins.astype(np.int8), 0)


def with_ghost(spins) -> np.ndarray:
    """int8 buffer of length N + 1: the spins, then the ghost site (spin 0) padded neighbour tables point at."""
    buf = np.zeros(len(spins) + 1, dtype=np.int8)
    buf[:-1] = spins
    return buf


def sweep_step(kernel: SpinKernel, rng: np.random.Generator, state: SpinState) -> SpinState:
    """``kernel.step`` for kernels whose step is ``sweeps`` sweeps: advance a copy, count ``sweeps × N`` updates."""
    buf = with_ghost(state.spins)
    kernel.advance(rng, buf, 1)
    return SpinState(buf[:-1].copy(), state.n_updates + kernel.sweeps * kernel.n_spins)


def sample_by_steps(kernel: SpinKernel, rng: np.random.Generator, buf: np.ndarray, draws: int,
                    record_spins: bool) -> BatchDraws:
    """``kernel.sample_batch`` from Python: one ``advance`` per draw, observables and step statistic after each."""
    n = kernel.n_spins
    edges = kernel.couplings.edges
    energy = np.empty(draws)
    mag = np.empty(draws)
    spins_out = np.empty((draws, n), dtype=np.int8) if record_spins else None
    stats = np.empty(draws) if kernel.step_stat else None
    for t in range(draws):
        out = kernel.advance(rng, buf, 1)
        energy[t], mag[t] = energy_magnetisation_per_spin(buf, edges, n)
        if record_spins:
            spins_out[t] = buf[:-1]
        if kernel.step_stat:
            stats[t] = out
    return BatchDraws(energy, mag, spins_out, stats)


# ----------------------------------------------------------------- compiled observables
@numba.njit(cache=True)
def edge_sums(spins, edges, n):
    """(Σ over edges of s_i s_j, Σ_i s_i) as integers: the sums every observable here is built from."""
    b = 0
    for e in range(edges.shape[0]):
        b += spins[edges[e, 0]] * spins[edges[e, 1]]
    m = 0
    for i in range(n):
        m += spins[i]
    return b, m


@numba.njit(cache=True)
def energy_magnetisation_per_spin(spins, edges, n):
    """(bond energy per spin −Σ s_i s_j / N, magnetisation per spin M/N) of one spin configuration."""
    b, m = edge_sums(spins, edges, n)
    return -b / n, m / n
