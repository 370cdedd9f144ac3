r"""Checkerboard Metropolis and heat-bath samplers for Ising models (numba, in-place sweeps).

A sweep visits the colour classes of a proper colouring in turn (the checkerboard on a
bipartite lattice, 3 colours on an odd periodic L). Sites of one colour do not interact, so
their updates are independent and a colour half-sweep is a product of single-site kernels.
Each site draws its new value from

.. math::

    P(s_i' = +1) = \begin{cases}
      \dfrac{1}{1 + e^{-2 f_i}} & \text{heat bath}\\[4pt]
      s_i = +1:\ 1 - \min(1, e^{-2 f_i}),\quad s_i = -1:\ \min(1, e^{2 f_i}) & \text{Metropolis}
    \end{cases}
    \qquad f_i = h_i + \sum_j K_{ij} s_j,

and both satisfy detailed balance with respect to :math:`P(s) \propto e^{\sum K s s + \sum h s}`.
The new spin is ``+1 if u_i < P(s_i' = +1) else -1`` with one uniform per site per sweep, so
the compiled kernel is a pure function of (spins, uniforms). With uniform K and h the local
field takes 2d + 1 values and the probabilities come from a precomputed table.

Batched kernels (:func:`square_sweeps`, :func:`general_sweeps`, :func:`sample_draws`) run many
sweeps per numba call and draw their uniforms inside numba (xoshiro256+ of :mod:`.rng`, state seeded
from the caller's Generator), so a draw costs no Python; the periodic L×L lattice with L even and
uniform K, h gets a specialised kernel without the neighbour table (tested against the general one
with the same uniforms). ``u`` of shape (n_sweeps, N) overrides the generator (tests: same uniforms
-> same spins as the general kernels); pass ``NO_U`` to draw inside. Both paths go through the same
update line.

:class:`CheckerboardKernel` implements the :class:`~.kernel.SpinKernel` protocol; ``checkerboard`` and
``heat_bath`` are registered as ``fit()`` methods here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .driver import run_blocks, run_spin_kernel
from .kernel import (BatchDraws, SpinState, edge_sums, initial_spin_state, require_count, require_couplings,
                     sweep_step, with_ghost)
from .lattice import IsingCouplings, ising_support_reason
from .rng import NO_U, rng_state, xoshiro_next
from ..registry import Method, register_method

RULES = ("metropolis", "heat_bath")
_RULE_CODE = {"metropolis": 0, "heat_bath": 1}


# ----------------------------------------------------------------- compiled kernels
@numba.njit(cache=True, inline="always")
def _p_up_from_field(s, f, rule):
    if rule == 1:
        return 1.0 / (1.0 + math.exp(-2.0 * f))
    x = -2.0 * s * f  # log acceptance ratio of the flip
    p_flip = 1.0 if x >= 0.0 else math.exp(x)
    return 1.0 - p_flip if s > 0 else p_flip


@numba.njit(cache=True)
def site_up_probability_kernel(spins, nbr, w, h, i, rule):
    """P(s_i' = +1 | s) for one site (general couplings); ``spins`` has the ghost entry."""
    f = h[i]
    for k in range(nbr.shape[1]):
        f += w[i, k] * spins[nbr[i, k]]
    return _p_up_from_field(spins[i], f, rule)


@numba.njit(cache=True)
def sweep_general(spins, nbr, w, h, order, starts, u, rule, colours):
    """In-place colour-by-colour sweeps; ``u`` is (n_sweeps, N); ``colours`` lists the colours to visit."""
    d = nbr.shape[1]
    for t in range(u.shape[0]):
        for c in colours:
            for q in range(starts[c], starts[c + 1]):
                i = order[q]
                f = h[i]
                for k in range(d):
                    f += w[i, k] * spins[nbr[i, k]]
                spins[i] = 1 if u[t, i] < _p_up_from_field(spins[i], f, rule) else -1


@numba.njit(cache=True)
def sweep_table(spins, nbr, table, order, starts, u, colours):
    """In-place sweeps for uniform K and h: ``table[(s+1)//2, n + d]`` is P(s' = +1), n = Σ s_nbr."""
    d = nbr.shape[1]
    for t in range(u.shape[0]):
        for c in colours:
            for q in range(starts[c], starts[c + 1]):
                i = order[q]
                n = 0
                for k in range(d):
                    n += spins[nbr[i, k]]
                spins[i] = 1 if u[t, i] < table[(spins[i] + 1) >> 1, n + d] else -1


@numba.njit(cache=True)
def square_sweeps(spins, L, table, n_sweeps, u, state, hist):
    r"""``n_sweeps`` checkerboard sweeps of the periodic L×L square lattice (L even), uniform K and h.

    ``spins`` (int8, length ≥ L², site ``r*L + c``) is updated in place; ``table[(s+1)//2, n+4]``
    is P(s' = +1) for the neighbour sum n. No neighbour table: neighbours come from the row
    arithmetic. Colour 0 ((r + c) even) then colour 1, sites in row-major order within a colour,
    one uniform per visited site. ``hist[colour, n+4]`` accumulates the neighbour sums each colour
    class saw during the sweeps (for Rao–Blackwellised bond sums); pass a (2, 9) int64 array.
    """
    use_u = u.shape[0] > 0
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    x = 0.0
    for t in range(n_sweeps):
        for par in range(2):
            for r in range(L):
                row = r * L
                up = ((r - 1 + L) % L) * L
                dn = ((r + 1) % L) * L
                for c in range((r + par) & 1, L, 2):
                    left = row + (c - 1 if c > 0 else L - 1)
                    right = row + (c + 1 if c < L - 1 else 0)
                    n = spins[up + c] + spins[dn + c] + spins[left] + spins[right] + 4
                    i = row + c
                    p = table[(spins[i] + 1) >> 1, n]
                    if use_u:
                        x = u[t, i]
                    else:
                        x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                    spins[i] = 1 if x < p else -1
                    hist[par, n] += 1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@numba.njit(cache=True)
def square_visit_uniforms(L, n_sweeps, state):
    """The uniforms :func:`square_sweeps` draws from ``state``, placed at their sites (for tests)."""
    u = np.empty((n_sweeps, L * L))
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for t in range(n_sweeps):
        for par in range(2):
            for r in range(L):
                for c in range((r + par) & 1, L, 2):
                    u[t, r * L + c], s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return u


@numba.njit(cache=True)
def general_sweeps(spins, nbr, w, h, table, use_table, order, starts, n_sweeps, u, state, rule):
    """Colour-by-colour sweeps on any graph (ghost-padded neighbour table); in-numba RNG unless ``u`` given."""
    d = nbr.shape[1]
    use_u = u.shape[0] > 0
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    x = 0.0
    for t in range(n_sweeps):
        for c in range(starts.shape[0] - 1):
            for q in range(starts[c], starts[c + 1]):
                i = order[q]
                if use_table:
                    n = 0
                    for k in range(d):
                        n += spins[nbr[i, k]]
                    p = table[(spins[i] + 1) >> 1, n + d]
                else:
                    f = h[i]
                    for k in range(d):
                        f += w[i, k] * spins[nbr[i, k]]
                    p = _p_up_from_field(spins[i], f, rule)
                if use_u:
                    x = u[t, i]
                else:
                    x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                spins[i] = 1 if x < p else -1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@numba.njit(cache=True)
def square_observables(spins, L):
    """(bond sum Σ s_i s_j, magnetisation Σ s_i) of the periodic square lattice."""
    b = 0
    m = 0
    for r in range(L):
        row = r * L
        dn = ((r + 1) % L) * L
        for c in range(L):
            s = spins[row + c]
            b += s * (spins[row + (c + 1 if c < L - 1 else 0)] + spins[dn + c])
            m += s
    return b, m


@numba.njit(cache=True)
def sample_draws(spins, square, L, nbr, w, h, table, use_table, order, starts, rule, edges, n_draws,
                 sweeps_per_draw, state, energy, mag, spins_out):
    """``n_draws`` × ``sweeps_per_draw`` sweeps storing E/N and M/N after each draw (and the spins when
    ``spins_out`` has ``n_draws`` rows): a draw costs no Python."""
    n = L * L if square else nbr.shape[0]
    hist = np.zeros((2, 9), dtype=np.int64)
    no_u = np.empty((0, 0))
    record = spins_out.shape[0] == n_draws
    for t in range(n_draws):
        if square:
            square_sweeps(spins, L, table, sweeps_per_draw, no_u, state, hist)
            b, m = square_observables(spins, L)
        else:
            general_sweeps(spins, nbr, w, h, table, use_table, order, starts, sweeps_per_draw, no_u, state, rule)
            b, m = edge_sums(spins, edges, n)
        energy[t] = -b / n
        mag[t] = m / n
        if record:
            for i in range(n):
                spins_out[t, i] = spins[i]


def up_probability_table(K: float, h: float, degree: int, rule: str) -> np.ndarray:
    """(2, 2d + 1) table of P(s' = +1) for s ∈ {−1, +1} and neighbour sums −d … d."""
    code = _RULE_CODE[rule]
    table = np.empty((2, 2 * degree + 1))
    for a, s in enumerate((-1, 1)):
        for j, n in enumerate(range(-degree, degree + 1)):
            table[a, j] = _p_up_from_field(s, h + K * n, code)
    return table


# ----------------------------------------------------------------- kernel object
@dataclass(frozen=True, eq=False)
class CheckerboardKernel:
    """Colour-by-colour single-site updates: ``rule`` ∈ {"metropolis", "heat_bath"}, ``sweeps`` ≥ 1 per step."""

    couplings: IsingCouplings
    rule: str = "metropolis"
    sweeps: int = 1
    step_stat = None  # SpinKernel: advance() returns nothing to record

    def __post_init__(self):
        require_couplings(self.couplings)
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        require_count("sweeps", self.sweeps)
        c = self.couplings
        nbr, w = c.neighbour_table
        order, starts = c.colouring
        object.__setattr__(self, "_nbr", nbr)
        object.__setattr__(self, "_w", w)
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_all_colours", np.arange(len(starts) - 1, dtype=np.int64))
        table = None
        if c.uniform_coupling is not None and c.uniform_field is not None:
            table = up_probability_table(c.uniform_coupling, c.uniform_field, nbr.shape[1], self.rule)
        object.__setattr__(self, "_table", table)
        shape = c.shape
        square = (table is not None and c.is_square_lattice and c.boundary == "periodic" and shape[0] == shape[1]
                  and shape[0] % 2 == 0 and nbr.shape[1] == 4)
        object.__setattr__(self, "_square", bool(square))
        object.__setattr__(self, "_L", int(shape[0]) if square else 0)
        # numba wants concrete arrays in every slot, used or not
        object.__setattr__(self, "_table_arr", table if table is not None else np.zeros((2, 2 * nbr.shape[1] + 1)))

    @property
    def n_spins(self) -> int:
        return self.couplings.n_spins

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState:
        """State from given spins (±1), or uniformly random spins drawn with ``rng``."""
        return initial_spin_state(self.n_spins, spins, rng)

    @property
    def specialised(self) -> bool:
        """True when the periodic-square kernel (no neighbour table) runs this lattice."""
        return self._square

    def sweep_inplace(self, buf: np.ndarray, u: np.ndarray, colours: np.ndarray | None = None) -> None:
        """Sweep ``buf`` (int8, length N + 1, ghost last = 0) in place with uniforms ``u`` (n_sweeps, N)."""
        u = np.ascontiguousarray(u, dtype=np.float64)
        if colours is None and self._square:
            square_sweeps(buf, self._L, self._table, u.shape[0], u, np.zeros(4, dtype=np.uint64),
                          np.zeros((2, 9), dtype=np.int64))
            return
        colours = self._all_colours if colours is None else np.asarray(colours, dtype=np.int64)
        if self._table is not None:
            sweep_table(buf, self._nbr, self._table, self._order, self._starts, u, colours)
        else:
            sweep_general(buf, self._nbr, self._w, self.couplings.field, self._order, self._starts, u,
                          _RULE_CODE[self.rule], colours)

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        """One step = ``sweeps`` full sweeps; returns a new state (the input is not modified)."""
        return sweep_step(self, rng, state)

    def sample(self, rng, state, draws, *, record_spins=False):
        """Run ``draws`` steps; returns (state, observables dict, spins array or None)."""
        return run_blocks(self, rng, state, draws, record_spins)

    def advance(self, rng, buf, n_steps, hist=None):
        """``n_steps`` steps in one numba call; numba's generator is seeded from ``rng`` (reproducible).

        On the specialised square lattice ``hist`` ((2, 9) int64) accumulates the neighbour sums
        each colour saw (see :func:`square_sweeps`).
        """
        state = rng_state(rng)
        n_sweeps = n_steps * self.sweeps
        if self._square:
            square_sweeps(buf, self._L, self._table, n_sweeps, NO_U, state,
                          np.zeros((2, 9), dtype=np.int64) if hist is None else hist)
        else:
            general_sweeps(buf, self._nbr, self._w, self.couplings.field, self._table_arr, self._table is not None,
                           self._order, self._starts, n_sweeps, NO_U, state, _RULE_CODE[self.rule])
        return None

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        """``draws`` steps with E/N, M/N (and spins) recorded inside numba."""
        n = self.n_spins
        energy, mag = np.empty(draws), np.empty(draws)
        spins_out = np.empty((draws if record_spins else 0, n), dtype=np.int8)
        sample_draws(buf, self._square, self._L, self._nbr, self._w, self.couplings.field, self._table_arr,
                     self._table is not None, self._order, self._starts, _RULE_CODE[self.rule],
                     self.couplings.edges, draws, self.sweeps, rng_state(rng), energy, mag, spins_out)
        return BatchDraws(energy, mag, spins_out if record_spins else None, None)


def site_up_probability(couplings: IsingCouplings, rule: str, spins, i: int) -> float:
    """The compiled P(s_i' = +1 | s) the sweep kernels use (for tests and transition matrices)."""
    nbr, w = couplings.neighbour_table
    return float(site_up_probability_kernel(with_ghost(np.asarray(spins, dtype=np.int8)), nbr, w,
                                            couplings.field, int(i), _RULE_CODE[rule]))


# ----------------------------------------------------------------- fit() integration
def _run_rule(rule):
    def run(model, *, draws=1000, tune=200, chains=4, seed=0, progress=False, sweeps=1, record_spins=None,
            **options):
        return run_spin_kernel(lambda c: CheckerboardKernel(c, rule, sweeps), model, draws=draws, tune=tune,
                               chains=chains, seed=seed, progress=progress, record_spins=record_spins,
                               method_name=rule if rule == "heat_bath" else "checkerboard",
                               sweeps_per_draw=sweeps, **options)
    return run


run_checkerboard = _run_rule("metropolis")
run_heat_bath = _run_rule("heat_bath")

register_method(Method(name="checkerboard", run=run_checkerboard, family="mcmc", supports=ising_support_reason,
                       description="checkerboard Metropolis sweeps (numba) for Ising models"))
register_method(Method(name="heat_bath", run=run_heat_bath, family="mcmc", supports=ising_support_reason,
                       description="checkerboard heat-bath (Gibbs) sweeps (numba) for Ising models"))
