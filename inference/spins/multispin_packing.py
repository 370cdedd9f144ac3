r"""Multi-spin packing of one periodic rows×cols Ising lattice: up to 64 sites of one colour per uint64 word.

Layout (one lattice, not 64 replicas). Site (r, c) has colour :math:`(r + c) \bmod 2`; in row r the
sites of one colour form a half-row of :math:`H = \text{cols}/2` sites, numbered
:math:`k = \lfloor c/2 \rfloor`. A half-row is stored in W words of B bits, B the largest divisor of H
not above 64 (B = 64 whenever 128 | cols), with the *strided* map

.. math::

    k = b\,W + j \quad\longleftrightarrow\quad \text{bit } b \text{ of word } j, \qquad
    \texttt{words}[\text{colour}, r, j],

bit set = spin +1. All bits of a word share a colour, so a word is updated in one go by the
checkerboard, and a site's four neighbours (all of the other colour) are, bit for bit,

* up / down: the same word index j in rows r ∓ 1 of the other colour;
* the same half-row index k in row r of the other colour (word j);
* k − 1 when :math:`r + \text{colour}` is even, else k + 1: word j ∓ 1, and across the half-row's
  end (j = 0, resp. j = W − 1) the word W − 1 (resp. 0) rotated by one bit within B bits.

Rows and cols must be even (a proper two-colouring of the torus); a side of 2 counts its double bond
twice, as the edge list of :func:`~.lattice.grid_edges` and Kaufman's solution do. Bits above B stay 0.
Observables are sums over colour-0 words of popcounts of ``s XOR neighbour`` (every bond joins the
two colours): bond sum :math:`\sum_{\langle ij\rangle} s_i s_j = \sum (B - 2\,\mathrm{popcount})`
over the four neighbour words, :math:`M = 2\,\#\{\text{up}\} - N`.

Here: :class:`PackedLayout` (sizes, :func:`packed_layout`), :func:`pack_spins`, :func:`unpack_spins`,
:func:`neighbour_words` (the four neighbour words of one word), :func:`packed_sums`, :func:`popcount`.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

_ONE = np.uint64(1)
_ZERO = np.uint64(0)


class PackedLayout(NamedTuple):
    """rows × cols lattice as ``words[2, rows, n_words]``; ``bits`` per word, ``mask`` = its low ``bits`` set."""

    rows: int
    cols: int
    bits: int
    n_words: int
    mask: np.uint64


def packed_layout(rows: int, cols: int, max_bits: int = 64) -> PackedLayout:
    """The layout above, at most ``max_bits`` (1..64) bits per word (fewer: multi-word half-rows on tiny
    lattices, for tests); ValueError unless rows and cols are even integers ≥ 2."""
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2 or v % 2:
            raise ValueError(f"multi-spin coding needs even lattice sides >= 2 (checkerboard words): {name} = {v!r}")
    if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)) or not 1 <= max_bits <= 64:
        raise ValueError(f"max_bits must be an integer in 1..64, got {max_bits!r}")
    half = int(cols) // 2
    bits = max(b for b in range(1, min(int(max_bits), half) + 1) if half % b == 0)
    mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(2 ** 64 - 1)
    return PackedLayout(int(rows), int(cols), bits, half // bits, mask)


@numba.njit(cache=True, inline="always")
def _rotl(x, bits, mask):
    return ((x << _ONE) | (x >> np.uint64(bits - 1))) & mask


@numba.njit(cache=True, inline="always")
def _rotr(x, bits, mask):
    return ((x >> _ONE) | (x << np.uint64(bits - 1))) & mask


@numba.njit(cache=True, inline="always")
def neighbour_words(other, r, j, rows, n_words, bits, mask, left):
    """The four neighbour words (other colour) of word j in row r; ``left``: the extra one is at k − 1."""
    up = other[r - 1 if r > 0 else rows - 1, j]
    dn = other[r + 1 if r < rows - 1 else 0, j]
    same = other[r, j]
    if left:
        side = other[r, j - 1] if j > 0 else _rotl(other[r, n_words - 1], bits, mask)
    else:
        side = other[r, j + 1] if j < n_words - 1 else _rotr(other[r, 0], bits, mask)
    return up, dn, same, side


@numba.njit(cache=True, inline="always")
def popcount(x):
    """Number of set bits of a uint64 (SWAR)."""
    x = x - ((x >> _ONE) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(cache=True)
def pack_spins(spins, rows, cols, bits, n_words):
    """``words[2, rows, n_words]`` (uint64) from ±1 spins at sites ``r * cols + c``."""
    words = np.zeros((2, rows, n_words), dtype=np.uint64)
    for colour in range(2):
        for r in range(rows):
            base = r * cols + ((r + colour) & 1)  # site of half-row index k: base + 2k, k = b * n_words + j
            for j in range(n_words):
                w = _ZERO
                for b in range(bits):  # branch-free: bit = (s + 1) / 2
                    w |= np.uint64((spins[base + 2 * (b * n_words + j)] + 1) >> 1) << np.uint64(b)
                words[colour, r, j] = w
    return words


@numba.njit(cache=True)
def unpack_spins(words, rows, cols, n_words, out):
    """Write the ±1 spins of ``words`` into ``out[r * cols + c]`` (int8; extra entries untouched)."""
    bits = cols // 2 // n_words
    for colour in range(2):
        for r in range(rows):
            base = r * cols + ((r + colour) & 1)
            for j in range(n_words):
                w = words[colour, r, j]
                for b in range(bits):  # branch-free: s = 2 bit - 1
                    out[base + 2 * (b * n_words + j)] = 2 * np.int8((w >> np.uint64(b)) & _ONE) - 1


@numba.njit(cache=True)
def packed_sums(words, rows, n_words, bits, mask):
    """(bond sum Σ s_i s_j over the edges, magnetisation Σ s_i) from the packed words."""
    bond = 0
    up_count = 0
    a, b = words[0], words[1]
    for r in range(rows):
        left = (r & 1) == 0  # colour 0: the extra horizontal neighbour is at k − 1 on even rows
        for j in range(n_words):
            s = a[r, j]
            n1, n2, n3, n4 = neighbour_words(b, r, j, rows, n_words, bits, mask, left)
            bond += 4 * bits - 2 * (popcount(s ^ n1) + popcount(s ^ n2) + popcount(s ^ n3) + popcount(s ^ n4))
            up_count += popcount(s) + popcount(b[r, j])
    return bond, 2 * up_count - rows * n_words * bits * 2
