r"""Parallel tempering on dense couplings, all in numba: C independent copies × M rungs per call.

For the energy :math:`E(s) = -\tfrac12 s^\top J s - h^\top s` (J symmetric, zero diagonal) each rung k samples
:math:`P_k(s) \propto e^{-\beta_k E(s)}`. One *sweep* of a rung is a sequential Metropolis pass over the sites
with the local fields :math:`f_i = h_i + \sum_j J_{ij} s_j` kept incrementally,

.. math::

    \Delta E_i = 2 s_i f_i, \qquad \text{accept with } \min(1, e^{-\beta_k \Delta E_i}), \qquad
    s_i \to -s_i \;\Rightarrow\; f_j \mathrel{-}= 2 J_{ji} s_i \;\; \forall j \quad (O(N) \text{ per flip}),

then one even/odd pass of neighbour swaps with :math:`\min(1, e^{(\beta_{k+1}-\beta_k)(E_{k+1}-E_k)})`
(only a rung → row index is swapped, the configurations stay in place). Each move leaves
:math:`\prod_k P_k` invariant (Hukushima & Nemoto 1996). Fields and energies are recomputed from scratch at
the start of each call, so rounding does not accumulate over calls.

Per copy the kernel keeps the lowest energy seen at the end of any rung's sweep: a new record is copied and
quenched (greedy single flips with :math:`\Delta E < 0` until none is left, the replica itself untouched), so
the record is a local minimum. With ``measure`` it accumulates per copy, rung and site :math:`\langle s_i\rangle`,
and per rung sums of :math:`E`, and of
:math:`q, q^2, q^4, |q|` for the overlap :math:`q = s^{(0)}\cdot s^{(1)}/N` of copies 0 and 1 at that rung
(two independent replicas of the same sample).

Here: :class:`DenseTemperingState`, :class:`TemperingMeasures`, :func:`dense_tempering_init`, :func:`dense_tempering_run`,
:func:`geometric_ladder`; and :func:`dense_tempering_trace` (the same sweeps, recording per sweep the coldest rung's
energy, the overlap of copies 2a, 2a + 1 there, and round trips hottest → coldest → hottest as in
:func:`physml.inference.spins.parallel_tempering.count_round_trips`) with :class:`TemperingTrace`, and
:func:`dense_metropolis_init` (a one-rung state: single-temperature Metropolis by the same compiled sweeps).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from .dense_heat_bath import check_dense_couplings, local_fields
from .kernel import require_count
from .rng import rng_state, xoshiro_next

N_MOMENTS = 6
"""Accumulated per rung with ``measure``: count, E, q, q², q⁴, |q|."""


class TemperingMeasures(NamedTuple):
    """Means over the sweeps of one call: per rung (M, 5) E, q, q², q⁴, |q| (copies 0 and 1; NaN with one
    copy), and per copy, rung and site ⟨s_i⟩ (C, M, N)."""

    moments: np.ndarray
    site_mean: np.ndarray


class DenseTemperingState(NamedTuple):
    """Spins (C, M, N) int8 by row, ``row[c, k]`` the row at rung k, the ladder β (M,), each copy's record
    energy (C,) and spins (C, N), swap counts per pair (M − 1,), sweeps done, the xoshiro state."""

    spins: np.ndarray
    row: np.ndarray
    betas: np.ndarray
    best_energy: np.ndarray
    best_spins: np.ndarray
    swaps_tried: np.ndarray
    swaps_accepted: np.ndarray
    sweeps: int
    rng: np.ndarray


# ----------------------------------------------------------------- compiled parts
@numba.njit(cache=True, inline="always")
def _flip(spins, J, fields, i):
    d = -2.0 * spins[i]
    spins[i] = -spins[i]
    for j in range(J.shape[0]):
        fields[j] += J[j, i] * d


@numba.njit(cache=True)
def _quench(spins, J, fields):
    """Greedy descent in place: flip any site with 2 s_i f_i < 0 until none; returns the energy change."""
    n, de, changed = J.shape[0], 0.0, True
    while changed:
        changed = False
        for i in range(n):
            d = 2.0 * spins[i] * fields[i]
            if d < -1e-12:
                _flip(spins, J, fields, i)
                de += d
                changed = True
    return de


@numba.njit(cache=True)
def _energy(J, h, spins, fields):
    """E = −½ sᵀ J s − hᵀ s from the fields f = h + J s: −½ Σ s_i (f_i + h_i)."""
    e = 0.0
    for i in range(J.shape[0]):
        e -= 0.5 * spins[i] * (fields[i] + h[i])
    return e


@numba.njit(cache=True)
def _metropolis_sweep(spins, J, fields, beta, st):
    n, de = J.shape[0], 0.0
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for i in range(n):
        d = 2.0 * spins[i] * fields[i]
        accept = d <= 0.0
        if not accept:
            u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            accept = u < math.exp(-beta * d)
        if accept:
            _flip(spins, J, fields, i)
            de += d
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3
    return de


@numba.njit(cache=True)
def _record(spins, J, fields, energy, best_energy, best_spins, c):
    """Copy and quench a configuration below copy c's record."""
    s, f = spins.copy(), fields.copy()
    e = energy + _quench(s, J, f)
    if e < best_energy[c] - 1e-9:
        best_energy[c] = e
        best_spins[c] = s


