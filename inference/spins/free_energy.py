r"""Free energy −ln Z of Ising models by thermodynamic integration and annealed importance sampling.

Both follow the path :math:`\lambda \in [0, 1]` that scales the couplings, :math:`K_e \to \lambda K_e`,
with the field fixed, from the independent-spin model

.. math::

    \ln Z(0) = \sum_i \ln(2\cosh h_i) \quad (= N\ln 2 \text{ at } h = 0),
    \qquad \frac{d\ln Z}{d\lambda} = \Big\langle \sum_e K_e s_i s_j \Big\rangle_\lambda \equiv \langle B\rangle_\lambda .

**TI**: :math:`\ln Z(1) = \ln Z(0) + \int_0^1 \langle B\rangle_\lambda d\lambda` by composite Simpson on
:math:`4m + 1` equally spaced rungs (``scipy.integrate.simpson``); quadrature error by
Richardson, :math:`|S_h - S_{2h}|/15`; Monte Carlo error :math:`\sqrt{\sum_k w_k^2\,\mathrm{MCSE}_k^2}`
with ArviZ MCSEs. The reported se combines both in quadrature.

**AIS** (Neal 2001) and **BDMC** (Grosse et al. 2015) run on the engine of :mod:`.ais` with a path
supplied here: exact independent draws at λ = 0, weight increments
:math:`(\lambda_t - \lambda_{t-1}) B(s)`, and transitions that leave :math:`P_{\lambda_t}` invariant (the
fast sampler). Forward: :math:`\ln\hat Z = \ln Z(0) + \ln\overline{w}`, a stochastic lower bound of
:math:`\ln Z` (−ln Ẑ errs high). Reverse, from equilibrium spins at λ = 1 (Swendsen–Wang at h = 0,
heat bath otherwise, ``equilibrium_sweeps`` sweeps from a random start, one chain per run): a stochastic
upper bound. The records carry the shared checks of :mod:`.ais` (weight ESS, Pareto k̂, sandwich width).

**Fast path** (periodic L×L, L even, uniform K and h, checkerboard / heat-bath sampler): the
specialised numba kernel runs whole chains per call. TI integrates the Rao–Blackwellised bond sum
:math:`\sum_{i\in A} n_i\tanh(\lambda K n_i + h)` (the conditional expectation given the other
sublattice; exact mean, lower variance, 0 at λ = 0), chains in parallel threads, optionally with
draws allocated over rungs by a pilot's :math:`w_k\,\mathrm{sd}_k\sqrt{\tau_k}`. AIS runs on the
marginal of one sublattice with the other summed out (heat-bath transitions): the path
:math:`f_\lambda(w) = e^{h\sum w}\prod_{i\in B} 2\cosh(\lambda K n_i + h)` on the white spins w, with
:math:`n_i` the white-neighbour sum of black site i. Elsewhere the general kernels and the plain bond
sum are used.

All three are registered as free-energy estimators ``ising_ti`` / ``ising_ais`` / ``ising_bdmc`` for ``fit``,
in their ``fe_tol`` versions (:func:`ti_to_tolerance` ...; :mod:`.adaptive`): with option ``fe_tol`` > 0 nats
they re-run on a growing budget until the error is below it or ``fe_time_cap`` seconds would pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from scipy import integrate, special

from ..evidence.adaptive import Knob, split_details, split_sandwich, with_tolerance
from ..evidence.ais import BDMC_TOLERANCE, ais_record, anneal, bdmc_record
from .checkerboard import CheckerboardKernel, _with_ghost, rng_state, square_sweeps, up_probability_table
from .lattice import IsingCouplings, couplings_of
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

SAMPLERS = ("checkerboard", "heat_bath", "swendsen_wang", "wolff")


@numba.njit(cache=True)
def weighted_bond_sum(spins, edges, weights):
    r""":math:`B(s) = \sum_e K_e s_i s_j`."""
    b = 0.0
    for e in range(edges.shape[0]):
        b += weights[e] * spins[edges[e, 0]] * spins[edges[e, 1]]
    return b


@numba.njit(cache=True)
def _rb_bond_sum(hist, kl, h, n_sweeps):
    r"""Rao–Blackwellised :math:`\sum_{\langle ij\rangle} s_i s_j` from the neighbour-sum histograms of both colours.

    On a bipartite lattice every bond has one end in each colour, so the bond sum is
    :math:`\sum_{i\in A} s_i n_i`; given the other colour, :math:`E[s_i n_i] = n_i\tanh(K n_i + h)`.
    The two colour estimators (each unbiased under stationarity) are averaged, and so are the sweeps.
    """
    tot = 0.0
    for par in range(2):
        for k in range(9):
            if hist[par, k]:
                n = k - 4
                tot += hist[par, k] * n * math.tanh(kl * n + h)
    return tot / (2.0 * n_sweeps)


@numba.njit(cache=True)
def ti_square_chain(spins, L, table, kl, h, n_burn, n_draws, sweeps, state, out):
    """Burn ``n_burn`` steps, then ``n_draws`` steps of ``sweeps`` sweeps storing the RB bond sum of each."""
    hist = np.zeros((2, 9), dtype=np.int64)
    no_u = np.empty((0, 0))
    if n_burn:
        square_sweeps(spins, L, table, n_burn * sweeps, no_u, state, hist)
    for t in range(n_draws):
        hist[:, :] = 0
        square_sweeps(spins, L, table, sweeps, no_u, state, hist)
        out[t] = _rb_bond_sum(hist, kl, h, sweeps)


@numba.njit(cache=True, parallel=True)
def ti_square_chains(spins, L, table, kl, h, n_burn, n_draws, sweeps, states, out):
    """:func:`ti_square_chain` for every chain (row of ``spins``, own xoshiro state row), chains in parallel
    threads; each chain's stream is its own, so the result does not depend on the thread count."""
    for c in numba.prange(spins.shape[0]):
        ti_square_chain(spins[c], L, table, kl, h, n_burn, n_draws, sweeps, states[c], out[c])


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


