r"""Multi-spin coded checkerboard Metropolis: 64 spins of one lattice per uint64 word (numba).

Scope: the periodic rows×cols square lattice (both sides even) with uniform coupling K > 0 and zero
field, :math:`P(s) \propto \exp(K \sum_{\langle ij\rangle} s_i s_j)`. Packing: up to 64 same-colour
sites of *one* lattice per word (:mod:`.multispin_packing`), so a word is one checkerboard block of
independent single-site updates; each bit lane gets its own random bits (:mod:`.xoshiro_bits`), so
the 64 sites are updated with independent randomness, as in :mod:`.checkerboard` (no replicas, no
shared random numbers, no correlation between sites beyond the Markov chain's own).

**Metropolis by bit logic.** Flipping :math:`s_i` changes the log weight by
:math:`-2K s_i \sum_j s_j = -2K(4 - 2D)`, D = number of neighbours that disagree with :math:`s_i`, so

.. math::

    P_\mathrm{flip} = \min(1, e^{-2K(4-2D)}) =
    \begin{cases} 1 & D \ge 2\\ p & D = 1\\ p^2 & D = 0\end{cases}, \qquad p = e^{-4K}.

With :math:`d_m = s \oplus n_m` (m = 1..4, one bit per lane), a bit-sliced adder gives the masks
:math:`[D \ge 2] = d_1 d_2 \lor d_3 d_4 \lor (d_1 \oplus d_2)(d_3 \oplus d_4)`,
:math:`[D = 0] = \lnot(d_1 \lor d_2 \lor d_3 \lor d_4)`, :math:`[D = 1]` the rest, and

.. math::

    \text{flip} = [D \ge 2] \lor x, \qquad s \leftarrow s \oplus \text{flip},

with x one bit-sliced Bernoulli word (:func:`~.xoshiro_bits.bernoulli_word`): lanes with D = 1 set with
probability p, lanes with D = 0 with :math:`p^2` (both thresholds exact fixed-point numbers: the
precomputed acceptance tables are their binary digits, 128 level masks each), other lanes 0 and not
drawn. This is exact Metropolis for the Boltzmann distribution at the coupling K' with
:math:`e^{-4K'} = \lfloor e^{-4K}2^{64}\rfloor/2^{64}` (so :math:`e^{-8K'}` is its exact square):
:math:`|e^{-4K'} - e^{-4K}| \le 2^{-64} + 2^{-53}e^{-4K}`, i.e. :math:`|K' - K| \lesssim 10^{-16}` for
K ≤ 2 (negligible: below double precision).

A sweep updates colour 0 then colour 1, rows in order, words in order within a row — the same
schedule (and so the same chain law) as :class:`~.checkerboard.CheckerboardKernel`'s Metropolis.
:class:`MultispinKernel` implements the :class:`~.kernel.SpinKernel` protocol (packing on entry,
unpacking on return of each numba call; observables from popcounts); ``multispin`` is registered as a
``fit()`` method here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .driver import run_blocks, run_spin_kernel
from .kernel import BatchDraws, SpinState, initial_spin_state, require_count, require_couplings, sweep_step
from .lattice import IsingCouplings, couplings_of, grid_edges
from .multispin_packing import neighbour_words, pack_spins, packed_layout, packed_sums, unpack_spins
from .rng import rng_state
from .xoshiro_bits import bernoulli_word, digit_masks, fixed_point_probability
from ..registry import Method, register_method


# ----------------------------------------------------------------- compiled kernels
@numba.njit(cache=True)
def multispin_sweeps(words, rows, n_words, bits, mask, digits_p, digits_p2, n_sweeps, state):
    """``n_sweeps`` checkerboard Metropolis sweeps of the packed lattice in place; ``state`` advanced."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for t in range(n_sweeps):
        for colour in range(2):
            mine = words[colour]
            other = words[1 - colour]
            for r in range(rows):
                left = ((r + colour) & 1) == 0
                for j in range(n_words):
                    s = mine[r, j]
                    n1, n2, n3, n4 = neighbour_words(other, r, j, rows, n_words, bits, mask, left)
                    d1, d2, d3, d4 = s ^ n1, s ^ n2, s ^ n3, s ^ n4
                    ge2 = (d1 & d2) | (d3 & d4) | ((d1 ^ d2) & (d3 ^ d4))
                    some = d1 | d2 | d3 | d4
                    eq0 = ~some & mask
                    eq1 = some & ~ge2
                    x, s0, s1, s2, s3 = bernoulli_word(digits_p, digits_p2, eq1, eq0, s0, s1, s2, s3)
                    mine[r, j] = s ^ (ge2 | x)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@numba.njit(cache=True)
