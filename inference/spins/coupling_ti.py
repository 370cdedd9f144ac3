r"""Free energy −ln Z of an Ising model by thermodynamic integration over the coupling scale λ.

On the path of :mod:`.coupling_scale`,

.. math:: \ln Z(1) = \ln Z(0) + \int_0^1 \langle B\rangle_\lambda\,d\lambda, \qquad
          \ln Z(0) = \sum_i \ln 2\cosh h_i ,

by composite Simpson on :math:`4m + 1` equally spaced rungs, with the TI core of
:mod:`physml.inference.evidence.thermodynamic_integration` (this module supplies only the rung samplers):
Monte Carlo error :math:`\sqrt{\sum_k w_k^2\,\mathrm{MCSE}_k^2}` (Simpson weights :math:`w_k`, ArviZ
MCSEs), discretisation error by Richardson against Simpson on every other rung,
:math:`\max(|S_h - S_{2h}| - 2\sigma_D, 0)/15` with :math:`\sigma_D` the Monte Carlo noise of the
difference; the se combines both in quadrature.  Each rung runs ``chains`` chains warm-started from
the previous rung.

**Fast path** (periodic L×L, L even, uniform K and h, checkerboard / heat-bath sampler): the
specialised numba kernel runs whole chains per call, chains in parallel threads, and the integrand is
the Rao–Blackwellised bond sum :math:`\sum_{i\in A} n_i\tanh(\lambda K n_i + h)` (the conditional
expectation given the other sublattice; exact mean, lower variance, 0 at λ = 0), optionally with
draws allocated over rungs by a pilot's :math:`w_k\,\mathrm{sd}_k\sqrt{\tau_k}`.  Elsewhere the
general kernels and the plain bond sum are used.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from scipy import integrate

from .checkerboard import square_sweeps, up_probability_table
from .coupling_scale import (check_couplings_and_sampler, exact_independent_spins, kernel_for,
                             log_partition_independent, use_fast_path, weighted_bond_sum)
from .kernel import with_ghost
from .lattice import IsingCouplings
from .rng import rng_state
from ..evidence.thermodynamic_integration import (integrand_on_ladder, ladder_stats, rung_sd_tau, sample_ladder,
                                                  simpson_ladder, simpson_rule)
from ..records import FreeEnergy

__all__ = ["coupling_scale_ti", "ti_square_chain", "ti_square_chains", "SquareLatticeRungs", "KernelRungs"]


@numba.njit(cache=True)
def rao_blackwell_bond_sum(hist, kl, h, n_sweeps):
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
        out[t] = rao_blackwell_bond_sum(hist, kl, h, sweeps)


@numba.njit(cache=True, parallel=True)
def ti_square_chains(spins, L, table, kl, h, n_burn, n_draws, sweeps, states, out):
    """:func:`ti_square_chain` for every chain (row of ``spins``, own xoshiro state row), chains in parallel
    threads; each chain's stream is its own, so the result does not depend on the thread count."""
    for c in numba.prange(spins.shape[0]):
        ti_square_chain(spins[c], L, table, kl, h, n_burn, n_draws, sweeps, states[c], out[c])


class SquareLatticeRungs:
    """Rung sampler of the fast path: ``chains`` chains of the square kernel (one xoshiro stream each), warm-started
    from rung to rung, ``n_draws`` RB bond sums per K (per rung, ``burn`` steps first); :meth:`extend` continues a
    rung's own chains from where they were left."""

    def __init__(self, couplings, lam, n_draws, burn, chains, sampler, sweeps, rng):
        self.L = couplings.shape[0]
        self.K, self.h = couplings.uniform_coupling, couplings.uniform_field
        rule = "metropolis" if sampler == "checkerboard" else "heat_bath"
        self.tables = [up_probability_table(lk * self.K, self.h, 4, rule) for lk in lam]
        self.states = np.stack([rng_state(rng) for _ in range(chains)])
        self.bufs = np.stack([exact_independent_spins(couplings, rng) for _ in range(chains)])
        self.n_draws, self.burn, self.chains, self.sweeps = n_draws, burn, chains, sweeps
        self.saved = []

    def __call__(self, k: int, t: float) -> np.ndarray:
        g = np.empty((self.chains, self.n_draws))
        ti_square_chains(self.bufs, self.L, self.tables[k], t * self.K, self.h, self.burn, self.n_draws, self.sweeps,
                         self.states, g)
        self.saved.append(self.bufs.copy())
        return g

    def extend(self, k: int, t: float, n_more: int) -> np.ndarray:
        """``n_more`` further draws of rung ``k``'s chains (one long chain per rung)."""
        more = np.empty((self.chains, n_more))
        ti_square_chains(self.saved[k], self.L, self.tables[k], t * self.K, self.h, 0, n_more, self.sweeps,
                         self.states, more)
        return more


