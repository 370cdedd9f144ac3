r"""Single-site dynamics on dense couplings with incrementally updated local fields (numba).

For :math:`\ln P(s) = \tfrac12 s^\top K s + h^\top s` (K symmetric, zero diagonal) every update needs
the local field of one site,

.. math::

    f_i = h_i + \sum_j K_{ij} s_j, \qquad
    s_k \to s_k' \;\Rightarrow\; f_j \mathrel{+}= K_{jk}\,(s_k' - s_k)\ \ \forall j,

so the fields are computed once (:math:`O(N^2)`) per call and a flip costs :math:`O(N)` (one column of
K); a site that keeps its spin costs :math:`O(1)`.

* **finite T, random-site heat bath (Glauber):** pick i uniformly, set :math:`s_i = +1` with probability
  :math:`1/(1 + e^{-2 f_i})`. Each update satisfies detailed balance with respect to P, so the kernel is
  reversible; a *sweep* is N updates. :class:`DenseHeatBathKernel` implements the
  :class:`~.kernel.SpinKernel` protocol on an :class:`~.lattice.IsingCouplings` record (K = βJ).
* **zero temperature, asynchronous descent:** visit the sites in a fresh random order each sweep and set
  :math:`s_i = \operatorname{sign}(f_i)` (a zero field keeps the spin); the energy
  :math:`-\tfrac12 s^\top J s - h^\top s` never increases, and :func:`zero_temperature_descent` stops
  at the first sweep without a flip (a fixed point: every spin aligned with its field) or after
  ``max_sweeps`` (:func:`zero_temperature_descent`, :func:`descend_many` for many starts on one J).
  This is the retrieval dynamics of the Hopfield network (Hopfield 1982).

Uniforms come from the in-numba xoshiro256+ of :mod:`.rng`, seeded from the caller's Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .kernel import BatchDraws, SpinState, initial_spin_state, require_count, require_couplings, sample_by_steps, \
    sweep_step
from .lattice import IsingCouplings
from .rng import rng_state, xoshiro_next


TIE = 1e-12
"""|f_i| at or below this is a tie at T = 0 (the spin stays): incremental fields carry rounding errors, and
Hebbian fields are exactly zero for an even number of patterns."""


# ----------------------------------------------------------------- compiled kernels
@numba.njit(cache=True)
def local_fields(K, h, spins):
    """:math:`f_i = h_i + \\sum_j K_{ij} s_j` for the first N entries of ``spins``."""
    n = K.shape[0]
    f = h.copy()
    for j in range(n):
        sj = spins[j]
        if sj != 0:
            for i in range(n):
                f[i] += K[i, j] * sj
    return f


@numba.njit(cache=True, inline="always")
def _flip(spins, K, fields, k, new):
    delta = new - spins[k]
    spins[k] = new
    for j in range(K.shape[0]):
        fields[j] += K[j, k] * delta


@numba.njit(cache=True)
def heat_bath_updates(spins, K, fields, n_updates, state):
    """``n_updates`` random-site heat-bath updates; ``fields`` kept equal to h + K s. Returns the flips."""
    n = K.shape[0]
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    flips = 0
    for _ in range(n_updates):
        u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        i = min(int(u * n), n - 1)
        u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        new = 1 if u < 1.0 / (1.0 + math.exp(-2.0 * fields[i])) else -1
        if new != spins[i]:
            _flip(spins, K, fields, i, new)
            flips += 1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return flips


@numba.njit(cache=True)
def descent_sweeps(spins, K, fields, max_sweeps, state):
    """Asynchronous zero-temperature sweeps in random order until none flips; returns (sweeps, converged)."""
    n = K.shape[0]
    order = np.arange(n)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for sweep in range(max_sweeps):
        for a in range(n - 1, 0, -1):  # Fisher–Yates
            u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            b = min(int(u * (a + 1)), a)
            order[a], order[b] = order[b], order[a]
        flips = 0
        for a in range(n):
            i = order[a]
            f = fields[i]
            new = 1 if f > TIE else (-1 if f < -TIE else spins[i])
            if new != spins[i]:
                _flip(spins, K, fields, i, new)
                flips += 1
        if flips == 0:
            state[0], state[1], state[2], state[3] = s0, s1, s2, s3
            return sweep + 1, True
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return max_sweeps, False


# ----------------------------------------------------------------- Python entry points
def check_dense_couplings(J, name: str = "J") -> np.ndarray:
    """``J`` as a C-contiguous float64 square, symmetric, zero-diagonal, finite matrix (ValueError otherwise)."""
    mat = np.ascontiguousarray(J, dtype=np.float64)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] < 2:
        raise ValueError(f"{name} must be a square matrix with N >= 2, got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise ValueError(f"{name} must be finite")
    if not np.allclose(mat, mat.T, rtol=0.0, atol=1e-12):
        raise ValueError(f"{name} must be symmetric ({name}_ij == {name}_ji)")
    if np.any(np.diag(mat) != 0.0):
        raise ValueError(f"{name} must have a zero diagonal")
    return mat


def zero_temperature_descent(J, spins, rng: np.random.Generator, *, h=0.0, max_sweeps: int = 100):
    """Asynchronous T = 0 dynamics from ``spins`` (±1, shape (N,)) on couplings ``J`` and field ``h``.

    Returns ``(final spins int8, sweeps, converged)``; ``converged`` is False when ``max_sweeps`` ran out.
    """
    finals, sweeps, converged = descend_many(J, np.asarray(spins).reshape(1, -1), rng, h=h, max_sweeps=max_sweeps)
    return finals[0], int(sweeps[0]), bool(converged[0])


def descend_many(J, starts, rng: np.random.Generator, *, h=0.0, max_sweeps: int = 100):
    """:func:`zero_temperature_descent` from each row of ``starts`` (k, N), J checked once.

    Returns ``(finals (k, N) int8, sweeps (k,), converged (k,) bool)``.
    """
    mat = check_dense_couplings(J)
    require_count("max_sweeps", max_sweeps)
    n = mat.shape[0]
    starts = np.asarray(starts)
    if starts.ndim != 2 or starts.shape[1] != n:
        raise ValueError(f"spins must have shape ({n},) or (k, {n}), got shape {starts.shape}")
    fld = np.broadcast_to(np.asarray(h, dtype=np.float64), (n,)).copy()
    finals = np.empty(starts.shape, dtype=np.int8)
    sweeps, converged = np.empty(len(starts), dtype=np.int64), np.empty(len(starts), dtype=bool)
    state = rng_state(rng)
    for k, start in enumerate(starts):
        s = initial_spin_state(n, start).spins.copy()
        sweeps[k], converged[k] = descent_sweeps(s, mat, local_fields(mat, fld, s), int(max_sweeps), state)
        finals[k] = s
    return finals, sweeps, converged


@dataclass(frozen=True, eq=False)
class DenseHeatBathKernel:
    """Random-site heat bath on the dense matrix of ``couplings``: one step = ``sweeps`` × N updates.

    ``step_stat`` is the number of spins flipped in the last step.
    """

    couplings: IsingCouplings
    sweeps: int = 1
    step_stat = "flips"

    def __post_init__(self):
        require_couplings(self.couplings)
        require_count("sweeps", self.sweeps)
        object.__setattr__(self, "_K", np.ascontiguousarray(self.couplings.dense_matrix()))
        object.__setattr__(self, "_h", np.ascontiguousarray(self.couplings.field, dtype=np.float64))

    @property
    def n_spins(self) -> int:
        return self.couplings.n_spins

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState:
        return initial_spin_state(self.n_spins, spins, rng)

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        return sweep_step(self, rng, state)

    def advance(self, rng, buf, n_steps) -> float:
        """``n_steps`` steps on ``buf`` (ghost-padded, in place); returns the last step's number of flips."""
        spins = buf[:-1]
        fields = local_fields(self._K, self._h, spins)
        state = rng_state(rng)
        flips = 0
        for _ in range(n_steps):
            flips = heat_bath_updates(spins, self._K, fields, self.sweeps * self.n_spins, state)
        return float(flips)

    def local_fields(self, spins) -> np.ndarray:
        """h + K s recomputed from scratch (for checks of the incremental update)."""
        return local_fields(self._K, self._h, np.asarray(spins, dtype=np.int8))

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        return sample_by_steps(self, rng, buf, draws, record_spins)
