r"""Free energy −ln Z of an Ising model by AIS and BDMC along the coupling scale λ.

The engine of :mod:`physml.inference.evidence.ais` runs a path supplied here (on the path of
:mod:`.coupling_scale`): exact independent draws at λ = 0, weight increments
:math:`(\lambda_t - \lambda_{t-1}) B(s)`, and transitions that leave :math:`P_{\lambda_t}` invariant:

.. math:: \ln w = \sum_t (\lambda_t - \lambda_{t-1})\,B(s_t), \qquad
          \ln\hat Z = \ln Z(0) + \ln\overline{w} \quad (E[\ln\hat Z] \le \ln Z).

Forward: a stochastic lower bound of :math:`\ln Z` (−ln Ẑ errs high). Reverse, from equilibrium spins
at λ = 1 (Swendsen–Wang at h = 0, heat bath otherwise, ``equilibrium_sweeps`` sweeps from a random
start, one chain per run): a stochastic upper bound. The records carry the shared checks of the
engine (weight ESS, Pareto k̂, sandwich width).

On a periodic L×L lattice (L even, uniform K and h) AIS runs on the marginal of one sublattice with the
other summed out (heat-bath transitions in numba): the path
:math:`f_\lambda(w) = e^{h\sum w}\prod_{i\in B} 2\cosh(\lambda K n_i + h)` on the white spins w, with
:math:`n_i` the white-neighbour sum of black site i (a Rao–Blackwellised weight of lower variance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from scipy import special

from .checkerboard import square_sweeps, up_probability_table
from .coupling_scale import (check_couplings_and_sampler, exact_independent_spins, kernel_for,
                             log_partition_independent, use_fast_path, weighted_bond_sum)
from .kernel import with_ghost
from .lattice import IsingCouplings
from .rng import rng_state
from ..evidence.ais import BDMC_TOLERANCE, ais_record, anneal, bdmc_record
from ..records import FreeEnergy
from ..special import log_2cosh

__all__ = ["SpinRuns", "CouplingScalePath", "SublatticeMarginalPath", "equilibrium_spins",
           "annealed_importance_sampling", "bidirectional_monte_carlo", "colour0_neighbour_histograms",
           "square_sweeps_runs"]


@numba.njit(cache=True)
def colour0_neighbour_histograms(spins_runs, L):
    """(runs, 9) counts of the neighbour sums n + 4 at the colour-0 sites ((r + c) even) of each run:
    every neighbour of a colour-0 site has colour 1, so this is a function of the colour-1 spins."""
    out = np.zeros((spins_runs.shape[0], 9), dtype=np.int64)
    for k in range(spins_runs.shape[0]):
        s = spins_runs[k]
        for r in range(L):
            row, up, dn = r * L, ((r - 1 + L) % L) * L, ((r + 1) % L) * L
            for c in range(r & 1, L, 2):
                left = row + (c - 1 if c > 0 else L - 1)
                right = row + (c + 1 if c < L - 1 else 0)
                out[k, s[up + c] + s[dn + c] + s[left] + s[right] + 4] += 1
    return out


@numba.njit(cache=True)
def square_sweeps_runs(spins_runs, L, table, n_sweeps, state):
    """:func:`square_sweeps` on every run (row of ``spins_runs``) in turn, one xoshiro stream."""
    hist = np.zeros((2, 9), dtype=np.int64)
    no_u = np.empty((0, 0))
    for k in range(spins_runs.shape[0]):
        square_sweeps(spins_runs[k], L, table, n_sweeps, no_u, state, hist)


class SpinRuns(NamedTuple):
    """Spins of every run (runs, N + 1) int8 with a ghost 0 last, and their bond sums B(s) (None where unused)."""

    spins: np.ndarray
    bond_sum: np.ndarray | None = None


def _bond_sums(couplings, spins):
    """B(s) of every run (row of ``spins``)."""
    return np.array([weighted_bond_sum(s, couplings.edges, couplings.weights) for s in spins])


@dataclass(frozen=True, eq=False)
class CouplingScalePath:
    r""":math:`f_\lambda(s) = e^{\lambda B(s) + h\cdot s}`: exact independent spins at λ = 0,
    ``sampler`` moves (``sweeps`` per temperature) at the scaled couplings."""

    couplings: IsingCouplings
    sampler: str = "checkerboard"
    sweeps: int = 1

    @property
    def log_z_base(self) -> float:
        return log_partition_independent(self.couplings)

    def start_at(self, spins) -> SpinRuns:
        return SpinRuns(spins, _bond_sums(self.couplings, spins))

    def sample_base(self, n, rng) -> SpinRuns:
        return self.start_at(np.stack([with_ghost(exact_independent_spins(self.couplings, rng)) for _ in range(n)]))

    def log_weight_increment(self, state, beta_from, beta_to):
        return (beta_to - beta_from) * state.bond_sum

    def move(self, state, beta, rng) -> SpinRuns:
        kern = kernel_for(self.couplings.scaled(beta), self.sampler, self.sweeps)
        spins = state.spins.copy()
        for buf in spins:
            kern.advance(rng, buf, 1)
        return self.start_at(spins)


@dataclass(frozen=True, eq=False)
class SublatticeMarginalPath:
    r"""Colour 0 summed out: :math:`f_\lambda(w) = e^{h\sum w}\prod_{i \in 0} 2\cosh(\lambda K n_i + h)`
    on the colour-1 spins w (periodic L×L, L even, uniform K, h); a move is ``sweeps`` heat-bath sweeps
    (colour 0 drawn given w, then w given colour 0), which leaves the marginal invariant."""

    couplings: IsingCouplings
    sweeps: int = 1

    @property
    def log_z_base(self) -> float:
        return log_partition_independent(self.couplings)

    def _log_2cosh_field(self, beta):
        """ln 2cosh(beta K n + h) for the neighbour sums n = -4..4."""
        return log_2cosh(beta * self.couplings.uniform_coupling * np.arange(-4, 5) + self.couplings.uniform_field)

    def start_at(self, spins) -> SpinRuns:
        return SpinRuns(spins)

    def sample_base(self, n, rng) -> SpinRuns:
        return SpinRuns(np.stack([with_ghost(exact_independent_spins(self.couplings, rng)) for _ in range(n)]))

    def log_weight_increment(self, state, beta_from, beta_to):
        hist = colour0_neighbour_histograms(state.spins, self.couplings.shape[0])
        return hist @ (self._log_2cosh_field(beta_to) - self._log_2cosh_field(beta_from))

    def move(self, state, beta, rng) -> SpinRuns:
        c = self.couplings
        spins = state.spins.copy()
        square_sweeps_runs(spins, c.shape[0], up_probability_table(beta * c.uniform_coupling, c.uniform_field, 4,
                                                                   "heat_bath"), self.sweeps, rng_state(rng))
        return SpinRuns(spins)


def _ais_ladder(n_temps, schedule):
    if schedule == "linear":
        return np.linspace(0.0, 1.0, n_temps + 1)
    if schedule == "sigmoid":
        x = special.expit(np.linspace(-4, 4, n_temps + 1))
        return (x - x[0]) / (x[-1] - x[0])
    raise ValueError(f"schedule must be 'linear' or 'sigmoid', got {schedule!r}")


def _ais_setup(couplings, n_temps, n_runs, sampler, sweeps, schedule, marginal):
    """Validated (ladder, path, description) shared by AIS and BDMC."""
    check_couplings_and_sampler(couplings, sampler)
    for name, v, lo in (("n_temps", n_temps, 1), ("n_runs", n_runs, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    lam = _ais_ladder(n_temps, schedule)
    if use_fast_path(couplings, sampler, marginal, "marginal"):
        path, moves = SublatticeMarginalPath(couplings, sweeps), "heat_bath, one sublattice summed out"
    else:
        path, moves = CouplingScalePath(couplings, sampler, sweeps), sampler
    return lam, path, f"AIS, {n_temps} {schedule} temperatures x {n_runs} runs ({moves})"


def equilibrium_spins(couplings: IsingCouplings, n: int, rng, *, sweeps: int = 200) -> np.ndarray:
    """``n`` independent chains (random start, ``sweeps`` sweeps each) at the couplings: Swendsen–Wang at
    h = 0, heat bath otherwise; (n, N + 1) int8 with a ghost 0 last (reverse-AIS starts)."""
    if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) or sweeps < 1:
        raise ValueError(f"equilibrium_sweeps must be an integer >= 1, got {sweeps!r}")
    kern = kernel_for(couplings, "swendsen_wang" if couplings.zero_field else "heat_bath", 1)
    spins = np.stack([with_ghost(np.where(rng.random(couplings.n_spins) < 0.5, 1, -1).astype(np.int8))
                      for _ in range(n)])
    for buf in spins:
        kern.advance(rng, buf, sweeps)
    return spins


def _ais_passes(couplings, *, n_temps, n_runs, sampler, sweeps, schedule, seed, marginal, reverse,
                equilibrium_sweeps):
    """(forward AISResult, reverse AISResult or None, description) along the coupling scale."""
    lam, path, desc = _ais_setup(couplings, n_temps, n_runs, sampler, sweeps, schedule, marginal)
    seed_fwd, seed_rev = np.random.SeedSequence(seed).spawn(2)
    fwd = anneal(path, lam, n_runs, seed_fwd)
    if not reverse:
        return fwd, None, desc
    rng = np.random.default_rng(seed_rev)
    starts = path.start_at(equilibrium_spins(couplings, n_runs, rng, sweeps=equilibrium_sweeps))
    rev = anneal(path, lam[::-1], n_runs, rng, start=starts)
    eq = "Swendsen-Wang" if couplings.zero_field else "heat-bath (approximate: slow to equilibrate)"
    return fwd, rev, f"{desc}; reverse from {n_runs} chains of {equilibrium_sweeps} {eq} sweeps at lambda = 1"


def annealed_importance_sampling(couplings: IsingCouplings, *, n_temps: int = 1000, n_runs: int = 32,
                                 sampler: str = "checkerboard", sweeps: int = 1, schedule: str = "linear",
                                 seed=0, return_log_weights: bool = False, marginal: bool | None = None,
                                 reverse_check: bool = True, equilibrium_sweeps: int = 200,
                                 tolerance: float = BDMC_TOLERANCE):
    r"""−ln Z by forward AIS along λ ∈ [0, 1] with ``n_temps`` transitions per run and ``n_runs`` runs.

    ``schedule``: ``"linear"`` in λ, or ``"sigmoid"`` (denser where λ is mid-range). se of
    :math:`\ln\hat Z` by the delta method, :math:`\mathrm{sd}(w)/(\bar w\sqrt{n})`. The record is
    flagged ``unreliable:`` by the weight checks of :mod:`.ais` and, with ``reverse_check`` (default),
    by the sandwich with a reverse pass from :func:`equilibrium_spins` (stored in the record; flagged
    when wider than ``tolerance`` nats). :func:`bidirectional_monte_carlo` reports the sandwich's midpoint.

    ``marginal`` (default on a periodic L×L lattice, L even, uniform K and h, with a checkerboard
    sampler): AIS on the marginal of one sublattice with the other summed out exactly
    (:class:`SublatticeMarginalPath`, heat-bath transitions in numba), a Rao–Blackwellised weight of
    lower variance.
    """
    t0 = time.perf_counter()
    fwd, rev, desc = _ais_passes(couplings, n_temps=n_temps, n_runs=n_runs, sampler=sampler, sweeps=sweeps,
                                 schedule=schedule, seed=seed, marginal=marginal, reverse=reverse_check,
                                 equilibrium_sweeps=equilibrium_sweeps)
    rec = ais_record(fwd, estimator="ising_ais", note=desc, reverse=rev, tolerance=tolerance,
                     wall_time_s=time.perf_counter() - t0)
    return (rec, fwd.log_weights) if return_log_weights else rec


def bidirectional_monte_carlo(couplings: IsingCouplings, *, n_temps: int = 1000, n_runs: int = 32,
                              sampler: str = "checkerboard", sweeps: int = 1, schedule: str = "linear", seed=0,
                              marginal: bool | None = None, equilibrium_sweeps: int = 200,
                              tolerance: float = BDMC_TOLERANCE) -> FreeEnergy:
    """BDMC sandwich of −ln Z (estimator ``ising_bdmc``; value its midpoint): forward AIS as
    :func:`annealed_importance_sampling` and reverse AIS along the same ladder from
    :func:`equilibrium_spins` (``equilibrium_sweeps`` Swendsen–Wang sweeps at h = 0; heat-bath sweeps
    with a field, which equilibrate more slowly). Flagged ``unreliable:`` when the sandwich is wider
    than ``tolerance`` nats or the weights fail."""
    t0 = time.perf_counter()
    fwd, rev, desc = _ais_passes(couplings, n_temps=n_temps, n_runs=n_runs, sampler=sampler, sweeps=sweeps,
                                 schedule=schedule, seed=seed, marginal=marginal, reverse=True,
                                 equilibrium_sweeps=equilibrium_sweeps)
    return bdmc_record(fwd, rev, estimator="ising_bdmc", note=desc, tolerance=tolerance,
                       wall_time_s=time.perf_counter() - t0)