def fast_square(couplings: IsingCouplings) -> bool:
    """True when the specialised periodic-square kernel and the RB / marginal estimators apply
    (periodic L×L, L even, uniform K and h)."""
    c = couplings
    return bool(c.is_square_lattice and c.boundary == "periodic" and c.shape[0] == c.shape[1]
                and c.shape[0] % 2 == 0 and c.uniform_coupling is not None and c.uniform_field is not None
                and c.neighbour_table[0].shape[1] == 4)


def log_partition_independent(couplings: IsingCouplings) -> float:
    r""":math:`\ln Z(\lambda = 0) = \sum_i \ln 2\cosh h_i`."""
    h = np.abs(couplings.field)
    return float(np.sum(h + np.log1p(np.exp(-2 * h))))


def _kernel(couplings: IsingCouplings, sampler: str, sweeps: int = 1):
    if sampler in ("checkerboard", "heat_bath"):
        return CheckerboardKernel(couplings, "metropolis" if sampler == "checkerboard" else "heat_bath", sweeps)
    if sampler == "swendsen_wang":
        from .swendsen_wang import SwendsenWangKernel
        return SwendsenWangKernel(couplings, sweeps)
    if sampler == "wolff":
        from .wolff import WolffKernel
        return WolffKernel(couplings, max(1, sweeps))
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


def _check_common(couplings, sampler):
    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler in ("swendsen_wang", "wolff") and not couplings.zero_field:
        raise ValueError(f"sampler {sampler!r} needs zero field h = 0")


def _exact_independent_draw(couplings, rng):
    p_up = 0.5 * (1 + np.tanh(couplings.field))
    return np.where(rng.random(couplings.n_spins) < p_up, 1, -1).astype(np.int8)


def _fast_path(couplings, sampler, requested, name: str) -> bool:
    """Whether to use the sublattice (fast square-lattice) path: ``requested`` (None = when possible)."""
    fast = sampler in ("checkerboard", "heat_bath") and fast_square(couplings)
    if requested is None:
        return fast
    if requested and not fast:
        raise ValueError(f"{name} needs a periodic L x L lattice (L even, uniform K and h) and a "
                         "checkerboard / heat_bath sampler")
    return bool(requested)