@numba.njit(cache=True)
def _swap_pass(row, energies, betas, parity, tried, accepted, st):
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for k in range(parity, betas.size - 1, 2):
        tried[k] += 1
        a = (betas[k + 1] - betas[k]) * (energies[row[k + 1]] - energies[row[k]])
        u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        if a >= 0.0 or u < math.exp(a):
            row[k], row[k + 1] = row[k + 1], row[k]
            accepted[k] += 1
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@numba.njit(cache=True)
def _accumulate(spins, row, energies, moments, site_sums):
    c0, c1, n = spins[0], spins[1], spins.shape[2]
    for c in range(spins.shape[0]):
        for k in range(row.shape[1]):
            for i in range(n):
                site_sums[c, k, i] += spins[c, row[c, k], i]
    if spins.shape[0] < 2:
        return
    for k in range(row.shape[1]):
        a, b = row[0, k], row[1, k]
        q = 0.0
        for i in range(n):
            q += c0[a, i] * c1[b, i]
        q /= n
        moments[k, 0] += 1.0
        moments[k, 1] += 0.5 * (energies[0, a] + energies[1, b])
        moments[k, 2] += q
        moments[k, 3] += q * q
        moments[k, 4] += q ** 4
        moments[k, 5] += abs(q)


@numba.njit(cache=True)
def _fields_and_energies(J, h, spins):
    """Local fields (C, M, N) and energies (C, M) of every row, from scratch."""
    n_copies, m = spins.shape[0], spins.shape[1]
    fields = np.empty((n_copies, m, J.shape[0]))
    energies = np.empty((n_copies, m))
    for c in range(n_copies):
        for r in range(m):
            fields[c, r] = local_fields(J, h, spins[c, r])
            energies[c, r] = _energy(J, h, spins[c, r], fields[c, r])
    return fields, energies


@numba.njit(cache=True)
def _copy_step(J, betas, spins, row, fields, energies, best_energy, best_spins, c, parity, tried, accepted, st):
    """One PT step of copy c: a Metropolis sweep at every rung (records kept), then one swap pass."""
    for k in range(betas.size):
        r = row[c, k]
        energies[c, r] += _metropolis_sweep(spins[c, r], J, fields[c, r], betas[k], st)
        if energies[c, r] < best_energy[c] - 1e-9:
            _record(spins[c, r], J, fields[c, r], energies[c, r], best_energy, best_spins, c)
    _swap_pass(row[c], energies[c], betas, parity, tried, accepted, st)


@numba.njit(cache=True)
def _run(J, h, betas, spins, row, best_energy, best_spins, tried, accepted, start, n_sweeps, measure, moments,
         site_sums, st):
    fields, energies = _fields_and_energies(J, h, spins)
    for t in range(n_sweeps):
        for c in range(spins.shape[0]):
            _copy_step(J, betas, spins, row, fields, energies, best_energy, best_spins, c, (start + t) % 2, tried,
                       accepted, st)
        if measure:
            _accumulate(spins, row, energies, moments, site_sums)


