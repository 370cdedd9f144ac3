r"""Metropolis on the binary (Ising) perceptron: the energy is the number of training errors (numba).

Weights :math:`w\in\{-1,+1\}^N`, constraint rows :math:`a_\mu = y_\mu x_\mu` (μ ≤ P), stabilities
:math:`h_\mu = a_\mu\cdot w` and

.. math::

    E(w) = \sum_\mu \Theta(-h_\mu), \qquad P_\beta(w) \propto e^{-\beta E(w)},

a many-body energy (not a sum over pairs), whose β → ∞ limit is the uniform measure on the version space
:math:`\{w: E(w) = 0\}` (Gibbs learning). Random-site Metropolis: pick i uniformly, propose
:math:`w_i \to -w_i`; the stabilities would move to :math:`h_\mu - 2 w_i a_{\mu i}`, so ΔE costs O(P); accept
with probability :math:`\min(1, e^{-\beta\Delta E})` and then update every :math:`h_\mu` (O(P) per flip; the
stabilities are computed once per call, O(PN)). Each proposal satisfies detailed balance with respect to
:math:`P_\beta`; a *sweep* is N proposals. At β = ∞ (``beta=math.inf``) only moves with ΔE ≤ 0 are taken.

:class:`PerceptronMetropolisKernel` implements the :class:`~.kernel.SpinKernel` protocol; its ``couplings``
record is the pairwise part of the energy, which is empty (no edges, zero field), so the protocol's recorded
"energy" ``E/N`` is replaced by the training errors per weight E(w)/N in :meth:`sample_batch`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .kernel import BatchDraws, SpinState, initial_spin_state, require_count, sweep_step
from .lattice import IsingCouplings
from .rng import rng_state, xoshiro_next


@numba.njit(cache=True)
def stabilities(At, spins):
    """:math:`h_\\mu = \\sum_i a_{\\mu i} w_i` from the transposed rows ``At`` (N, P)."""
    h = np.zeros(At.shape[1])
    for i in range(At.shape[0]):
        wi = spins[i]
        for mu in range(At.shape[1]):
            h[mu] += At[i, mu] * wi
    return h


@numba.njit(cache=True)
def training_errors(h):
    e = 0
    for mu in range(h.shape[0]):
        if h[mu] <= 0.0:
            e += 1
    return e


@numba.njit(cache=True)
def metropolis_updates(spins, At, h, beta, n_updates, state):
    """``n_updates`` random-site Metropolis proposals at inverse temperature ``beta``; ``h`` kept = A w.
    Returns the number of accepted flips."""
    n, p = At.shape
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    flips = 0
    for _ in range(n_updates):
        u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        i = min(int(u * n), n - 1)
        step = -2.0 * spins[i]
        delta = 0
        for mu in range(p):
            new = h[mu] + step * At[i, mu]
            delta += int(new <= 0.0) - int(h[mu] <= 0.0)
        u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        if delta <= 0 or u < math.exp(-beta * delta):
            for mu in range(p):
                h[mu] += step * At[i, mu]
            spins[i] = -spins[i]
            flips += 1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return flips


def check_rows(A) -> np.ndarray:
    """Constraint rows as a float64 (P, N) finite matrix with P ≥ 1, N ≥ 2 (ValueError naming ``A``)."""
    arr = np.asarray(A, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(f"A must have shape (P, N) with P >= 1 and N >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("A must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class PerceptronMetropolisKernel:
    """Random-site Metropolis on E(w) = training errors at inverse temperature ``beta`` (> 0, may be inf).

    ``A``: (P, N) rows y_μ x_μ. One step = ``sweeps`` × N proposals; ``step_stat`` is the flips in the last step.
    """

    A: np.ndarray
    beta: float
    sweeps: int = 1
    step_stat = "flips"

    def __post_init__(self):
        rows = check_rows(self.A)
        if not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise ValueError(f"beta must be a number > 0 (math.inf allowed), got {self.beta!r}")
        require_count("sweeps", self.sweeps)
        object.__setattr__(self, "A", rows)
        object.__setattr__(self, "_At", np.ascontiguousarray(rows.T))
        n = rows.shape[1]
        object.__setattr__(self, "_couplings", IsingCouplings(n, np.zeros((0, 2), int), np.zeros(0), 0.0))

    @property
    def couplings(self) -> IsingCouplings:
        """The pairwise part of the energy: none (the training-error energy is many-body)."""
        return self._couplings

    @property
    def n_spins(self) -> int:
        return self.A.shape[1]

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState:
        return initial_spin_state(self.n_spins, spins, rng)

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        return sweep_step(self, rng, state)

    def errors(self, spins) -> int:
        """E(w): the training errors of ``spins``, recomputed from scratch."""
        return int(training_errors(stabilities(self._At, np.asarray(spins, dtype=np.int8))))

    def advance(self, rng, buf, n_steps) -> float:
        """``n_steps`` steps on ``buf`` (ghost-padded, in place); returns the last step's number of flips."""
        spins = buf[:-1]
        h, state, flips = stabilities(self._At, spins), rng_state(rng), 0
        for _ in range(n_steps):
            flips = metropolis_updates(spins, self._At, h, float(self.beta), self.sweeps * self.n_spins, state)
        return float(flips)

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        """``draws`` steps, recording training errors per weight E/N, M/N (and spins, flips) after each."""
        n = self.n_spins
        spins = buf[:-1]
        h, state = stabilities(self._At, spins), rng_state(rng)
        energy, mag, flips = np.empty(draws), np.empty(draws), np.empty(draws)
        out = np.empty((draws, n), dtype=np.int8) if record_spins else None
        for t in range(draws):
            flips[t] = metropolis_updates(spins, self._At, h, float(self.beta), self.sweeps * n, state)
            energy[t], mag[t] = training_errors(h) / n, spins.sum() / n
            if record_spins:
                out[t] = spins
        return BatchDraws(energy, mag, out, flips)