def thermodynamic_integration(couplings: IsingCouplings, *, n_rungs: int = 33, draws: int = 1000,
                              burn: int = 100, chains: int = 2, sampler: str = "checkerboard", sweeps: int = 1,
                              seed=0, rao_blackwell: bool | None = None, allocate: str = "uniform",
                              pilot_fraction: float = 0.25, return_details: bool = False):
    r"""−ln Z by TI over the coupling scale λ (Simpson on ``n_rungs`` = 4m + 1 rungs), se = quadrature ⊕ MCSE.

    Each rung runs ``chains`` chains of ``burn`` + ``draws`` steps, warm-started from the previous rung.

    On a periodic L×L lattice (L even, uniform K and h) with a checkerboard sampler the fast path
    runs the specialised kernel in numba and, with ``rao_blackwell`` (default there), integrates the
    conditional expectation :math:`\sum_{i\in A} n_i\tanh(\lambda K n_i + h)` of the bond sum
    instead of the bond sum itself (same mean, lower variance; exactly 0 at λ = 0).
    ``allocate="variance"`` spends ``pilot_fraction`` of the draws evenly, then gives the rest to
    rung k in proportion to :math:`w_k\,\mathrm{sd}_k\sqrt{\tau_k}` (Simpson weight × pilot sd ×
    √(n/ESS)), continuing the pilot chains, which minimises the MC variance of the integral for a
    fixed number of sweeps. The MCSEs come from ArviZ on the full per-rung chains either way.
    ``return_details``: ``(record, {"mc_se", "discretisation"})``.
    """
    import arviz_stats as azs

    _check_common(couplings, sampler)
    if not (isinstance(n_rungs, int) and n_rungs >= 5 and (n_rungs - 1) % 4 == 0):
        raise ValueError(f"n_rungs must be an integer 4m + 1 >= 5, got {n_rungs!r}")
    for name, v, lo in (("draws", draws, 10), ("burn", burn, 0), ("chains", chains, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if allocate not in ("uniform", "variance"):
        raise ValueError(f"allocate must be 'uniform' or 'variance', got {allocate!r}")
    if not (0.0 < pilot_fraction <= 1.0):
        raise ValueError(f"pilot_fraction must be in (0, 1], got {pilot_fraction!r}")
    rao_blackwell = _fast_path(couplings, sampler, rao_blackwell, "rao_blackwell")
    if allocate == "variance" and not rao_blackwell:
        raise ValueError("allocate='variance' is implemented for the fast (rao_blackwell) path")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lam = np.linspace(0.0, 1.0, n_rungs)
    w = integrate.simpson(np.eye(n_rungs), x=lam, axis=1)
    if rao_blackwell:
        means, mcses, n_used = _ti_fast(couplings, lam, w, draws, burn, chains, sampler, sweeps, rng, allocate,
                                        pilot_fraction)
        return _ti_record(couplings, lam, w, means, mcses, t0,
                          f"TI over coupling scale, {n_rungs} Simpson rungs x {chains} chains, "
                          f"{n_used} draws in all ({sampler}, Rao-Blackwellised bond sum, {allocate} allocation)",
                          return_details)
    edges, weights = couplings.edges, couplings.weights
    couplings.neighbour_table, couplings.colouring  # noqa: B018 - build once, reused by every rung
    bufs = [_with_ghost(_exact_independent_draw(couplings, rng)) for _ in range(chains)]
    means, mcses = np.empty(n_rungs), np.empty(n_rungs)
    for k, lk in enumerate(lam):
        kern = _kernel(couplings.scaled(lk), sampler, sweeps)
        g = np.empty((chains, draws))
        for c in range(chains):
            if burn:
                kern._advance(rng, bufs[c], burn)
            for t in range(draws):
                kern._advance(rng, bufs[c], 1)
                g[c, t] = weighted_bond_sum(bufs[c], edges, weights)
        means[k] = g.mean()
        mcses[k] = float(azs.mcse(g)) if g.std() > 0 else 0.0
    return _ti_record(couplings, lam, w, means, mcses, t0,
                      f"TI over coupling scale, {n_rungs} Simpson rungs x {chains}x{draws} draws ({sampler})",
                      return_details)


def _ti_record(couplings, lam, w, means, mcses, t0, note, return_details=False):
    integral = integrate.simpson(means, x=lam)
    coarse = integrate.simpson(means[::2], x=lam[::2])
    quad_err = abs(integral - coarse) / 15.0
    mc_se = float(np.sqrt(np.sum((w * mcses) ** 2)))
    log_z = log_partition_independent(couplings) + integral
    rec = FreeEnergy(value=-float(log_z), se=float(math.hypot(mc_se, quad_err)), kind="estimate",
                     estimator="ising_ti", wall_time_s=time.perf_counter() - t0,
                     note=f"{note}; quadrature err {quad_err:.2e}, MCSE {mc_se:.2e}")
    return (rec, {"mc_se": mc_se, "discretisation": quad_err}) if return_details else rec


def _rung_stats(g):
    """(mean, ArviZ MCSE, sd·√τ with τ = n/ESS) of a (chains, draws) series; zeros for a constant one."""
    import arviz_stats as azs

    if not g.std() > 0:
        return float(g.mean()), 0.0, 0.0
    ess = float(azs.ess(g, method="mean"))
    return float(g.mean()), float(azs.mcse(g)), float(g.std() * math.sqrt(g.size / max(ess, 1.0)))


def _ti_fast(couplings, lam, w, draws, burn, chains, sampler, sweeps, rng, allocate, pilot_fraction):
    """Rung-by-rung RB bond sums with the square kernel; optional variance-based second pass."""
    L = couplings.shape[0]
    K, h = couplings.uniform_coupling, couplings.uniform_field
    rule = "metropolis" if sampler == "checkerboard" else "heat_bath"
    n_rungs = len(lam)
    tables = [up_probability_table(lk * K, h, 4, rule) for lk in lam]
    states = np.stack([rng_state(rng) for _ in range(chains)])
    bufs = np.stack([_exact_independent_draw(couplings, rng) for _ in range(chains)])
    n1 = draws if allocate == "uniform" else max(10, int(round(pilot_fraction * draws)))
    series, saved = [], []
    for k, lk in enumerate(lam):
        g = np.empty((chains, n1))
        ti_square_chains(bufs, L, tables[k], lk * K, h, burn, n1, sweeps, states, g)
        series.append(g)
        saved.append(bufs.copy())
    if allocate == "variance":
        a = np.array([abs(w[k]) * _rung_stats(series[k])[2] for k in range(n_rungs)])
        extra_total = max(0, n_rungs * draws - n_rungs * n1)
        extra = np.floor(extra_total * a / a.sum()).astype(int) if a.sum() > 0 else np.zeros(n_rungs, int)
        for k in range(n_rungs):
            if extra[k] == 0:
                continue
            more = np.empty((chains, extra[k]))  # continue each rung's own chains: one long chain per rung
            ti_square_chains(saved[k], L, tables[k], lam[k] * K, h, 0, extra[k], sweeps, states, more)
            series[k] = np.concatenate([series[k], more], axis=1)
    stats = [_rung_stats(g) for g in series]
    means = np.array([st[0] for st in stats]) * K
    mcses = np.array([st[1] for st in stats]) * K
    return means, mcses, int(sum(g.shape[1] for g in series))


class SpinRuns(NamedTuple):
    """Spins of every run (runs, N + 1) int8 with a ghost 0 last, and their bond sums B(s) (None where unused)."""

    spins: np.ndarray
    bond_sum: np.ndarray | None = None


def _bond_sums(couplings, spins):
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
        return self.start_at(np.stack([_with_ghost(_exact_independent_draw(self.couplings, rng)) for _ in range(n)]))

    def log_weight_increment(self, state, beta_from, beta_to):
        return (beta_to - beta_from) * state.bond_sum

    def move(self, state, beta, rng) -> SpinRuns:
        kern = _kernel(self.couplings.scaled(beta), self.sampler, self.sweeps)
        spins = state.spins.copy()
        for buf in spins:
            kern._advance(rng, buf, 1)
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

    def _log_2cosh(self, beta):
        f = beta * self.couplings.uniform_coupling * np.arange(-4, 5) + self.couplings.uniform_field
        return np.logaddexp(f, -f)

    def start_at(self, spins) -> SpinRuns:
        return SpinRuns(spins)

    def sample_base(self, n, rng) -> SpinRuns:
        return SpinRuns(np.stack([_with_ghost(_exact_independent_draw(self.couplings, rng)) for _ in range(n)]))

    def log_weight_increment(self, state, beta_from, beta_to):
        hist = colour0_neighbour_histograms(state.spins, self.couplings.shape[0])
        return hist @ (self._log_2cosh(beta_to) - self._log_2cosh(beta_from))

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
    _check_common(couplings, sampler)
    for name, v, lo in (("n_temps", n_temps, 1), ("n_runs", n_runs, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    lam = _ais_ladder(n_temps, schedule)
    if _fast_path(couplings, sampler, marginal, "marginal"):
        path, moves = SublatticeMarginalPath(couplings, sweeps), "heat_bath, one sublattice summed out"
    else:
        path, moves = CouplingScalePath(couplings, sampler, sweeps), sampler
    return lam, path, f"AIS, {n_temps} {schedule} temperatures x {n_runs} runs ({moves})"


def equilibrium_spins(couplings: IsingCouplings, n: int, rng, *, sweeps: int = 200) -> np.ndarray:
    """``n`` independent chains (random start, ``sweeps`` sweeps each) at the couplings: Swendsen–Wang at
    h = 0, heat bath otherwise; (n, N + 1) int8 with a ghost 0 last (reverse-AIS starts)."""
    if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) or sweeps < 1:
        raise ValueError(f"equilibrium_sweeps must be an integer >= 1, got {sweeps!r}")
    kern = _kernel(couplings, "swendsen_wang" if couplings.zero_field else "heat_bath", 1)
    spins = np.stack([_with_ghost(np.where(rng.random(couplings.n_spins) < 0.5, 1, -1).astype(np.int8))
                      for _ in range(n)])
    for buf in spins:
        kern._advance(rng, buf, sweeps)
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


def simpson_rungs(n: float) -> int:
    """The smallest 4m + 1 >= n (Simpson with Richardson needs 4m + 1 rungs)."""
    return 4 * math.ceil((n - 1) / 4) + 1


#: ``fe_tol`` / ``fe_time_cap`` versions (:mod:`.adaptive`): draws and runs are the Monte Carlo knobs,
#: Simpson rungs (error ∝ n^-4) and AIS temperatures (sandwich width ∝ n^-1) the bias knobs
AIS_KNOBS = (Knob("n_runs", "monte_carlo", 0.5), Knob("n_temps", "bias", 1.0))
ti_to_tolerance = with_tolerance(thermodynamic_integration, (Knob("draws", "monte_carlo", 0.5),
                                                             Knob("n_rungs", "bias", 4.0, simpson_rungs)),
                                 split_details, return_details=True)
ais_to_tolerance = with_tolerance(annealed_importance_sampling, AIS_KNOBS, split_sandwich)
bdmc_to_tolerance = with_tolerance(bidirectional_monte_carlo, AIS_KNOBS, split_sandwich)


def _default_sampler(couplings):
    """The fast RB / marginal path where it applies, else Swendsen–Wang at h = 0, else checkerboard."""
    if fast_square(couplings) or not couplings.zero_field:
        return "checkerboard"
    return "swendsen_wang"


def _on_couplings(name, estimator):
    """The registry entry of ``name``: ``estimator(couplings, seed=..., **options)`` on the model's Ising
    couplings, with the default sampler of :func:`_default_sampler`."""
    def estimate(model, result=None, *, seed=0, **options) -> FreeEnergy:
        found = couplings_of(model)
        if found is None:
            raise ValueError(f"{name} needs a model with Ising couplings (physml.models.ising)")
        options.setdefault("sampler", _default_sampler(found[0]))
        return estimator(found[0], seed=seed, **options)
    return estimate


for _name, _estimator, _description in (
        ("ising_ti", ti_to_tolerance, "thermodynamic integration over the Ising coupling scale"),
        ("ising_ais", ais_to_tolerance, "annealed importance sampling along the Ising coupling scale"),
        ("ising_bdmc", bdmc_to_tolerance,
         "bidirectional Monte Carlo (forward and reverse AIS) sandwich of -ln Z along the Ising coupling scale")):
    register_free_energy(FreeEnergyEstimator(name=_name, estimate=_on_couplings(_name, _estimator), applies_to=("any",),
                                             description=_description))
