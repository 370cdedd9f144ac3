r"""All :math:`2^N` configurations of N binary units, in one fixed order, in blocks of bounded memory.

Configuration :math:`k \in \{0, \dots, 2^N - 1\}` has the bits and spins

.. math::

    b_i(k) = \lfloor k / 2^{p_i} \rfloor \bmod 2, \qquad s_i(k) = 1 - 2\,b_i(k) \in \{+1, -1\},

with :math:`p_i = i` (unit 0 is the least significant bit; the default, physml's spin order: k = 0 is
all spins up) or :math:`p_i = N - 1 - i` (``msb_first``: unit 0 is the most significant bit, so row k of
0/1 patterns has the integer code k read left to right — the pattern codes of RBM visible vectors).

Exact references sum a function over every configuration (:math:`N \le 20` in physml, about
:math:`10^6` rows): :func:`binary_state_blocks` yields them ``block_size`` rows at a time, so memory stays
:math:`O(\text{block\_size}\cdot N)`; :func:`binary_states` / :func:`spin_states` give one range at once.
Arrays are int64; callers cast (``.astype(float)``, ``.astype(np.int8)``) where they need to.
"""

from __future__ import annotations

import numpy as np

__all__ = ["binary_states", "spin_states", "spins_from_bits", "binary_state_blocks"]


def _check_units(n_units) -> int:
    if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 0:
        raise ValueError(f"n_units must be an integer >= 0, got {n_units!r}")
    return int(n_units)


def binary_states(n_units: int, start: int = 0, stop: int | None = None, *, msb_first: bool = False) -> np.ndarray:
    r"""Bits :math:`b_i(k)` of configurations start ≤ k < stop (default all :math:`2^N`), (stop − start, N)."""
    n_units = _check_units(n_units)
    stop = 2 ** n_units if stop is None else stop
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    shifts = np.arange(n_units - 1, -1, -1, dtype=np.int64) if msb_first else np.arange(n_units, dtype=np.int64)
    return (codes >> shifts) & 1


def spins_from_bits(bits) -> np.ndarray:
    r""":math:`s = 1 - 2b`: bit 0 ↦ spin +1, bit 1 ↦ spin −1."""
    return 1 - 2 * bits


def spin_states(n_units: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    r"""Spins :math:`s_i(k) = 1 - 2 b_i(k)` (unit 0 the least significant bit) of configurations start ≤ k < stop."""
    return spins_from_bits(binary_states(n_units, start, stop))


def binary_state_blocks(n_units: int, block_size: int = 1 << 16, *, msb_first: bool = False):
    """Yield :func:`binary_states` of consecutive ranges of ``block_size`` configurations, in order."""
    n_units = _check_units(n_units)
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    total = 2 ** n_units
    for start in range(0, total, block_size):
        yield binary_states(n_units, start, min(start + block_size, total), msb_first=msb_first)
