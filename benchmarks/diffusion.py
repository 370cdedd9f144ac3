"""Reverse-SDE / probability-flow throughput in particle-steps per second: numba (exact Gaussian-mixture score) vs a plain NumPy loop.

Data: the ring of 8 Gaussians in 2-D (``physml.models.diffusion.ring8``), VP-SDE β ∈ [0.1, 20]. Both sides
integrate the same equations on the same time grid, one thread each: numba
(``physml.inference.diffusion.mixture_reverse_sde`` / ``mixture_probability_flow``: no prange, fastmath,
counter-based normals; the score and the normals in float64 or float32, the state always float64) and the
NumPy loop (``reverse_euler_maruyama`` / ``probability_flow`` with the vectorised NumPy score of
``ForwardProcess``; BLAS capped at one thread). The numba side runs
``--particles`` (1e5) × ``--steps`` (1000); the NumPy side, being 30–150× slower, runs the same particles for
``--baseline-steps`` (20) and is reported per step (its cost per step does not depend on t). Each rate is the
best of ``--repeats`` (2) warm runs (compilation excluded, it is cached on disk); wall rates and the process's
CPU-time rates (less sensitive to other jobs on a shared machine) are both printed, with the load average.
A Heun step evaluates the score twice, an Euler–Maruyama step once plus one pair of normals per particle.
Run:  python benchmarks/diffusion.py [--quick]   (--quick: 1e4 particles × 100 steps, baseline 10 steps)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from physml.inference.diffusion import (LinearBetaSchedule, mixture_probability_flow, mixture_reverse_sde,
                                        probability_flow, reverse_euler_maruyama)
from physml.inference.diffusion.numba_integrators import DTYPES
from physml.models.diffusion import ForwardProcess, ring8
from timing import load_note, ratio

TARGET = 1e8


def best_rates(run, work: float, repeats: int) -> tuple[float, float]:
    """(best wall rate, best CPU-time rate) of ``work / seconds`` over ``repeats`` calls of ``run()``."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(work / (time.perf_counter() - w0))
        cpu.append(work / (time.process_time() - c0))
    return max(wall), max(cpu)


def main(particles: int, steps: int, baseline_steps: int, repeats: int) -> None:
    mix, schedule = ring8(), LinearBetaSchedule(0.1, 20.0)
    args = (mix.weights, mix.means, mix.variances, schedule)
    forward = ForwardProcess(mix, schedule)
    x1 = np.random.default_rng(0).standard_normal((particles, 2))
    for dtype in DTYPES:  # load the compiled kernels
        mixture_reverse_sde(x1[:8], *args, 2, 0, dtype=dtype)
        mixture_probability_flow(x1[:8], *args, 2, dtype=dtype)
    work, base_work = float(particles) * steps, float(particles) * baseline_steps
    sides = {
        "reverse SDE (Euler–Maruyama)": (
            lambda dtype: mixture_reverse_sde(x1, *args, steps, 1, dtype=dtype),
            lambda: reverse_euler_maruyama(x1, forward.score, schedule, baseline_steps, np.random.default_rng(1))),
        "probability flow (Heun, 2 scores/step)": (
            lambda dtype: mixture_probability_flow(x1, *args, steps, dtype=dtype),
            lambda: probability_flow(x1, forward.score, schedule, baseline_steps, method="heun")),
    }
    print(f"{particles} particles in 2-D (ring of 8); numba {steps} steps, NumPy {baseline_steps} steps; "
          f"best of {repeats}; one thread each (no prange; BLAS 1 thread)\n")
    print("| integrator | score | numba wall | numba CPU | NumPy wall | NumPy CPU | ratio wall | ratio CPU | target 1e8 |")
    print("|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for name, (fast, slow) in sides.items():
            sw, sc = best_rates(slow, base_work, repeats)
            for dtype in DTYPES:
                fw, fc = best_rates(lambda: fast(dtype), work, repeats)
                print(f"| {name} | {dtype} | {fw:.3g} | {fc:.3g} | {sw:.3g} | {sc:.3g} | {ratio(fw, sw)} | "
                      f"{ratio(fc, sc)} | {'met' if fc >= TARGET else 'not met'} (CPU) |")
    same = all(np.array_equal(mixture_reverse_sde(x1[:1000], *args, 50, 7, dtype=dtype),
                              mixture_reverse_sde(x1[:1000], *args, 50, 7, dtype=dtype)) for dtype in DTYPES)
    print(f"\nparticle-steps per second; same seed → identical numbers (both precisions): {same}\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e4 particles × 100 steps, baseline 10 steps")
    ap.add_argument("--particles", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--baseline-steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    print(load_note() + "\n")
    if a.quick:
        main(10_000, 100, 10, a.repeats)
    else:
        main(a.particles, a.steps, a.baseline_steps, a.repeats)
    print(load_note())
