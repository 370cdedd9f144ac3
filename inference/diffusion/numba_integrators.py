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
innermost, so LLVM vectorises them (fastmath without reassociation; AVX-512 here). Per block and component, one
fused pass (2-D) for the logit :math:`\ell_k = \ln w_k - \tfrac d2\ln v_k - |x-\alpha m_k|^2/(2v_k)` (the
difference first: the expanded :math:`|x|^2 - 2x\cdot\alpha m_k + |\alpha m_k|^2` would cancel badly in float32
for narrow components) and its running max, then one for :math:`e^{\ell_k-\max\ell}` and the sums Σr, Σr/v,
Σr αm/v. Nothing calls libm inside a block: exp, ln, sin and cos are the polynomials of ``numba_math``, the
normals Box–Muller from counter-based SplitMix64 there.

Precision (``dtype=``): "float64" (default) or "float32" for the score and the normals (twice the SIMD lanes,
shorter polynomials); the state x and the Euler–Maruyama / Heun updates stay float64 in both, so rounding does
not accumulate over the steps. The float32 score has relative error ~1e-6 (Heun endpoints, 1000 steps: median
1e-8, 99 % within 1.2e-7 of the float64 path; more only next to a separatrix between modes, where the flow
amplifies any rounding) and its normals are truncated at 5.77σ (probability 8e-9 per draw; tests compare laws).

Random numbers are counter-based: the normal pair of particle i, coordinate pair j, step k has counter
c = (k·n + i)·⌈d/2⌉ + j (``numba_math.uniform_pair``): the draws do not depend on the block size, and the same
seed and precision give identical numbers on the same machine; the two precisions draw different numbers.
One thread (no prange).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .numba_math import JIT, exp_nonpositive, normal_pairs
from .schedule import LinearBetaSchedule, check_time

BLOCK = 256
DTYPES = ("float64", "float32")


@numba.njit(**JIT)
def _logits(xs, width, centres, half_precision, log_coef, logits, top):
    """logits[k, i] = ln w_k − (d/2) ln v_k − |x_i − α m_k|²/(2v_k) (differences first: no cancellation in
    float32) and top[i] = max_k logits[k, i]. One fused pass per component in 2-D."""
    n_comp, dim = centres.shape[0], xs.shape[0]
    x0, x1 = xs[0], xs[min(1, dim - 1)]
    for k in range(n_comp):
        row, hp, lc, c0, c1 = logits[k], half_precision[k], log_coef[k], centres[k, 0], centres[k, min(1, dim - 1)]
        if dim == 2:
            for i in range(width):
                row[i] = lc - hp * ((x0[i] - c0) * (x0[i] - c0) + (x1[i] - c1) * (x1[i] - c1))
        else:
            for i in range(width):
                row[i] = lc - hp * (x0[i] - c0) * (x0[i] - c0)
            for j in range(1, dim):
                xj, cj = xs[j], centres[k, j]
                for i in range(width):
                    row[i] -= hp * (xj[i] - cj) * (xj[i] - cj)
        if k == 0:
            for i in range(width):
                top[i] = row[i]
        else:
            for i in range(width):
                top[i] = row[i] if row[i] > top[i] else top[i]


@numba.njit(**JIT)
def _score_block(xs, width, mixture, logits, work, out):  # long: 2-D fused
    """Exact mixture score at the first ``width`` particles of xs (d, BLOCK) into out (d, BLOCK), all in xs's
    precision: s = Σ_k r_k (α m_k − x)/v_k with r = softmax(logits) (``_logits``); mixture = (centres α m_k,
    pulls α m_k/v_k, ½/v_k, 1/v_k, ln w_k − (d/2) ln v_k) from ``_mixture_at``.
    Scratch: logits (K, BLOCK), work (3, BLOCK). Every inner loop runs over the block."""
    centres, pulls, half_precision, precision, log_coef = mixture
    n_comp, dim = pulls.shape[0], xs.shape[0]
    top, total, pull_sum = work[0], work[1], work[2]
    _logits(xs, width, centres, half_precision, log_coef, logits, top)
    out0, out1 = out[0], out[min(1, dim - 1)]
    for i in range(width):
        total[i] = 0.0
        pull_sum[i] = 0.0
    for j in range(dim):
        outj = out[j]
        for i in range(width):
            outj[i] = 0.0
    for k in range(n_comp):
        row, precision_k, pull0, pull1 = logits[k], precision[k], pulls[k, 0], pulls[k, min(1, dim - 1)]
        if dim == 2:
            for i in range(width):
                r = exp_nonpositive(row[i] - top[i])
                total[i] += r
                pull_sum[i] += precision_k * r
                out0[i] += pull0 * r
                out1[i] += pull1 * r
        else:
            for i in range(width):
                row[i] = exp_nonpositive(row[i] - top[i])
                total[i] += row[i]
                pull_sum[i] += precision_k * row[i]
            for j in range(dim):
                outj, pull = out[j], pulls[k, j]
                for i in range(width):
                    outj[i] += pull * row[i]
    for i in range(width):
        total[i] = 1.0 / total[i]
    for j in range(dim):
        xj, outj = xs[j], out[j]
        for i in range(width):
            outj[i] = (outj[i] - xj[i] * pull_sum[i]) * total[i]


