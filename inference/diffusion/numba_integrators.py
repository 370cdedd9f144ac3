r"""Compiled (numba) reverse SDE and probability-flow ODE for the exact score of an isotropic Gaussian mixture.

Data :math:`p_0 = \sum_k w_k N(m_k, s_k^2 I_d)` under the VP-SDE (``schedule.LinearBetaSchedule``) has the
closed-form marginal :math:`p_t = \sum_k w_k N(\alpha m_k, v_k I)`, :math:`v_k = \alpha^2 s_k^2 + \sigma^2`, and score

.. math:: s(x,t) = \sum_k r_k\,\frac{\alpha m_k - x}{v_k}, \qquad
          r_k \propto w_k\, v_k^{-d/2} \exp\!\Big(-\frac{|x-\alpha m_k|^2}{2v_k}\Big)

(the formulas of ``physml.models.diffusion``; the mixture comes in as arrays: inference imports no model).
The steps are exactly those of ``integrators.py`` (same time grid, same score evaluation times):

* reverse Euler–Maruyama:  x ← x + [½β x + β s(x, t)] h + √(βh) z,  t = 1 − k h;
* probability flow, Heun:  k₁ = v(x, t), k₂ = v(x + h k₁, t + h), x ← x + ½h (k₁ + k₂),  v = −½β (x + s).

Speed: particles are stored as (d, n) rows and processed in blocks of ``BLOCK`` with loops over the block
innermost, so LLVM vectorises them (fastmath). Nothing calls libm inside a block: the softmax uses
:math:`e^y = (e^{y/256})^{256}` (degree-12 Taylor, 8 squarings; y clipped at −64, where e^y < 2e-28 of the
largest term; relative error ≲ 1e-13), and the normals come from Box–Muller with a polynomial log
(:math:`\ln m = 2\,\mathrm{artanh}\,\frac{m-1}{m+1}`, m ∈ [√½, √2)) and a polynomial sin/cos of θ/4 doubled twice.

Random numbers are counter-based: the uniform pair of particle i, coordinate pair j, step k is
SplitMix64(key + c·φ) at counters c = 2·((k·n + i)·⌈d/2⌉ + j) and c + 1 (φ = 0x9E3779B97F4A7C15, key from the
seed), so the same seed gives identical numbers whatever the block size or the machine's vector width.
One thread (no prange).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .schedule import LinearBetaSchedule, check_time

BLOCK = 256
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_M53 = 2.0 ** -53
_LN2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)
_EXP_CLIP = -64.0

#: Taylor / series coefficients, lowest power first
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13))  # e^z, z ∈ [−1/4, 0]
_ATANH = tuple(1.0 / (2 * k + 1) for k in range(11))  # artanh(s)/s in s², |s| ≤ 0.172
_SIN = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(9))  # sin(φ)/φ in φ², |φ| ≤ π/4
_COS = tuple((-1) ** k / math.factorial(2 * k) for k in range(9))  # cos(φ) in φ²
_JIT = {"cache": True, "fastmath": True, "error_model": "numpy"}  # numpy errors: no branch per division


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _horner(z, coefficients):
    p = coefficients[len(coefficients) - 1]
    for k in range(len(coefficients) - 2, -1, -1):
        p = p * z + coefficients[k]
    return p


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _exp_nonpositive(y):
    """e^y for y ≤ 0 (clipped at −64): Taylor of e^{y/256}, squared 8 times."""
    p = _horner(max(y, _EXP_CLIP) * (1.0 / 256.0), _EXP_TAYLOR)
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p * p


@numba.njit(inline="always")
def _splitmix(c):
    z = c
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(**_JIT)
def _normals(key, counter0, stride, n_pairs, u, bits_buf, out):
    """Standard normals into ``out`` (2, n_pairs): pair i from counters counter0 + i·stride and that + 1."""
    for i in range(n_pairs):  # uniforms: u1 ∈ (0, 1] (log), u2 ∈ [0, 1) (angle)
        c = counter0 + np.uint64(i) * stride
        u[0, i] = np.float64((_splitmix(key + c * _GOLDEN) >> np.uint64(11)) + np.uint64(1)) * _TWO_M53
        u[1, i] = np.float64(_splitmix(key + (c + np.uint64(1)) * _GOLDEN) >> np.uint64(11)) * _TWO_M53
    bits = u[0].view(np.int64)
    for i in range(n_pairs):  # u1 = 2^e m, m ∈ [1, 2): exponent and mantissa from the bits
        b = bits[i]
        bits_buf[i] = (b & np.int64(0x000FFFFFFFFFFFFF)) | np.int64(0x3FF0000000000000)
        out[0, i] = np.float64((b >> np.int64(52)) - np.int64(1023))
    mant = bits_buf[:n_pairs].view(np.float64)
    for i in range(n_pairs):
        m, e = mant[i], out[0, i]
        big = 1.0 if m > _SQRT2 else 0.0
        m = m * (1.0 - 0.5 * big)
        e = e + big
        s = (m - 1.0) / (m + 1.0)
        radius = math.sqrt(-2.0 * (e * _LN2 + 2.0 * s * _horner(s * s, _ATANH)))
        phi = (2.0 * math.pi * u[1, i] - math.pi) * 0.25  # θ/4 ∈ [−π/4, π/4)
        sn, cs = phi * _horner(phi * phi, _SIN), _horner(phi * phi, _COS)
        sn, cs = 2.0 * sn * cs, (cs - sn) * (cs + sn)  # double the angle twice
        sn, cs = 2.0 * sn * cs, (cs - sn) * (cs + sn)
        out[0, i] = radius * cs
        out[1, i] = radius * sn


@numba.njit(**_JIT)
def _score_block(x, lo, hi, centres, inv_var, log_coef, logits, work, out):
    """Exact mixture score at particles lo:hi of x (d, n) into out (d, hi − lo); centres (K, d) = α m_k.
    Scratch: logits (K, BLOCK), work (3, BLOCK). Every inner loop runs over the block and writes one array."""
    n_comp, dim, width = centres.shape[0], x.shape[0], hi - lo
    top, total, precision = work[0], work[1], work[2]
    top[:width] = -1e300  # not −inf: fastmath assumes finite values
    for k in range(n_comp):
        row, half_precision = logits[k], 0.5 * inv_var[k]
        row[:width] = log_coef[k]
        for j in range(dim):
            xj, centre = x[j, lo:hi], centres[k, j]
            for i in range(width):
                row[i] -= half_precision * (xj[i] - centre) * (xj[i] - centre)
        for i in range(width):
            top[i] = row[i] if row[i] > top[i] else top[i]
    for k in range(n_comp):
        row = logits[k]
        for i in range(width):
            row[i] = _exp_nonpositive(row[i] - top[i])
    total[:width] = 0.0
    precision[:width] = 0.0
    out[:, :width] = 0.0
    for k in range(n_comp):
        row, precision_k = logits[k], inv_var[k]
        for i in range(width):
            total[i] += row[i]
        for i in range(width):
            precision[i] += precision_k * row[i]
        for j in range(dim):
            outj, pull = out[j], centres[k, j] * precision_k
            for i in range(width):
                outj[i] += pull * row[i]
    for j in range(dim):
        xj, outj = x[j, lo:hi], out[j]
        for i in range(width):
            outj[i] = (outj[i] - xj[i] * precision[i]) / total[i]


@numba.njit(**_JIT)
def _mixture_at(t, beta_min, beta_max, weights, means, variances, centres, inv_var, log_coef):
    """p_t's centres α m_k, 1/v_k and ln w_k − (d/2) ln v_k, written in place; returns β(t)."""
    big_b = beta_min * t + 0.5 * (beta_max - beta_min) * t * t
    alpha = math.exp(-0.5 * big_b)
    sigma2 = -math.expm1(-big_b)
    dim = means.shape[1]
    for k in range(weights.size):
        v = alpha * alpha * variances[k] + sigma2
        inv_var[k] = 1.0 / v
        log_coef[k] = math.log(weights[k]) - 0.5 * dim * math.log(v)
        for j in range(dim):
            centres[k, j] = alpha * means[k, j]
    return beta_min + (beta_max - beta_min) * t