# ----------------------------------------------------------------- Python entry points
def geometric_ladder(t_min: float, t_max: float, n_rungs: int) -> np.ndarray:
    """β (increasing) for temperatures spaced geometrically from ``t_max`` down to ``t_min``."""
    if not (math.isfinite(t_min) and math.isfinite(t_max) and 0 < t_min < t_max):
        raise ValueError(f"need 0 < t_min < t_max (finite), got t_min={t_min!r}, t_max={t_max!r}")
    require_count("n_rungs", n_rungs)
    if n_rungs < 2:
        raise ValueError(f"n_rungs must be >= 2, got {n_rungs}")
    return 1.0 / np.geomspace(t_max, t_min, int(n_rungs))


def dense_tempering_init(J, betas, n_copies: int, rng: np.random.Generator) -> DenseTemperingState:
    """Uniformly random spins for ``n_copies`` independent PT chains on the ladder ``betas`` (increasing, > 0)."""
    mat = check_dense_couplings(J)
    b = np.ascontiguousarray(betas, dtype=np.float64).reshape(-1)
    if b.size < 2 or not np.all(np.isfinite(b)) or b[0] <= 0 or np.any(np.diff(b) <= 0):
        raise ValueError(f"betas must be >= 2 strictly increasing finite values > 0, got {betas!r}")
    require_count("n_copies", n_copies)
    n, m = mat.shape[0], b.size
    spins = (2 * rng.integers(0, 2, size=(n_copies, m, n)) - 1).astype(np.int8)
    row = np.tile(np.arange(m, dtype=np.int64), (n_copies, 1))
    return DenseTemperingState(spins, row, b, np.full(n_copies, np.inf), np.zeros((n_copies, n), dtype=np.int8),
                               np.zeros(m - 1, dtype=np.int64), np.zeros(m - 1, dtype=np.int64), 0, rng_state(rng))


def dense_tempering_run(J, state: DenseTemperingState, n_sweeps: int, *, h=0.0,
                        measure: bool = False) -> tuple[DenseTemperingState, TemperingMeasures | None]:
    """``n_sweeps`` PT sweeps of every copy from ``state`` (not modified); returns the new state and, with
    ``measure``, the :class:`TemperingMeasures` of these sweeps."""
    mat = check_dense_couplings(J)
    require_count("n_sweeps", n_sweeps)
    field = np.ascontiguousarray(np.broadcast_to(np.asarray(h, dtype=np.float64), (mat.shape[0],)))
    if not np.all(np.isfinite(field)):
        raise ValueError("h must be finite")
    new = DenseTemperingState(*(np.array(x, copy=True) if isinstance(x, np.ndarray) else x for x in state))
    moments = np.zeros((new.betas.size, N_MOMENTS))
    site_sums = np.zeros(new.spins.shape if measure else (0, 0, 0))
    _run(mat, field, new.betas, new.spins, new.row, new.best_energy, new.best_spins, new.swaps_tried,
         new.swaps_accepted, new.sweeps, int(n_sweeps), bool(measure), moments, site_sums, new.rng)
    new = new._replace(sweeps=new.sweeps + int(n_sweeps))
    if not measure:
        return new, None
    with np.errstate(invalid="ignore"):
        means = moments[:, 1:] / moments[:, :1]
    return new, TemperingMeasures(means, site_sums / n_sweeps)


def swap_acceptance(state: DenseTemperingState) -> np.ndarray:
    """Accepted / tried swaps per neighbour pair (pooled over copies)."""
    return state.swaps_accepted / np.maximum(state.swaps_tried, 1)


# ----------------------------------------------------------------- traced runs (time series, round trips)
class TemperingTrace(NamedTuple):
    """Per sweep of one :func:`dense_tempering_trace` call: the energy at the coldest rung (C, S); every
    ``overlap_every`` sweeps the overlap q of copies 2a and 2a + 1 at the coldest rung (C // 2, S // every);
    the round trips each copy's configurations completed (C,) and the headings to pass to the next call (C, M)."""

    energy: np.ndarray
    overlap: np.ndarray
    round_trips: np.ndarray
    heading: np.ndarray


