r"""Vectorisable scalar maths for the compiled integrators, in float64 or float32 (chosen by argument type).

No libm call (numba has no SVML here, so a libm call would stop LLVM vectorising the loop around it):

* :math:`e^y` for y ≤ 0: :math:`y = n\ln 2 + r`, n = ⌊y/\ln 2 + ½⌋, |r| ≤ ½ ln 2, Taylor of :math:`e^r`
  (degree 12 in float64, relative error < 3e-15 measured; degree 6 in float32, < 5e-7), times :math:`2^n` by adding
  n to the exponent bits. y is clipped at −700 (float64) / −87 (float32), far below any term that counts.
* :math:`\ln u`, u ∈ (0, 1]: u = 2^e m with m ∈ [√½, √2) from the bits, :math:`\ln m = 2\,\mathrm{artanh}\,s`,
  s = (m − 1)/(m + 1), |s| ≤ 0.172 (series to s²¹ / s⁹).
* sin, cos of θ = 2πv − π: series for θ/4 ∈ [−π/4, π/4), then the double angle twice.
* Standard normals by Box–Muller from counter-based SplitMix64 (φ = 0x9E3779B97F4A7C15): pair c uses
  hashes at 2c and 2c + 1 (two 53-bit uniforms) in float64, one hash at c split into two 24-bit uniforms in
  float32. u₁ ∈ (0, 1] so the radius is finite: the float32 normals are truncated at √(2·24 ln 2) = 5.77
  (probability 8e-9 per draw), the float64 ones at 8.57.

Fast-math flags exclude reassociation (nothing here is a reduction), so the written order is kept.
numba's on-disk cache of a caller (``numba_integrators``) is keyed by the caller's file only: after editing this
file, delete ``inference/diffusion/__pycache__/*.nb[ic]`` (or touch the caller) or stale kernels run.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

FASTMATH = {"nnan", "ninf", "nsz", "contract", "arcp", "afn"}
JIT = {"cache": True, "fastmath": FASTMATH, "error_model": "numpy"}  # numpy errors: no branch per division
_INLINE = {"inline": "always", "jit_options": {"fastmath": FASTMATH, "error_model": "numpy"}}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _series(kind: str, n_terms: int, dtype) -> tuple:
    """Coefficients, lowest power first: e^r (Taylor), artanh(s)/s and sin(φ)/φ, cos φ (in s², φ²)."""
    make = {"exp": lambda k: 1.0 / math.factorial(k), "atanh": lambda k: 1.0 / (2 * k + 1),
            "sin": lambda k: (-1) ** k / math.factorial(2 * k + 1), "cos": lambda k: (-1) ** k / math.factorial(2 * k)}
    return tuple(dtype(make[kind](k)) for k in range(n_terms))


#: per dtype: clip, 1/ln 2, ln 2 (high, low), ½, 2π, π, exponent bits (shift, bias, mantissa mask, one), series
_F64 = (np.float64(-700.0), np.float64(1 / math.log(2)), np.float64(0.693145751953125),
        np.float64(math.log(2) - 0.693145751953125), np.float64(0.5), np.float64(2 * math.pi), np.float64(math.pi),
        np.int64(52), np.int64(1023), np.int64(0x000FFFFFFFFFFFFF), np.int64(0x3FF0000000000000),
        np.float64(math.sqrt(2)), _series("exp", 13, np.float64), _series("atanh", 11, np.float64),
        _series("sin", 9, np.float64), _series("cos", 9, np.float64))
_F32 = (np.float32(-87.0), np.float32(1 / math.log(2)), np.float32(0.693145751953125),
        np.float32(math.log(2) - 0.693145751953125), np.float32(0.5), np.float32(2 * math.pi), np.float32(math.pi), np.int32(23), np.int32(127), np.int32(0x007FFFFF),
        np.int32(0x3F800000), np.float32(math.sqrt(2)), _series("exp", 7, np.float32), _series("atanh", 5, np.float32),
        _series("sin", 5, np.float32), _series("cos", 6, np.float32))


def _constants(y):
    if y not in (types.float32, types.float64):
        raise numba.core.errors.TypingError(f"float32 or float64 expected, got {y}")
    return _F32 if y == types.float32 else _F64


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float32 / float64 as int32 / int64."""
    width = x.bitwidth
    return getattr(types, f"int{width}")(x), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.IntType(width))