@numba.njit(**JIT)
def _mixture_at(t, beta_min, beta_max, weights, means, variances, mixture):
    """p_t's α m_k, α m_k/v_k, ½/v_k, 1/v_k and ln w_k − (d/2) ln v_k (computed in float64, stored in the
    arrays' precision) written in place into ``mixture``; returns β(t)."""
    centres, pulls, half_precision, precision, log_coef = mixture
    big_b = beta_min * t + 0.5 * (beta_max - beta_min) * t * t
    alpha = math.exp(-0.5 * big_b)
    sigma2 = -math.expm1(-big_b)
    dim = means.shape[1]
    for k in range(weights.size):
        v = alpha * alpha * variances[k] + sigma2
        precision[k] = 1.0 / v
        half_precision[k] = 0.5 / v
        log_coef[k] = math.log(weights[k]) - 0.5 * dim * math.log(v)
        for j in range(dim):
            centres[k, j] = alpha * means[k, j]
            pulls[k, j] = alpha * means[k, j] / v
    return beta_min + (beta_max - beta_min) * t


@numba.njit(**JIT)
def _mixture_buffers(n_comp, dim, like):
    """Empty (centres, pulls, ½/v, 1/v, log coefficients) in the precision of ``like``."""
    dt = like.dtype
    return (np.empty((n_comp, dim), dt), np.empty((n_comp, dim), dt), np.empty(n_comp, dt), np.empty(n_comp, dt),
            np.empty(n_comp, dt))


@numba.njit(**JIT)
def _load(x, lo, hi, xs):
    """xs[:, :hi − lo] = x[:, lo:hi] (float64 → the score's precision)."""
    for j in range(x.shape[0]):
        xj, xsj = x[j, lo:hi], xs[j]
        for i in range(hi - lo):
            xsj[i] = xj[i]


