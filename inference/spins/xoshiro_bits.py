r"""Random bit lanes for multi-spin coding: xoshiro256** words and bit-sliced Bernoulli words (numba).

xoshiro256** (Blackman & Vigna 2018) keeps four 64-bit words; one step outputs
:math:`\operatorname{rotl}(5 s_1, 7) \cdot 9 \bmod 2^{64}` and updates the state as xoshiro256+ does
(:mod:`.rng`). Unlike xoshiro256+, all 64 output bits are of full quality, so every bit of a word can
serve as an independent random bit of one *lane* (bit position b = one site of a packed word).

**Bit-sliced Bernoulli word.** Each lane b needs a bit :math:`x_b = [U_b < q_b]` with
:math:`U_b = 0.u_{b,1}u_{b,2}\ldots` uniform (its binary digits i.i.d. fair bits) and :math:`q_b` one of
two thresholds a, b, both 128-bit fixed-point numbers (:func:`digit_masks`). Comparing digits from the
most significant one, lane b is decided at the first level j where :math:`u_{b,j} \ne q_{b,j}`:
:math:`x_b = 1` if :math:`q_{b,j} = 1` (so :math:`u_{b,j} = 0`), else 0. Level j draws one fresh
xoshiro word whose bit b is :math:`u_{b,j}`, and the loop stops as soon as every requested lane is
decided (about :math:`\log_2 n + 1.3` words for n lanes) or after 128 levels, where a lane whose
digits all equal its threshold's has :math:`U_b \ge q_b`, i.e. 0. So

.. math::

    P(x_b = 1) = q_b \quad\text{exactly, independently over lanes.}

Lanes not requested come back 0; the stopping level depends only on fresh digits, so the decided
lanes stay exact. The multi-spin kernel uses :math:`a = P/2^{64}` and :math:`b = a^2` (exactly, as
:math:`P^2/2^{128}`), :math:`P = \lfloor e^{-4K} 2^{64}\rfloor` (:func:`fixed_point_probability`):
:math:`|a - e^{-4K}| \le 2^{-64} + 2^{-53} e^{-4K}` (truncation to 64 fractional bits, zero when
:math:`e^{-4K} \ge 2^{-11}`, plus the rounding of the exponential to a double).

Here: :func:`xoshiro_star_next`, :func:`bernoulli_word`, :func:`digit_masks`,
:func:`fixed_point_probability`, :func:`lane_bits` (words drawn from a state array, for tests).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_U5 = np.uint64(5)
_U7 = np.uint64(7)
_U9 = np.uint64(9)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U57 = np.uint64(57)
_U19 = np.uint64(19)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@numba.njit(cache=True, inline="always")
def xoshiro_star_next(s0, s1, s2, s3):
    """One xoshiro256** step: (64 random bits, new state words)."""
    x = s1 * _U5
    out = ((x << _U7) | (x >> _U57)) * _U9
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    return out, s0, s1, s2, s3


LEVELS = 128
"""Binary digits compared per lane at most: probabilities are 128-bit fixed-point numbers."""


@numba.njit(cache=True, inline="always")
def bernoulli_word(digits_a, digits_b, lanes_a, lanes_b, s0, s1, s2, s3):
    """Lanes of ``lanes_a`` set with probability ``a``, of ``lanes_b`` with ``b``, others 0; (word, state).

    ``digits_a[j]`` is all ones where binary digit j + 1 of ``a`` is 1, else 0 (:func:`digit_masks`);
    ``lanes_a`` and ``lanes_b`` must not overlap.
    """
    result = _ZERO
    undecided = lanes_a | lanes_b
    j = 0
    while undecided != _ZERO and j < LEVELS:
        u, s0, s1, s2, s3 = xoshiro_star_next(s0, s1, s2, s3)
        p = (lanes_a & digits_a[j]) | (lanes_b & digits_b[j])
        result |= undecided & p & ~u    # digit 0 under p's 1: U < p
        undecided &= ~(u ^ p)           # still equal
        j += 1
    return result, s0, s1, s2, s3


def digit_masks(numerator: int) -> np.ndarray:
    r"""Level masks of the probability :math:`	ext{numerator} / 2^{128}`: entry j all ones iff its digit j + 1 is 1."""
    if not (0 <= numerator < 1 << LEVELS):
        raise ValueError(f"numerator must be in [0, 2**{LEVELS}), got {numerator!r}")
    bits = [(numerator >> (LEVELS - 1 - j)) & 1 for j in range(LEVELS)]
    return np.array([2 ** 64 - 1 if b else 0 for b in bits], dtype=np.uint64)


def fixed_point_probability(p: float) -> int:
    r""":math:`P = \lfloor p\, 2^{64} \rfloor` for p in [0, 1) (exact: scaling a double by 2^64 is exact)."""
    if not (0.0 <= p < 1.0):
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    return int(math.floor(math.ldexp(p, 64)))


@numba.njit(cache=True)
def lane_bits(digits_a, digits_b, lanes_a, lanes_b, state, n_words):
    """``n_words`` words of :func:`bernoulli_word` drawn from ``state`` (advanced in place), for tests."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    out = np.empty(n_words, dtype=np.uint64)
    for k in range(n_words):
        out[k], s0, s1, s2, s3 = bernoulli_word(digits_a, digits_b, lanes_a, lanes_b, s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out