class KernelRungs:
    """Rung sampler of the general path: ``chains`` chains of ``sampler`` at the scaled couplings, warm-started
    from rung to rung, ``burn`` steps then ``n_draws`` bond sums B(s) per rung."""

    def __init__(self, couplings, n_draws, burn, chains, sampler, sweeps, rng):
        self.couplings, self.sampler, self.sweeps, self.rng = couplings, sampler, sweeps, rng
        self.n_draws, self.burn = n_draws, burn
        couplings.neighbour_table, couplings.colouring  # noqa: B018 - build once, reused by every rung
        self.bufs = [with_ghost(exact_independent_spins(couplings, rng)) for _ in range(chains)]

    def __call__(self, k: int, t: float) -> np.ndarray:
        kern = kernel_for(self.couplings.scaled(t), self.sampler, self.sweeps)
        edges, weights = self.couplings.edges, self.couplings.weights
        g = np.empty((len(self.bufs), self.n_draws))
        for c, buf in enumerate(self.bufs):
            if self.burn:
                kern.advance(self.rng, buf, self.burn)
            for i in range(self.n_draws):
                kern.advance(self.rng, buf, 1)
                g[c, i] = weighted_bond_sum(buf, edges, weights)
        return g


def _check_ti_options(n_rungs, draws, burn, chains, sweeps, allocate, pilot_fraction):
    simpson_ladder(n_rungs)  # validates n_rungs
    for name, v, lo in (("draws", draws, 10), ("burn", burn, 0), ("chains", chains, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if allocate not in ("uniform", "variance"):
        raise ValueError(f"allocate must be 'uniform' or 'variance', got {allocate!r}")
    if not (0.0 < pilot_fraction <= 1.0):
        raise ValueError(f"pilot_fraction must be in (0, 1], got {pilot_fraction!r}")


def coupling_scale_ti(couplings: IsingCouplings, *, n_rungs: int = 33, draws: int = 1000,
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
    check_couplings_and_sampler(couplings, sampler)
    _check_ti_options(n_rungs, draws, burn, chains, sweeps, allocate, pilot_fraction)
    rao_blackwell = use_fast_path(couplings, sampler, rao_blackwell, "rao_blackwell")
    if allocate == "variance" and not rao_blackwell:
        raise ValueError("allocate='variance' is implemented for the fast (rao_blackwell) path")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lam = simpson_ladder(n_rungs)
    if rao_blackwell:
        means, mcses, n_used = _ti_fast(couplings, lam, draws, burn, chains, sampler, sweeps, rng, allocate,
                                        pilot_fraction)
        how = (f"{n_rungs} Simpson rungs x {chains} chains, {n_used} draws in all ({sampler}, Rao-Blackwellised "
               f"bond sum, {allocate} allocation)")
    else:
        st = integrand_on_ladder(lam, KernelRungs(couplings, draws, burn, chains, sampler, sweeps, rng),
                                 variance=False)
        means, mcses = st.means, st.se_means
        how = f"{n_rungs} Simpson rungs x {chains}x{draws} draws ({sampler})"
    integral, mc_se, quad_err = simpson_rule(lam, means, mcses)
    log_z = log_partition_independent(couplings) + integral
    rec = FreeEnergy(value=-float(log_z), se=float(math.hypot(mc_se, quad_err)), kind="estimate",
                     estimator="ising_ti", wall_time_s=time.perf_counter() - t0,
                     note=f"TI over coupling scale, {how}; discretisation err {quad_err:.2e} (Simpson vs "
                          f"every-other-rung Simpson, beyond their Monte Carlo noise band, /15), MCSE {mc_se:.2e}")
    return (rec, {"mc_se": mc_se, "discretisation": quad_err}) if return_details else rec


def _ti_fast(couplings, lam, draws, burn, chains, sampler, sweeps, rng, allocate, pilot_fraction):
    """(means, MCSEs, draws used) of the RB bond sum per rung with the square kernel; optional variance-based
    second pass (``allocate="variance"``)."""
    n1 = draws if allocate == "uniform" else max(10, int(round(pilot_fraction * draws)))
    rungs = SquareLatticeRungs(couplings, lam, n1, burn, chains, sampler, sweeps, rng)
    series = sample_ladder(lam, rungs)
    if allocate == "variance":
        w = integrate.simpson(np.eye(lam.size), x=lam, axis=1)
        a = np.array([abs(w[k]) * rung_sd_tau(series[k]) for k in range(lam.size)])
        extra_total = max(0, lam.size * draws - lam.size * n1)
        extra = np.floor(extra_total * a / a.sum()).astype(int) if a.sum() > 0 else np.zeros(lam.size, int)
        for k in range(lam.size):
            if extra[k]:
                series[k] = np.concatenate([series[k], rungs.extend(k, lam[k], extra[k])], axis=1)
    st = ladder_stats(series, variance=False, scale=couplings.uniform_coupling)
    return st.means, st.se_means, int(sum(g.shape[1] for g in series))