def multispin_draws(words, rows, cols, n_words, bits, mask, digits_p, digits_p2, n_draws, sweeps_per_draw, state,
                    energy, mag, spins_out):
    """``n_draws`` × ``sweeps_per_draw`` sweeps storing E/N, M/N after each draw (and the spins when
    ``spins_out`` has ``n_draws`` rows)."""
    n = rows * cols
    record = spins_out.shape[0] == n_draws
    for t in range(n_draws):
        multispin_sweeps(words, rows, n_words, bits, mask, digits_p, digits_p2, sweeps_per_draw, state)
        b, m = packed_sums(words, rows, n_words, bits, mask)
        energy[t] = -b / n
        mag[t] = m / n
        if record:
            unpack_spins(words, rows, cols, n_words, spins_out[t])


# ----------------------------------------------------------------- scope
def multispin_support_reason(couplings) -> str | None:
    """None when multi-spin coding runs ``couplings`` exactly, else why not (periodic grid, even sides, K > 0, h = 0)."""
    if not isinstance(couplings, IsingCouplings):
        return "couplings must be an IsingCouplings record"
    if not couplings.is_square_lattice or couplings.boundary != "periodic":
        return "multi-spin coding needs a periodic rows x cols square lattice"
    rows, cols = (int(v) for v in couplings.shape)
    if rows % 2 or cols % 2:
        return f"multi-spin coding needs even lattice sides (checkerboard words), got rows = {rows}, cols = {cols}"
    if not np.array_equal(couplings.edges, grid_edges(rows, cols, "periodic")):
        return "multi-spin coding needs the nearest-neighbour edges of the periodic grid"
    K = couplings.uniform_coupling
    if K is None or not K > 0:
        return f"multi-spin coding needs a uniform coupling K > 0, got K = {K!r}"
    if not couplings.zero_field:
        return "multi-spin coding needs zero field h = 0"
    return None


def model_support_reason(model) -> str | None:
    """:func:`multispin_support_reason` for a model built by physml.models.ising (the ``fit()`` check)."""
    found = couplings_of(model)
    if found is None:
        return "the model carries no Ising couplings (build it with physml.models.ising)"
    return multispin_support_reason(found[0])