@numba.njit(**JIT)
def _reverse_sde(x, weights, means, variances, beta_min, beta_max, n_steps, t_end, key, like):  # long: step loop
    """Reverse Euler–Maruyama in place on x (d, n) float64 from t = 1 to t_end (module docstring); score and
    normals in the precision of ``like`` (an empty float32/64 array)."""
    dim, n = x.shape
    n_comp, pairs, dt = weights.size, (dim + 1) // 2, like.dtype
    mixture = _mixture_buffers(n_comp, dim, like)
    logits, work, score = np.empty((n_comp, BLOCK), dt), np.empty((3, BLOCK), dt), np.empty((dim, BLOCK), dt)
    xs, noise = np.empty((dim, BLOCK), dt), np.empty((2, BLOCK), dt)
    h = (1.0 - t_end) / n_steps
    stride = np.uint64(pairs)
    for step in range(n_steps):
        b = _mixture_at(1.0 - step * h, beta_min, beta_max, weights, means, variances, mixture)
        keep, pull, kick = 1.0 + 0.5 * b * h, b * h, math.sqrt(b * h)
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            _load(x, lo, hi, xs)
            _score_block(xs, hi - lo, mixture, logits, work, score)
            for j in range(dim):
                if j % 2 == 0:
                    first = (np.uint64(step) * np.uint64(n) + np.uint64(lo)) * stride + np.uint64(j // 2)
                    normal_pairs(key, first, stride, hi - lo, noise)
                z, xj, sj = noise[j % 2], x[j, lo:hi], score[j]
                for i in range(hi - lo):
                    xj[i] = keep * xj[i] + pull * sj[i] + kick * z[i]


@numba.njit(**JIT)
def _heun_flow(x, weights, means, variances, beta_min, beta_max, n_steps, t0, t1, like):  # long: step loop
    """Heun's method for dx/dt = −½β(x + s) in place on x (d, n) float64 from t0 to t1 (module docstring);
    the score in the precision of ``like``, the state and the steps in float64."""
    dim, n = x.shape
    n_comp, dt = weights.size, like.dtype
    start, end = _mixture_buffers(n_comp, dim, like), _mixture_buffers(n_comp, dim, like)
    logits, work, score = np.empty((n_comp, BLOCK), dt), np.empty((3, BLOCK), dt), np.empty((dim, BLOCK), dt)
    xs, slope, trial = np.empty((dim, BLOCK), dt), np.empty((dim, BLOCK)), np.empty((dim, BLOCK))
    h = (t1 - t0) / n_steps
    for step in range(n_steps):
        t = t0 + step * h
        b1 = _mixture_at(min(max(t, 0.0), 1.0), beta_min, beta_max, weights, means, variances, start)
        b2 = _mixture_at(min(max(t + h, 0.0), 1.0), beta_min, beta_max, weights, means, variances, end)
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            _load(x, lo, hi, xs)
            _score_block(xs, hi - lo, start, logits, work, score)
            for j in range(dim):
                xj, sj, kj, yj = x[j, lo:hi], score[j], slope[j], trial[j]
                for i in range(hi - lo):
                    kj[i] = -0.5 * b1 * (xj[i] + sj[i])
                    yj[i] = xj[i] + h * kj[i]
            _load(trial, 0, hi - lo, xs)
            _score_block(xs, hi - lo, end, logits, work, score)
            for j in range(dim):
                xj, sj, kj, yj = x[j, lo:hi], score[j], slope[j], trial[j]
                for i in range(hi - lo):
                    xj[i] = xj[i] + h * (0.5 * kj[i] + 0.5 * (-0.5 * b2 * (yj[i] + sj[i])))


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


def _score_dtype(dtype) -> np.ndarray:
    """An empty array of the score's precision (the kernels compile once per precision)."""
    if str(np.dtype(dtype) if isinstance(dtype, (type, np.dtype)) else dtype) not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return np.empty(0, dtype=np.dtype(dtype))


def _check_schedule(schedule) -> LinearBetaSchedule:
    if not isinstance(schedule, LinearBetaSchedule):
        raise ValueError(f"schedule must be a LinearBetaSchedule (β > 0 at both ends), got {schedule!r}")
    return schedule


def mixture_reverse_sde(x1, weights, means, variances, schedule: LinearBetaSchedule, n_steps: int, seed: int, *,
                        t_end: float = 0.0, dtype: str = "float64") -> np.ndarray:
    """The reverse SDE (Euler–Maruyama, exact mixture score) from ``x1`` (n, d) at t = 1 down to ``t_end``;
    returns x(t_end) (n, d). ``seed`` (int ≥ 0) keys the counter-based normals: same seed, same numbers.
    ``dtype`` ("float64" or "float32") is the precision of the score and the normals; the state is float64."""
    w, m, v = mixture_arrays(weights, means, variances)
    x, n, sch = _rows(x1, m.shape[1]), _check_steps(n_steps), _check_schedule(schedule)
    like = _score_dtype(dtype)
    t_end = float(check_time(t_end, "t_end"))
    if t_end >= 1.0:
        raise ValueError(f"t_end must lie in [0, 1), got {t_end!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    key = np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0]
    _reverse_sde(x, w, m, v, float(sch.beta_min), float(sch.beta_max), n, t_end, key, like)
    return np.ascontiguousarray(x.T)


def mixture_probability_flow(x, weights, means, variances, schedule: LinearBetaSchedule, n_steps: int, *,
                             t0: float = 1.0, t1: float = 0.0, dtype: str = "float64") -> np.ndarray:
    """The probability-flow ODE (Heun, exact mixture score) from ``x`` (n, d) at t0 to t1; returns x(t1).
    ``dtype`` ("float64" or "float32") is the precision of the score; the state and the steps are float64."""
    w, m, v = mixture_arrays(weights, means, variances)
    y, n, sch = _rows(x, m.shape[1]), _check_steps(n_steps), _check_schedule(schedule)
    t0, t1 = float(check_time(t0, "t0")), float(check_time(t1, "t1"))
    _heun_flow(y, w, m, v, float(sch.beta_min), float(sch.beta_max), n, t0, t1, _score_dtype(dtype))
    return np.ascontiguousarray(y.T)
