r"""Swendsen–Wang cluster updates for zero-field Ising models (numba).

Fortuin–Kasteleyn: on every edge with :math:`K_e s_i s_j > 0` a bond is placed with
probability :math:`p_e = 1 - e^{-2|K_e|}`; every connected cluster of bonds is then flipped
with probability 1/2. One step = one SW sweep. The joint (spin, bond) measure is stationary,
and the SW kernel satisfies detailed balance with respect to :math:`P(s) \propto e^{\sum K s s}`.
Only ``h = 0`` is supported (a field would need a cluster-level heat-bath flip).

The compiled kernel is a pure function of (spins, uniforms): one uniform per edge for the bonds
and one per site for the flip of the cluster whose union–find root is that site.
:class:`SwendsenWangKernel` implements the :class:`~.kernel.SpinKernel` protocol (step statistic: the
number of clusters); ``swendsen_wang`` is registered as a ``fit()`` method here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .driver import run_blocks, run_spin_kernel
from .kernel import (BatchDraws, SpinState, initial_spin_state, require_count, require_couplings, sample_by_steps,
                     sweep_step)
from .lattice import IsingCouplings, ising_support_reason
from ..registry import Method, register_method


@numba.njit(cache=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=True)
def swendsen_wang_sweep(spins, edges, p_bond, u_bond, u_flip, parent):
    """In place: bonds by ``u_bond < p_bond`` on satisfied edges, then flip a cluster if ``u_flip[root] < 1/2``.

    Returns the number of clusters.
    """
    n = u_flip.shape[0]
    for i in range(n):
        parent[i] = i
    for e in range(edges.shape[0]):
        i = edges[e, 0]
        j = edges[e, 1]
        if p_bond[e] * spins[i] * spins[j] > 0.0 and u_bond[e] < abs(p_bond[e]):
            ri = _find(parent, i)
            rj = _find(parent, j)
            if ri != rj:
                parent[ri] = rj
    n_clusters = 0
    for i in range(n):
        r = _find(parent, i)
        if r == i:
            n_clusters += 1
        if u_flip[r] < 0.5:
            spins[i] = -spins[i]
    return n_clusters


def signed_bond_probability(k: np.ndarray) -> np.ndarray:
    r"""Fortuin–Kasteleyn :math:`\operatorname{sign}(K)(1 - e^{-2|K|})` per coupling (Swendsen–Wang and Wolff)."""
    return np.sign(k) * -np.expm1(-2.0 * np.abs(k))


def bond_probabilities(couplings: IsingCouplings) -> np.ndarray:
    r"""Signed :math:`p_e = \operatorname{sign}(K_e)(1 - e^{-2|K_e|})`: a bond needs :math:`\operatorname{sign}(K_e) s_i s_j = +1`."""
    return signed_bond_probability(couplings.weights)


@dataclass(frozen=True, eq=False)
class SwendsenWangKernel:
    """Swendsen–Wang sweeps (``sweeps`` ≥ 1 per step) for couplings with zero field."""

    couplings: IsingCouplings
    sweeps: int = 1
    step_stat = "n_clusters"  # SpinKernel: advance() returns the last sweep's cluster count

    def __post_init__(self):
        require_couplings(self.couplings)
        if not self.couplings.zero_field:
            raise ValueError("Swendsen-Wang needs zero field h = 0")
        require_count("sweeps", self.sweeps)
        object.__setattr__(self, "_p", bond_probabilities(self.couplings))
        object.__setattr__(self, "_parent", np.empty(self.couplings.n_spins, dtype=np.int64))

    @property
    def n_spins(self):
        return self.couplings.n_spins

    def init(self, spins=None, rng=None) -> SpinState:
        return initial_spin_state(self.n_spins, spins, rng)

    def sweep_inplace(self, buf, u_bond, u_flip) -> int:
        return int(swendsen_wang_sweep(buf, self.couplings.edges, self._p, u_bond, u_flip, self._parent))

    def advance(self, rng, buf, n_steps):
        nc = 0
        for _ in range(n_steps * self.sweeps):
            nc = self.sweep_inplace(buf, rng.random(self.couplings.n_edges), rng.random(self.n_spins))
        return nc

    def step(self, rng, state: SpinState) -> SpinState:
        return sweep_step(self, rng, state)

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        return sample_by_steps(self, rng, buf, draws, record_spins)

    def sample(self, rng, state, draws, *, record_spins=False):
        return run_blocks(self, rng, state, draws, record_spins)


def run_swendsen_wang(model, *, draws=1000, tune=100, chains=4, seed=0, progress=False, sweeps=1,
                      record_spins=None, **options):
    return run_spin_kernel(lambda c: SwendsenWangKernel(c, sweeps), model, draws=draws, tune=tune, chains=chains,
                           seed=seed, progress=progress, record_spins=record_spins, method_name="swendsen_wang",
                           sweeps_per_draw=sweeps, **options)


register_method(Method(name="swendsen_wang", run=run_swendsen_wang, family="mcmc",
                       supports=lambda m: ising_support_reason(m, need_zero_field=True),
                       description="Swendsen-Wang cluster sweeps (numba) for zero-field Ising models"))