# ----------------------------------------------------------------- kernel object
@dataclass(frozen=True, eq=False)
class MultispinKernel:
    """Multi-spin coded checkerboard Metropolis, ``sweeps`` ≥ 1 sweeps per step (scope: see the module).

    ``max_bits`` (1..64) caps the bits per word; fewer than 64 only to test multi-word rows on tiny lattices.
    """

    couplings: IsingCouplings
    sweeps: int = 1
    max_bits: int = 64
    step_stat = None  # SpinKernel: advance() returns nothing to record

    def __post_init__(self):
        require_couplings(self.couplings)
        reason = multispin_support_reason(self.couplings)
        if reason is not None:
            raise ValueError(f"couplings: {reason}")
        require_count("sweeps", self.sweeps)
        rows, cols = (int(v) for v in self.couplings.shape)
        object.__setattr__(self, "_layout", packed_layout(rows, cols, self.max_bits))
        p_fixed = fixed_point_probability(math.exp(-4.0 * self.couplings.uniform_coupling))
        object.__setattr__(self, "_p_fixed", p_fixed)
        object.__setattr__(self, "_digits", (digit_masks(p_fixed << 64), digit_masks(p_fixed * p_fixed)))

    @property
    def n_spins(self) -> int:
        return self.couplings.n_spins

    @property
    def layout(self):
        """The :class:`~.multispin_packing.PackedLayout` (bits per word, words per half-row)."""
        return self._layout

    @property
    def flip_probability_fixed(self) -> int:
        r"""P = :math:`\lfloor e^{-4K} 2^{64}\rfloor`: flips with D = 1 are accepted with probability
        :math:`P/2^{64}`, with D = 0 with :math:`(P/2^{64})^2`."""
        return self._p_fixed

    @property
    def acceptance_digits(self) -> tuple[np.ndarray, np.ndarray]:
        """The precomputed acceptance tables: 128 level masks each of p and p² (:func:`~.xoshiro_bits.digit_masks`)."""
        return self._digits

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState:
        """State from given spins (±1), or uniformly random spins drawn with ``rng``."""
        return initial_spin_state(self.n_spins, spins, rng)

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        """One step = ``sweeps`` full sweeps; returns a new state (the input is not modified)."""
        return sweep_step(self, rng, state)

    def sample(self, rng, state, draws, *, record_spins=False):
        """Run ``draws`` steps; returns (state, observables dict, spins array or None)."""
        return run_blocks(self, rng, state, draws, record_spins)

    def pack(self, buf) -> np.ndarray:
        """``words[2, rows, n_words]`` of the spins in ``buf`` (the first N entries)."""
        lay = self._layout
        return pack_spins(np.asarray(buf, dtype=np.int8), lay.rows, lay.cols, lay.bits, lay.n_words)

    def advance(self, rng, buf, n_steps):
        """``n_steps`` steps on ``buf`` in place, one numba call (xoshiro256** seeded from ``rng``)."""
        lay = self._layout
        words = self.pack(buf)
        multispin_sweeps(words, lay.rows, lay.n_words, lay.bits, lay.mask, *self.acceptance_digits,
                         n_steps * self.sweeps, rng_state(rng))
        unpack_spins(words, lay.rows, lay.cols, lay.n_words, buf)
        return None

    def sample_batch(self, rng, buf, draws, record_spins) -> BatchDraws:
        """``draws`` steps with E/N, M/N (and spins) recorded inside numba."""
        lay = self._layout
        energy, mag = np.empty(draws), np.empty(draws)
        spins_out = np.empty((draws if record_spins else 0, self.n_spins), dtype=np.int8)
        words = self.pack(buf)
        multispin_draws(words, lay.rows, lay.cols, lay.n_words, lay.bits, lay.mask, *self.acceptance_digits, draws,
                        self.sweeps, rng_state(rng), energy, mag, spins_out)
        unpack_spins(words, lay.rows, lay.cols, lay.n_words, buf)
        return BatchDraws(energy, mag, spins_out if record_spins else None, None)


# ----------------------------------------------------------------- fit() integration
def run_multispin(model, *, draws=1000, tune=200, chains=4, seed=0, progress=False, sweeps=1, record_spins=None,
                  max_bits=64, **options):
    """``fit(model, "multispin")``: chains of :class:`MultispinKernel` through the generic spin driver."""
    return run_spin_kernel(lambda c: MultispinKernel(c, sweeps, max_bits), model, draws=draws, tune=tune, chains=chains,
                           seed=seed, progress=progress, record_spins=record_spins, method_name="multispin",
                           sweeps_per_draw=sweeps, **options)


register_method(Method(name="multispin", run=run_multispin, family="mcmc", supports=model_support_reason,
                       description="multi-spin coded checkerboard Metropolis (64 spins per word, numba) for "
                                   "the periodic square-lattice Ising model at h = 0"))
