r"""Majority-rule block spins (Kadanoff's block-spin transformation) on periodic square lattices.

A b×b block of spins becomes one spin, the sign of its sum,

.. math::

    s'_I = \operatorname{sign}\Big(\sum_{i\in I} s_i\Big),

with a tie (sum 0, only for even b) broken by a fair coin. A configuration of shape (..., L, L) becomes one of
shape (..., L/b, L/b); b must divide L. The nearest-neighbour field :math:`h_i = \sum_{j\sim i} s_j` (periodic)
is what the pseudo-likelihood of a blocked configuration uses.
"""

from __future__ import annotations

import numpy as np


def majority_rule(spins, b: int, rng: np.random.Generator) -> np.ndarray:
    """Block spins of ``spins`` (..., L, L) in {−1, +1} with b×b blocks; ties broken at random with ``rng``."""
    spins = np.asarray(spins)
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 2:
        raise ValueError(f"b must be an integer >= 2, got {b!r}")
    if spins.ndim < 2 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (..., L, L), got {spins.shape}")
    L = spins.shape[-1]
    if L % b:
        raise ValueError(f"b = {b} must divide L = {L}")
    lead = spins.shape[:-2]
    blocks = spins.reshape(*lead, L // b, b, L // b, b).sum(axis=(-3, -1))
    out = np.sign(blocks).astype(np.int8)
    ties = out == 0
    out[ties] = 2 * rng.integers(0, 2, size=int(ties.sum()), dtype=np.int8) - 1
    return out


def neighbour_field(spins) -> np.ndarray:
    """h_i = Σ of the 4 periodic nearest neighbours of every site of (..., L, L) spins."""
    s = np.asarray(spins, dtype=np.int64)
    return (np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2))
