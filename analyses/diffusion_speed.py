r"""The speed line of ``physml run diffusion``: reverse-SDE particle-steps per second of the compiled exact-score
integrator (:func:`physml.inference.diffusion.mixture_reverse_sde`, score in float64 and in float32) against the
NumPy loop (:func:`~physml.inference.diffusion.reverse_euler_maruyama` with the vectorised score), measured in the
same run on the report's own mixture, one thread each (CPU time, less sensitive to other jobs than wall time).
A small size, so the ratio is indicative; ``benchmarks/diffusion.py`` is the measurement (1e5 particles × 1000
steps, best of repeats, the load average printed).
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from ..inference.diffusion import mixture_reverse_sde, reverse_euler_maruyama
from ..inference.diffusion.numba_integrators import DTYPES

SIZES = {"particles": 20_000, "steps": 200, "baseline_steps": 10}


def _cpu_rate(run, work: float) -> float:
    c0 = time.process_time()
    run()
    return work / max(time.process_time() - c0, 1e-9)


def speed_section(fp, seed: int, sizes: dict = SIZES) -> dict:
    """{"particles", "steps", "baseline_steps", "numpy", "<dtype>": rate, "ratio_<dtype>": rate / numpy}: reverse-SDE
    particle-steps per CPU second on ``fp``'s mixture (weights, means, isotropic variances, schedule)."""
    mix, schedule = fp.data, fp.schedule
    args = (mix.weights, mix.means, mix.variances, schedule)
    n, steps, base = int(sizes["particles"]), int(sizes["steps"]), int(sizes["baseline_steps"])
    x1 = np.random.default_rng(seed).standard_normal((n, mix.dim))
    out = {"particles": n, "steps": steps, "baseline_steps": base}
    with threadpool_limits(1):
        out["numpy"] = _cpu_rate(lambda: reverse_euler_maruyama(x1, fp.score, schedule, base,
                                                                np.random.default_rng(seed)), float(n) * base)
        for dtype in DTYPES:
            mixture_reverse_sde(x1[:4], *args, 2, seed, dtype=dtype)  # compile (or load the disk cache)
            out[dtype] = _cpu_rate(lambda: mixture_reverse_sde(x1, *args, steps, seed, dtype=dtype),
                                   float(n) * steps)
            out[f"ratio_{dtype}"] = out[dtype] / out["numpy"]
    return out


def add_speed_section(report, speed: dict) -> None:
    rows = [["NumPy loop (reverse_euler_maruyama)", f"{speed['numpy']:.3g}", "1"]]
    rows += [[f"compiled, {d} score (mixture_reverse_sde)", f"{speed[d]:.3g}", f"{speed[f'ratio_{d}']:.1f}×"]
             for d in DTYPES]
    report.section("Speed: reverse SDE with the exact score").table(
        ["integrator", "particle-steps / CPU s", "× NumPy"], rows).add(
        f"{speed['particles']} particles; compiled {speed['steps']} steps, NumPy {speed['baseline_steps']} steps; one "
        "thread each, measured in this run (indicative at this size). The measurement is benchmarks/diffusion.py "
        "(1e5 particles × 1000 steps in 2-D: 1.6e8 particle-steps/s with the float32 score, 93× NumPy, on one core).")