@numba.njit(cache=True)
def _count_trip(row, heading):
    """Heading +1 after the hottest rung, −1 after the coldest; a −1 arriving at the hottest is a round trip."""
    hot, cold = row[0], row[row.size - 1]
    done = 1 if heading[hot] == -1 else 0
    heading[hot] = 1
    if heading[cold] == 1:
        heading[cold] = -1
    return done


@numba.njit(cache=True)
def _run_traced(J, h, betas, spins, row, best_energy, best_spins, tried, accepted, start, n_sweeps, every, heading,
                energy_out, overlap_out, trips, st):
    n_copies, m, n = spins.shape[0], spins.shape[1], J.shape[0]
    fields, energies = _fields_and_energies(J, h, spins)
    for t in range(n_sweeps):
        for c in range(n_copies):
            _copy_step(J, betas, spins, row, fields, energies, best_energy, best_spins, c, (start + t) % 2, tried,
                       accepted, st)
            if m > 1:
                trips[c] += _count_trip(row[c], heading[c])
            energy_out[c, t] = energies[c, row[c, m - 1]]
        if (t + 1) % every == 0:
            for a in range(n_copies // 2):
                x, y = spins[2 * a, row[2 * a, m - 1]], spins[2 * a + 1, row[2 * a + 1, m - 1]]
                q = 0.0
                for i in range(n):
                    q += x[i] * y[i]
                overlap_out[a, (t + 1) // every - 1] = q / n


def dense_tempering_trace(J, state: DenseTemperingState, n_sweeps: int, *, h=0.0, heading=None,
                          overlap_every: int = 1) -> tuple[DenseTemperingState, TemperingTrace]:
    """The same ``n_sweeps`` as :func:`dense_tempering_run` (same random stream, same new state), recording the
    :class:`TemperingTrace`; ``heading`` (C, M) from the previous call's trace continues the round-trip count
    (None: unknown headings, a trip counts only after a configuration has visited the hottest rung)."""
    mat = check_dense_couplings(J)
    require_count("n_sweeps", n_sweeps)
    require_count("overlap_every", overlap_every)
    field = np.ascontiguousarray(np.broadcast_to(np.asarray(h, dtype=np.float64), (mat.shape[0],)))
    if not np.all(np.isfinite(field)):
        raise ValueError("h must be finite")
    new = DenseTemperingState(*(np.array(x, copy=True) if isinstance(x, np.ndarray) else x for x in state))
    head = np.zeros(new.row.shape, dtype=np.int8) if heading is None else np.array(heading, dtype=np.int8)
    if head.shape != new.row.shape:
        raise ValueError(f"heading must have shape (copies, rungs) = {new.row.shape}, got {head.shape}")
    c, s = new.spins.shape[0], int(n_sweeps)
    trace = TemperingTrace(np.empty((c, s)), np.empty((c // 2, s // int(overlap_every))),
                           np.zeros(c, dtype=np.int64), head)
    _run_traced(mat, field, new.betas, new.spins, new.row, new.best_energy, new.best_spins, new.swaps_tried,
                new.swaps_accepted, new.sweeps, s, int(overlap_every), trace.heading, trace.energy, trace.overlap,
                trace.round_trips, new.rng)
    return new._replace(sweeps=new.sweeps + s), trace


def dense_metropolis_init(J, beta: float, n_copies: int, rng: np.random.Generator) -> DenseTemperingState:
    """``n_copies`` single-temperature chains at ``beta``: a one-rung state, on which :func:`dense_tempering_run`
    and :func:`dense_tempering_trace` do the same compiled Metropolis sweeps as on a ladder, without swaps."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    two = dense_tempering_init(J, [0.5 * beta, beta], n_copies, rng)
    return two._replace(spins=two.spins[:, 1:].copy(), row=two.row[:, :1].copy(), betas=two.betas[1:].copy(),
                        swaps_tried=two.swaps_tried[:0].copy(), swaps_accepted=two.swaps_accepted[:0].copy())