@numba.njit(**_JIT)
def _reverse_sde(x, weights, means, variances, beta_min, beta_max, n_steps, t_end, key):  # long: one step loop
    """Reverse Euler–Maruyama in place on x (d, n) from t = 1 to t_end (module docstring)."""
    dim, n = x.shape
    n_comp, pairs = weights.size, (dim + 1) // 2
    centres, inv_var, log_coef = np.empty((n_comp, dim)), np.empty(n_comp), np.empty(n_comp)
    logits, work, score = np.empty((n_comp, BLOCK)), np.empty((3, BLOCK)), np.empty((dim, BLOCK))
    u, noise, bits = np.empty((2, BLOCK)), np.empty((2, BLOCK)), np.empty(BLOCK, dtype=np.int64)
    h = (1.0 - t_end) / n_steps
    stride = np.uint64(2 * pairs)
    for step in range(n_steps):
        b = _mixture_at(1.0 - step * h, beta_min, beta_max, weights, means, variances, centres, inv_var, log_coef)
        keep, pull, kick = 1.0 + 0.5 * b * h, b * h, math.sqrt(b * h)
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            _score_block(x, lo, hi, centres, inv_var, log_coef, logits, work, score)
            for j in range(dim):
                if j % 2 == 0:
                    first = np.uint64(2) * ((np.uint64(step) * np.uint64(n) + np.uint64(lo)) * np.uint64(pairs)
                                            + np.uint64(j // 2))
                    _normals(key, first, stride, hi - lo, u, bits, noise)
                z = noise[j % 2]
                for i in range(hi - lo):
                    x[j, lo + i] = keep * x[j, lo + i] + pull * score[j, i] + kick * z[i]


@numba.njit(**_JIT)
def _heun_flow(x, weights, means, variances, beta_min, beta_max, n_steps, t0, t1):
    """Heun's method for dx/dt = −½β(x + s) in place on x (d, n) from t0 to t1 (module docstring)."""
    dim, n = x.shape
    n_comp = weights.size
    centres, inv_var, log_coef = np.empty((2, n_comp, dim)), np.empty((2, n_comp)), np.empty((2, n_comp))
    logits, work = np.empty((n_comp, BLOCK)), np.empty((3, BLOCK))
    slope, trial = np.empty((2, dim, BLOCK)), np.empty((dim, BLOCK))
    h = (t1 - t0) / n_steps
    for step in range(n_steps):
        t = t0 + step * h
        b1 = _mixture_at(min(max(t, 0.0), 1.0), beta_min, beta_max, weights, means, variances,
                         centres[0], inv_var[0], log_coef[0])
        b2 = _mixture_at(min(max(t + h, 0.0), 1.0), beta_min, beta_max, weights, means, variances,
                         centres[1], inv_var[1], log_coef[1])
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            _score_block(x, lo, hi, centres[0], inv_var[0], log_coef[0], logits, work, slope[0])
            for j in range(dim):
                for i in range(hi - lo):
                    slope[0, j, i] = -0.5 * b1 * (x[j, lo + i] + slope[0, j, i])
                    trial[j, i] = x[j, lo + i] + h * slope[0, j, i]
            _score_block(trial, 0, hi - lo, centres[1], inv_var[1], log_coef[1], logits, work, slope[1])
            for j in range(dim):
                for i in range(hi - lo):
                    k2 = -0.5 * b2 * (trial[j, i] + slope[1, j, i])
                    x[j, lo + i] = x[j, lo + i] + h * (0.5 * slope[0, j, i] + 0.5 * k2)


def mixture_arrays(weights, means, variances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(weights (K,), means (K, d), variances (K,))`` as float arrays, validated: finite, weights > 0 summing
    to 1, variances > 0; ValueError naming the argument otherwise."""
    w, m, v = (np.ascontiguousarray(a, dtype=float) for a in (weights, means, variances))
    if m.ndim != 2 or m.shape[0] < 1 or w.shape != (m.shape[0],) or v.shape != (m.shape[0],):
        raise ValueError(f"means must be (K, d) with weights and variances (K,), got {m.shape}, {w.shape}, {v.shape}")
    for name, a in (("weights", w), ("means", m), ("variances", v)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    if np.any(w <= 0) or abs(w.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must be > 0 and sum to 1, got sum {w.sum()!r}")
    if np.any(v <= 0):
        raise ValueError("variances must be > 0")
    return w, m, v


def _rows(x, dim: int) -> np.ndarray:
    """Points x (n, d) as a fresh (d, n) C array, checked."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != dim:
        raise ValueError(f"x must be shaped (n >= 1, {dim}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (it holds NaN or inf)")
    return np.ascontiguousarray(x.T)


def _check_steps(n_steps) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


def _check_schedule(schedule) -> LinearBetaSchedule:
    if not isinstance(schedule, LinearBetaSchedule):
        raise ValueError(f"schedule must be a LinearBetaSchedule (β > 0 at both ends), got {schedule!r}")
    return schedule


def mixture_reverse_sde(x1, weights, means, variances, schedule: LinearBetaSchedule, n_steps: int, seed: int, *,
                        t_end: float = 0.0) -> np.ndarray:
    """The reverse SDE (Euler–Maruyama, exact mixture score) from ``x1`` (n, d) at t = 1 down to ``t_end``;
    returns x(t_end) (n, d). ``seed`` (int ≥ 0) keys the counter-based normals: same seed, same numbers."""
    w, m, v = mixture_arrays(weights, means, variances)
    x, n, sch = _rows(x1, m.shape[1]), _check_steps(n_steps), _check_schedule(schedule)
    t_end = float(check_time(t_end, "t_end"))
    if t_end >= 1.0:
        raise ValueError(f"t_end must lie in [0, 1), got {t_end!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    key = np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0]
    _reverse_sde(x, w, m, v, float(sch.beta_min), float(sch.beta_max), n, t_end, key)
    return np.ascontiguousarray(x.T)


def mixture_probability_flow(x, weights, means, variances, schedule: LinearBetaSchedule, n_steps: int, *,
                             t0: float = 1.0, t1: float = 0.0) -> np.ndarray:
    """The probability-flow ODE (Heun, exact mixture score) from ``x`` (n, d) at t0 to t1; returns x(t1)."""
    w, m, v = mixture_arrays(weights, means, variances)
    y, n, sch = _rows(x, m.shape[1]), _check_steps(n_steps), _check_schedule(schedule)
    t0, t1 = float(check_time(t0, "t0")), float(check_time(t1, "t1"))
    _heun_flow(y, w, m, v, float(sch.beta_min), float(sch.beta_max), n, t0, t1)
    return np.ascontiguousarray(y.T)