@intrinsic
def _bits_float(typingctx, b):
    """The float32 / float64 whose bits are the int32 / int64 b."""
    width = b.bitwidth
    kind = ir.FloatType() if width == 32 else ir.DoubleType()
    return getattr(types, f"float{width}")(b), lambda ctx, builder, sig, args: builder.bitcast(args[0], kind)


@numba.njit(fastmath=FASTMATH, error_model="numpy")
def horner(z, coefficients):
    p = coefficients[len(coefficients) - 1]
    for k in range(len(coefficients) - 2, -1, -1):
        p = p * z + coefficients[k]
    return p


def exp_nonpositive(y):
    """e^y for y ≤ 0 in y's precision (module docstring)."""


@overload(exp_nonpositive, **_INLINE)
def _exp_nonpositive(y):
    clip, inv_ln2, ln2_hi, ln2_lo, half, _, _, shift, *_, series, _, _, _ = _constants(y)
    int_type = np.int32 if y == types.float32 else np.int64

    def impl(y):
        y = max(y, clip)
        n = np.floor(y * inv_ln2 + half)
        r = (y - n * ln2_hi) - n * ln2_lo
        return _bits_float(int_type(_float_bits(horner(r, series)) + (int_type(n) << shift)))
    return impl


def log_sincos(u1, u2):
    """(ln u₁, sin θ, cos θ), u₁ ∈ (0, 1], θ = 2π u₂ − π, in the arguments' precision (module docstring)."""


@overload(log_sincos, **_INLINE)
def _log_sincos(u1, u2):
    _, _, ln2_hi, ln2_lo, half, two_pi, pi, shift, bias, mask, one, sqrt2, _, atanh, sin, cos = _constants(u1)
    two, quarter = half * 4, half * half
    float_type, int_type = (np.float32, np.int32) if u1 == types.float32 else (np.float64, np.int64)

    def impl(u1, u2):
        b = _float_bits(u1)
        m = _bits_float(int_type((b & mask) | one))
        e = float_type((b >> shift) - bias)
        big = m > sqrt2
        m = m * half if big else m
        e = e + half + half if big else e
        s = (m - half - half) / (m + half + half)
        log_u = e * ln2_hi + (e * ln2_lo + two * s * horner(s * s, atanh))
        phi = (two_pi * u2 - pi) * quarter
        sn, cs = phi * horner(phi * phi, sin), horner(phi * phi, cos)
        sn, cs = two * sn * cs, (cs - sn) * (cs + sn)
        return log_u, two * sn * cs, (cs - sn) * (cs + sn)
    return impl


@numba.njit(inline="always")
def splitmix(key, c):
    z = key + c * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def uniform_pair(key, c, like):
    """Uniforms (u₁ ∈ (0, 1], u₂ ∈ [0, 1)) of pair counter c, in the precision of ``like``."""


@overload(uniform_pair, **_INLINE)
def _uniform_pair(key, c, like):
    if like == types.float32:
        def impl32(key, c, like):
            h = splitmix(key, c)
            u1 = np.float32((h >> np.uint64(40)) + np.uint64(1)) * np.float32(2.0 ** -24)
            return u1, np.float32((h >> np.uint64(8)) & np.uint64(0xFFFFFF)) * np.float32(2.0 ** -24)
        return impl32

    def impl64(key, c, like):
        c2 = c + c
        u1 = np.float64((splitmix(key, c2) >> np.uint64(11)) + np.uint64(1)) * (2.0 ** -53)
        return u1, np.float64(splitmix(key, c2 + np.uint64(1)) >> np.uint64(11)) * (2.0 ** -53)
    return impl64


@numba.njit(**JIT)
def normal_pairs(key, counter0, stride, n_pairs, out):
    """Standard normals into ``out`` (2, ≥ n_pairs) of float32/64: pair i from counter counter0 + i·stride."""
    first, second = out[0], out[1]
    for i in range(n_pairs):
        u1, u2 = uniform_pair(key, counter0 + np.uint64(i) * stride, first[0])
        log_u, sn, cs = log_sincos(u1, u2)
        radius = np.sqrt(-(log_u + log_u))
        first[i] = radius * cs
        second[i] = radius * sn
