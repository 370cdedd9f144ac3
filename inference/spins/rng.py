r"""xoshiro256+ uniforms drawn inside numba, seeded from a numpy Generator.

xoshiro256+ (Blackman & Vigna) keeps four 64-bit words :math:`(s_0, s_1, s_2, s_3)`; one step outputs
:math:`s_0 + s_3 \bmod 2^{64}` and updates

.. math::

    t = s_1 \ll 17,\quad s_2 \mathrel{\oplus}= s_0,\quad s_3 \mathrel{\oplus}= s_1,\quad
    s_1 \mathrel{\oplus}= s_2,\quad s_0 \mathrel{\oplus}= s_3,\quad s_2 \mathrel{\oplus}= t,\quad
    s_3 = \operatorname{rotl}(s_3, 45);

the top 53 bits of the output times :math:`2^{-53}` are a uniform double in [0, 1).

Batched spin kernels draw their uniforms with it, so many sweeps cost one numba call. The state is
a uint64 array of 4 words seeded from the caller's ``numpy.random.Generator`` (:func:`rng_state`) and
written back on return, so the same seed gives the same chain and consecutive calls continue one
stream. Here: :func:`rng_state`, :func:`xoshiro_next` (one step, inlined into the sweep kernels),
:func:`uniforms`, and ``NO_U`` (the empty uniforms array that tells a kernel to draw its own).
"""

from __future__ import annotations

import numba
import numpy as np

NO_U = np.empty((0, 0))
"""Pass as ``u`` to a batched kernel: draw the uniforms inside numba instead of reading them."""

TWO_M53 = 2.0 ** -53


def rng_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh xoshiro256+ state (4 uint64 words, not all zero) drawn from ``rng``."""
    st = rng.integers(0, 2 ** 64, size=4, dtype=np.uint64)
    if not st.any():
        st[0] = 1
    return st


@numba.njit(cache=True, inline="always")
def xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256+ step: (uniform in [0, 1), new state words)."""
    res = s0 + s3
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    return np.int64(res >> np.uint64(11)) * TWO_M53, s0, s1, s2, s3


@numba.njit(cache=True)
def uniforms(state, n):
    """``n`` uniforms from the xoshiro256+ ``state`` (advanced in place)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    out = np.empty(n)
    for k in range(n):
        out[k], s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out
