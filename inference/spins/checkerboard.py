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
sweeps per numba call and draw their uniforms inside numba (xoshiro256+, state seeded from the
caller's Generator), so a draw costs no Python; the periodic L×L lattice with L even and uniform
K, h gets a specialised kernel without the neighbour table (tested against the general one with
the same uniforms).

``init`` / ``step`` follow the blackjax style: :class:`SpinState` is an immutable NamedTuple;
``step`` copies the spins and sweeps the copy in place.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numba
import numpy as np
import xarray as xr

from .lattice import IsingCouplings, couplings_of, ising_support_reason
from ..records import set_diagnostics
from ..registry import Method, register_method

RULES = ("metropolis", "heat_bath")
_RULE_CODE = {"metropolis": 0, "heat_bath": 1}


class SpinState(NamedTuple):
    """Spins in {-1, +1} (int8, shape (N,)) and the bookkeeping a kernel reports."""

    spins: np.ndarray
    n_updates: int = 0


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
def _edge_observables(spins, edges, n):
    """(Σ over edges of s_i s_j, Σ_i s_i) as integers: the sums every observable here is built from."""
    b = 0
    for e in range(edges.shape[0]):
        b += spins[edges[e, 0]] * spins[edges[e, 1]]
    m = 0
    for i in range(n):
        m += spins[i]
    return b, m


@numba.njit(cache=True)
def spin_observables(spins, edges, n):
    """(bond energy per spin −Σ s_i s_j / N, magnetisation per spin M/N)."""
    b, m = _edge_observables(spins, edges, n)
    return -b / n, m / n


# ----------------------------------------------------------------- batched kernels (in-numba RNG)
# Many sweeps per call with the uniforms drawn inside numba by xoshiro256+ (Blackman & Vigna; the
# top 53 bits make the double). The 4-word state is a uint64 array seeded from the caller's
# numpy Generator (``rng_state(rng)``) and written back on return, so the same seed gives the same
# chain and consecutive calls continue one stream. ``u`` of shape (n_sweeps, N) overrides the
# generator (tests: same uniforms -> same spins as the general kernels); pass ``NO_U`` to draw
# inside. Both paths go through the same update line.
NO_U = np.empty((0, 0))
_TWO_M53 = 2.0 ** -53


def rng_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh xoshiro256+ state (4 uint64 words, not all zero) drawn from ``rng``."""
    st = rng.integers(0, 2 ** 64, size=4, dtype=np.uint64)
    if not st.any():
        st[0] = 1
    return st


@numba.njit(cache=True, inline="always")
def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256+ step: (uniform in [0, 1), new state words)."""
    res = s0 + s3
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    return np.int64(res >> np.uint64(11)) * _TWO_M53, s0, s1, s2, s3


@numba.njit(cache=True)
def uniforms(state, n):
    """``n`` uniforms from the xoshiro256+ ``state`` (advanced in place)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    out = np.empty(n)
    for k in range(n):
        out[k], s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out


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
                        x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
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
                    u[t, r * L + c], s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
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
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
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
            b, m = _edge_observables(spins, edges, n)
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

    def __post_init__(self):
        if not isinstance(self.couplings, IsingCouplings):
            raise ValueError("couplings must be an IsingCouplings record")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if isinstance(self.sweeps, bool) or not isinstance(self.sweeps, (int, np.integer)) or self.sweeps < 1:
            raise ValueError(f"sweeps must be an integer >= 1, got {self.sweeps!r}")
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
        n = self.n_spins
        if spins is None:
            rng = np.random.default_rng(rng)
            spins = 2 * rng.integers(0, 2, size=n, dtype=np.int8) - 1
        spins = np.asarray(spins).reshape(-1)
        if spins.shape != (n,) or not np.all(np.abs(spins) == 1):
            raise ValueError(f"spins must have shape ({n},) with values in {{-1, +1}}")
        return SpinState(spins.astype(np.int8), 0)

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
        buf = _with_ghost(state.spins)
        self._advance(rng, buf, 1)
        return SpinState(buf[:-1].copy(), state.n_updates + self.sweeps * self.n_spins)

    def sample(self, rng, state, draws, *, record_spins=False, thin=1):
        """Run ``draws`` steps; returns (state, observables dict, spins array or None)."""
        return _run_blocks(self, rng, state, draws, record_spins)

    # used by _run_blocks and the free-energy estimators
    def _advance(self, rng, buf, n_steps, hist=None):
        """``n_steps`` steps in one numba call; numba's generator is seeded from ``rng`` (reproducible)."""
        state = rng_state(rng)
        n_sweeps = n_steps * self.sweeps
        if self._square:
            square_sweeps(buf, self._L, self._table, n_sweeps, NO_U, state,
                          np.zeros((2, 9), dtype=np.int64) if hist is None else hist)
        else:
            general_sweeps(buf, self._nbr, self._w, self.couplings.field, self._table_arr, self._table is not None,
                           self._order, self._starts, n_sweeps, NO_U, state, _RULE_CODE[self.rule])
        return None

    def _sample_batch(self, rng, buf, draws, record_spins):
        """``draws`` steps with E/N, M/N (and spins) recorded inside numba: (energy, mag, spins or None)."""
        n = self.n_spins
        energy, mag = np.empty(draws), np.empty(draws)
        spins_out = np.empty((draws if record_spins else 0, n), dtype=np.int8)
        sample_draws(buf, self._square, self._L, self._nbr, self._w, self.couplings.field, self._table_arr,
                     self._table is not None, self._order, self._starts, _RULE_CODE[self.rule],
                     self.couplings.edges, draws, self.sweeps, rng_state(rng), energy, mag, spins_out)
        return energy, mag, (spins_out if record_spins else None)


def _with_ghost(spins):
    buf = np.zeros(len(spins) + 1, dtype=np.int8)
    buf[:-1] = spins
    return buf


def site_up_probability(couplings: IsingCouplings, rule: str, spins, i: int) -> float:
    """The compiled P(s_i' = +1 | s) the sweep kernels use (for tests and transition matrices)."""
    nbr, w = couplings.neighbour_table
    return float(site_up_probability_kernel(_with_ghost(np.asarray(spins, dtype=np.int8)), nbr, w,
                                            couplings.field, int(i), _RULE_CODE[rule]))


def _run_blocks(kernel, rng, state, draws, record_spins, stats_name=None):
    """Shared driver: ``draws`` steps, observables after each, optional spins and per-step stats."""
    n = kernel.n_spins
    edges = kernel.couplings.edges
    buf = _with_ghost(state.spins)
    energy = np.empty(draws)
    mag = np.empty(draws)
    spins_out = np.empty((draws, n), dtype=np.int8) if record_spins else None
    stats = np.empty(draws) if stats_name else None
    if stats_name is None and hasattr(kernel, "_sample_batch"):
        energy, mag, spins_out = kernel._sample_batch(rng, buf, draws, record_spins)
        obs = {"energy": energy, "magnetisation": mag, "abs_magnetisation": np.abs(mag),
               "magnetisation_sq": mag ** 2}
        new_state = SpinState(buf[:-1].copy(), state.n_updates + draws * kernel.sweeps * n)
        return new_state, obs, spins_out
    for t in range(draws):
        out = kernel._advance(rng, buf, 1)
        energy[t], mag[t] = spin_observables(buf, edges, n)
        if record_spins:
            spins_out[t] = buf[:-1]
        if stats_name:
            stats[t] = out
    obs = {"energy": energy, "magnetisation": mag, "abs_magnetisation": np.abs(mag),
           "magnetisation_sq": mag ** 2}
    if stats_name:
        obs[stats_name] = stats
    new_state = SpinState(buf[:-1].copy(), state.n_updates + draws * getattr(kernel, "sweeps", 1) * n)
    return new_state, obs, spins_out


# ----------------------------------------------------------------- fit() integration
OBSERVABLES = ("energy", "abs_magnetisation", "magnetisation_sq", "magnetisation")


def run_spin_kernel(make_kernel: Callable[[IsingCouplings], object], model, *, draws, tune, chains, seed,
                    progress=False, record_spins=None, method_name="", sweeps_per_draw=1.0,
                    stats_name=None, **unused) -> xr.DataTree:
    r"""Run ``chains`` independent chains of ``make_kernel(couplings)`` and build the result DataTree.

    Posterior: per-draw E/N (bond energy), M/N, |M|/N, (M/N)² and, for small runs, the spins.
    Diagnostics (ArviZ): R-hat, bulk/tail ESS, MCSE, integrated autocorrelation time
    :math:`\tau_\mathrm{int} = n_\mathrm{draws}/\mathrm{ESS}` (in draws and in sweeps) from ArviZ's
    mean-ESS. This is the "2τ" convention, :math:`1 + 2\sum_{t\ge1}\rho_t` (τ = 1 for independent
    draws, Var(mean) = τ σ²/n); the physics literature's :math:`\tfrac12 + \sum_t\rho_t` (Sokal;
    e.g. ≈ 11, 46, 156 sweeps for single-spin Metropolis |M| at L = 16/32/64) is half of it and is
    reported as ``tau_int_half_*`` (= n/(2 ESS)). Also the
    specific heat :math:`c = K^2 N\,\mathrm{Var}(E/N)` and susceptibility
    :math:`\chi = N\,\mathrm{Var}(|M|/N)` with standard errors from the MCSE of the sd.
    """
    if unused:
        raise ValueError(f"unknown options for {method_name}: {sorted(unused)}")
    found = couplings_of(model)
    if found is None:
        raise ValueError(ising_support_reason(model))
    couplings, _ = found
    kernel = make_kernel(couplings)
    n = couplings.n_spins
    if record_spins is None:
        record_spins = n * draws * chains <= 4_000_000
    rngs = np.random.default_rng(seed).spawn(chains)
    per_chain, spins_all = [], []
    for c in range(chains):
        t_chain = time.perf_counter()
        state = kernel.init(rng=rngs[c])
        if tune:
            state, _, _ = _run_blocks(kernel, rngs[c], state, tune, False, stats_name)
        state, obs, spins = _run_blocks(kernel, rngs[c], state, draws, record_spins, stats_name)
        per_chain.append(obs)
        spins_all.append(spins)
        if progress:
            print(f"[{method_name}] chain {c + 1}/{chains}: {tune} tune + {draws} draws, N = {n}, "
                  f"{time.perf_counter() - t_chain:.2f} s", file=sys.stderr, flush=True)
    post = {k: (("chain", "draw"), np.stack([o[k] for o in per_chain])) for k in OBSERVABLES}
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    if record_spins:
        post["spins"] = (("chain", "draw", "site"), np.stack(spins_all))
        coords["site"] = np.arange(n)
    posterior = xr.Dataset(post, coords=coords)
    stats = {}
    if stats_name:
        stats[stats_name] = (("chain", "draw"), np.stack([o[stats_name] for o in per_chain]))
    sample_stats = xr.Dataset(stats, coords={"chain": coords["chain"], "draw": coords["draw"]})
    dt = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": sample_stats})
    dt.attrs.update({"n_spins": n, "sweeps_per_draw": float(sweeps_per_draw), "kernel": method_name})
    set_diagnostics(dt, spin_diagnostics(posterior, couplings, sweeps_per_draw))
    return dt


def spin_diagnostics(posterior: xr.Dataset, couplings: IsingCouplings, sweeps_per_draw: float) -> dict:
    """ESS / R-hat / MCSE (arviz_stats) of the per-draw observables, τ_int, c and χ with errors."""
    import arviz_stats as azs

    obs = posterior[["energy", "abs_magnetisation", "magnetisation_sq"]]
    n_total = obs.sizes["chain"] * obs.sizes["draw"]
    ess_bulk = azs.ess(obs, method="bulk")
    ess_tail = azs.ess(obs, method="tail")
    ess_mean = azs.ess(obs, method="mean")
    mcse_mean = azs.mcse(obs, method="mean")
    mcse_sd = azs.mcse(obs, method="sd")
    multi = obs.sizes["chain"] > 1
    rhat = azs.rhat(obs) if multi else None
    out: dict = {
        "min_ess_bulk": float(min(ess_bulk[v].item() for v in obs.data_vars)),
        "min_ess_tail": float(min(ess_tail[v].item() for v in obs.data_vars)),
        "max_rhat": float(max(rhat[v].item() for v in obs.data_vars)) if multi else float("nan"),
        "divergences": 0,
        "sweeps_per_draw": float(sweeps_per_draw),
    }
    for v in obs.data_vars:
        out[f"mean_{v}"] = float(obs[v].mean())
        out[f"mcse_{v}"] = float(mcse_mean[v].item())
        out[f"ess_{v}"] = float(ess_mean[v].item())
        tau = n_total / float(ess_mean[v].item())
        out[f"tau_int_{v}"] = tau
        out[f"tau_int_sweeps_{v}"] = tau * sweeps_per_draw
        out[f"tau_int_half_sweeps_{v}"] = 0.5 * tau * sweeps_per_draw  # ½ + Σρ convention
    n = couplings.n_spins
    K = couplings.uniform_coupling or 0.0
    sd_e, sd_m = float(obs["energy"].std()), float(obs["abs_magnetisation"].std())
    out["specific_heat_per_spin"] = K * K * n * sd_e ** 2
    out["specific_heat_per_spin_se"] = K * K * n * 2 * sd_e * float(mcse_sd["energy"].item())
    out["susceptibility"] = n * sd_m ** 2
    out["susceptibility_se"] = n * 2 * sd_m * float(mcse_sd["abs_magnetisation"].item())
    return out


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


# ----------------------------------------------------------------- PyMC step method
def _make_pymc_step():

    from pymc.model import modelcontext
    from pymc.step_methods.compound import BlockedStep, Competence, StepMethodState
    from pymc.step_methods.state import dataclass_state
    from pymc.util import get_random_generator

    @dataclass_state
    class SpinStepState(StepMethodState):
        pass

    class _SpinStep(BlockedStep):
        """Base of physml's PyMC steps: update the model's spin indicators with a compiled kernel."""

        name = "physml_spin_step"
        stats_dtypes_shapes = {"energy": (np.float64, [])}
        _state_class = SpinStepState

        def __init__(self, vars=None, *, model=None, rng=None, blocked=True, **kernel_options):
            model = modelcontext(model)
            found = couplings_of(model)
            if found is None:
                raise ValueError(ising_support_reason(model))
            couplings, var_name = found
            self.vars = [model.rvs_to_values[model[var_name]]]
            self._var_name = self.vars[0].name
            self.kernel = self._make_kernel(couplings, **kernel_options)
            self.rng = get_random_generator(rng)
            self.blocked = blocked

        def _make_kernel(self, couplings, **options):  # pragma: no cover - abstract
            raise NotImplementedError

        def step(self, point):
            bits = np.asarray(point[self._var_name])
            state = SpinState((2 * bits.astype(np.int8) - 1).reshape(-1), 0)
            state = self.kernel.step(self.rng, state)
            new = dict(point)
            new[self._var_name] = ((state.spins + 1) // 2).astype(bits.dtype).reshape(bits.shape)
            e, _ = spin_observables(_with_ghost(state.spins), self.kernel.couplings.edges, len(state.spins))
            return new, [{"energy": float(e)}]

        def reset_tuning(self):
            return None

        @staticmethod
        def competence(var, has_grad=None):
            return Competence.INCOMPATIBLE

    class CheckerboardStep(_SpinStep):
        """``pm.sample(step=CheckerboardStep(rule="metropolis" | "heat_bath", sweeps=1))`` on a physml Ising model."""

        name = "checkerboard"

        def _make_kernel(self, couplings, rule="metropolis", sweeps=1):
            return CheckerboardKernel(couplings, rule, sweeps)

    return _SpinStep, CheckerboardStep


SpinStepBase, CheckerboardStep = _make_pymc_step()
