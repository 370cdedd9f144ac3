r"""Wolff single-cluster updates for zero-field Ising models (numba).

A cluster grows from a uniformly chosen seed: each neighbour :math:`j` of a cluster site
:math:`i` with :math:`K_{ij} s_i s_j > 0` joins with probability :math:`1 - e^{-2|K_{ij}|}`
(each edge of the multigraph is tested once), and the whole cluster is flipped. The grown
cluster has the distribution of the seed's Fortuin–Kasteleyn cluster, so the kernel satisfies
detailed balance. One step flips a *fixed* number of clusters (a state-dependent number, e.g.
"until N spins flipped", is a stopping time that biases the chain); fit() chooses the number so
a step is about one sweep equivalent and reports τ_int in sweeps from the spins actually flipped.

The compiled kernel uses numba's generator, seeded per step from the caller's
``numpy.random.Generator``, so a step is a pure function of (spins, seed).
:class:`WolffKernel` implements the :class:`~.kernel.SpinKernel` protocol (step statistic: spins
flipped); ``wolff`` is registered as a ``fit()`` method here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .driver import run_blocks, run_spin_kernel, spin_diagnostics
from .kernel import (BatchDraws, SpinState, initial_spin_state, require_count, require_couplings, sample_by_steps,
                     with_ghost)
from .lattice import IsingCouplings, couplings_of, ising_support_reason
from .swendsen_wang import signed_bond_probability
from ..records import set_diagnostics
from ..registry import Method, register_method


@numba.njit(cache=True)
def wolff_cluster(spins, nbr, p_nbr, seed_site, stack, in_cluster):
    """Grow and flip one cluster from ``seed_site`` (numba's generator draws the bond uniforms).

    ``p_nbr[i, k]`` is the signed bond probability of the edge to ``nbr[i, k]`` (ghost entries
    point past the last site). Returns the cluster size; ``in_cluster`` is cleared on return.
    """
    n = in_cluster.shape[0]
    d = nbr.shape[1]
    top = 0
    stack[top] = seed_site
    top += 1
    in_cluster[seed_site] = True
    size = 0
    while top > 0:
        top -= 1
        i = stack[top]
        stack[n + size] = i  # remember members to clear the mask afterwards
        size += 1
        si = spins[i]
        for k in range(d):
            j = nbr[i, k]
            if j >= n or in_cluster[j]:
                continue
            p = p_nbr[i, k]
            if p * si * spins[j] > 0.0 and np.random.random() < abs(p):
                in_cluster[j] = True
                stack[top] = j
                top += 1
        spins[i] = -si  # outside sites keep their sign until they join, so tests stay valid
    for q in range(size):
        in_cluster[stack[n + q]] = False
    return size


@numba.njit(cache=True)
def wolff_clusters(spins, nbr, p_nbr, n_clusters, n_target, seed):
    """Seed numba's generator, then flip ``n_clusters`` clusters, or (``n_clusters`` = 0) clusters
    until ``n_target`` spins have flipped. Returns (clusters, spins flipped).

    Only a *fixed* number of clusters per step leaves the Boltzmann distribution invariant; the
    flip-until-N rule is a state-dependent stopping time and is used only for burn-in/tuning.
    """
    np.random.seed(seed)
    n = nbr.shape[0]
    stack = np.empty(2 * n, dtype=np.int64)
    in_cluster = np.zeros(n, dtype=np.bool_)
    flipped = 0
    clusters = 0
    while (n_clusters > 0 and clusters < n_clusters) or (n_clusters == 0 and flipped < n_target):
        seed_site = np.random.randint(0, n)
        flipped += wolff_cluster(spins, nbr, p_nbr, seed_site, stack, in_cluster)
        clusters += 1
    return clusters, flipped


def neighbour_bond_probabilities(couplings: IsingCouplings) -> tuple[np.ndarray, np.ndarray]:
    """(nbr, p_nbr): the neighbour table with signed bond probabilities (0 on ghost entries)."""
    nbr, w = couplings.neighbour_table
    p = signed_bond_probability(w)
    p[nbr >= couplings.n_spins] = 0.0
    return nbr, p


@dataclass(frozen=True, eq=False)
class WolffKernel:
    """Wolff cluster flips: one step = ``clusters`` single-cluster flips (h = 0 only)."""

    couplings: IsingCouplings
    clusters: int = 1
    step_stat = "flipped"  # SpinKernel: advance() returns the spins flipped

    def __post_init__(self):
        require_couplings(self.couplings)
        if not self.couplings.zero_field:
            raise ValueError("Wolff needs zero field h = 0")
        require_count("clusters", self.clusters)
        nbr, p = neighbour_bond_probabilities(self.couplings)
        object.__setattr__(self, "_nbr", nbr)
        object.__setattr__(self, "_p", p)

    @property
    def n_spins(self):
        return self.couplings.n_spins

    @property
    def sweeps(self) -> int:
        """1: a step counts as one sweep in ``SpinState.n_updates`` of the driver (``step`` counts the flips)."""
        return 1

    def init(self, spins=None, rng=None) -> SpinState:
        return initial_spin_state(self.n_spins, spins, rng)

    def single_cluster(self, buf, seed_site: int, seed: int) -> int:
        """Flip one cluster grown from ``seed_site`` (numba generator seeded with ``seed``)."""
        _seed_numba(seed)
        n = self.n_spins
        return int(wolff_cluster(buf, self._nbr, self._p, seed_site, np.empty(2 * n, dtype=np.int64),
                                 np.zeros(n, dtype=np.bool_)))

    def advance(self, rng, buf, n_steps):
        _, flipped = wolff_clusters(buf, self._nbr, self._p, n_steps * self.clusters, 0,
                                    int(rng.integers(2 ** 31)))
        return flipped

    def burn_in(self, rng, state: SpinState, sweeps: int) -> tuple[SpinState, float]:
        """Flip clusters until ``sweeps × N`` spins have flipped; returns (state, mean cluster size)."""
        buf = with_ghost(state.spins)
        clusters, flipped = wolff_clusters(buf, self._nbr, self._p, 0, max(1, sweeps) * self.n_spins,
                                           int(rng.integers(2 ** 31)))
        return SpinState(buf[:-1].copy(), state.n_updates + flipped), flipped / clusters

    def step(self, rng, state: SpinState) -> SpinState:
        buf = with_ghost(state.spins)
        flipped = self.advance(rng, buf, 1)
        return SpinState(buf[:-1].copy(), state.n_updates + flipped)

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        return sample_by_steps(self, rng, buf, draws, record_spins)

    def sample(self, rng, state, draws, *, record_spins=False):
        return run_blocks(self, rng, state, draws, record_spins)


@numba.njit(cache=True)
def _seed_numba(seed):
    np.random.seed(seed)


def run_wolff(model, *, draws=1000, tune=100, chains=4, seed=0, progress=False, sweeps=1, clusters=None,
              record_spins=None, **options):
    """Wolff chains. ``clusters`` per draw defaults to ≈ ``sweeps`` × N / ⟨cluster size⟩, the mean size
    measured in a pilot burn-in of ``tune`` sweep-equivalents; τ_int is reported in sweeps using the
    measured spins flipped per draw."""
    found = couplings_of(model)
    if found is None:
        raise ValueError(ising_support_reason(model))
    couplings = found[0]
    if clusters is None:
        pilot = WolffKernel(couplings, 1)
        prng = np.random.default_rng([seed, 7])
        _, mean_size = pilot.burn_in(prng, pilot.init(rng=prng), max(tune, 20))
        clusters = max(1, int(round(sweeps * couplings.n_spins / mean_size)))
    dt = run_spin_kernel(lambda c: WolffKernel(c, clusters), model, draws=draws, tune=tune, chains=chains,
                         seed=seed, progress=progress, record_spins=record_spins, method_name="wolff",
                         sweeps_per_draw=1.0, **options)
    spd = float(dt["sample_stats"]["flipped"].mean()) / couplings.n_spins
    dt.attrs["sweeps_per_draw"] = spd
    dt.attrs["clusters_per_draw"] = clusters
    set_diagnostics(dt, spin_diagnostics(dt["posterior"].to_dataset(), couplings, spd))
    return dt


register_method(Method(name="wolff", run=run_wolff, family="mcmc",
                       supports=lambda m: ising_support_reason(m, need_zero_field=True),
                       description="Wolff single-cluster updates (numba) for zero-field Ising models"))

