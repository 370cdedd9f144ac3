"""Metropolis spin updates/s at K_c, one chain on one core, L = 16, 64 (both) and 256 (checkerboard only): physml checkerboard vs PyMC BinaryGibbsMetropolis, and multi-spin coding vs checkerboard, warm best of 3 × 1 s.

Sizes: L = 16, 64, 256 for the checkerboard, L = 16, 64 for PyMC (one PyMC update evaluates the whole
model's log density, so a sweep costs O(N²): L = 256 would take minutes per sweep); a ratio is printed
only at an L both ran (``--quick``: L = 16 only, 0.2 s blocks). Both sides: one chain on one core,
one cold call (set-up + first sweep: kernel and numba cache load / PyMC step construction and
compilation), then ``--repeats`` (3) warm timed blocks of at least ``--seconds`` (1.0) s each; the
rate is the best block. Checkerboard block: repeated numba calls of ~2**22 updates (uniforms drawn
inside numba); PyMC block: one ``pm.sample(tune=0, chains=1, cores=1)`` timed per draw through its
callback, from the first to the last draw (the first draw's in-sampler set-up excluded).

Then multi-spin coding (:mod:`physml.inference.spins.multispin`, 64 spins per word) vs the checkerboard
kernel at L = 64, 256, 1024 (``--quick``: 256), both timed by the same function in the same run, their
blocks interleaved (best of ``--repeats`` each), with their ratio, and the multi-spin sweeps alone on
persistent packed words (no packing / observables per call: the kernel's ceiling); ``--multispin-only``
skips the PyMC table.

Also (``--tau``) τ_int of |M| at K_c in sweeps (both conventions), Metropolis vs cluster, L = 16, 32, 64,
and (``--free-energy``) TI / AIS at L = 32, K = K_c against Kaufman. Run:
    python benchmarks/ising_throughput.py [--quick] [--multispin-only] [--tau] [--free-energy]
"""
import argparse
import math
import time
import warnings

import numpy as np

from physml.inference.spins import checkerboard
from physml.inference.spins import swendsen_wang
from physml.inference.spins import wolff
from physml.inference.spins.checkerboard import CheckerboardKernel
from physml.inference.spins.lattice import K_CRITICAL, square_lattice_couplings
from physml.inference.spins.multispin import MultispinKernel, multispin_sweeps
from physml.inference.spins.rng import rng_state
from physml.inference.records import diagnostics
from timing import best_rate, load_note, quiet_pymc, ratio, timed

UPDATES_PER_CALL = 2 ** 22


def checkerboard_rate(L, seconds, repeats):
    """(cold s, best warm updates/s) of checkerboard Metropolis on the periodic L×L lattice at K_c."""
    cold, block = kernel_block(make_checkerboard, L, seconds)
    return cold, best_rate(block, repeats)


def make_checkerboard(couplings, sweeps):
    return CheckerboardKernel(couplings, "metropolis", sweeps=sweeps)


def make_multispin(couplings, sweeps):
    return MultispinKernel(couplings, sweeps=sweeps)


def timed_calls(run, updates_per_call, seconds):
    """A block: ``run()`` repeated for at least ``seconds``; returns (updates, seconds)."""
    def block():
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            run()
            done += updates_per_call
        return done, time.perf_counter() - t0
    return block


def kernel_block(make_kernel, L, seconds):
    """(cold s, timed block) of ``make_kernel(couplings, sweeps)`` on the periodic L×L lattice at K_c, each
    draw one numba call of ~2**22 updates through ``kernel.sample`` (the driver's path: copy in, E and M
    recorded, copy out)."""
    c = square_lattice_couplings(L, K_CRITICAL)
    rng = np.random.default_rng(0)

    def first_sweep():
        kernel = make_kernel(c, 1)
        return kernel.sample(rng, kernel.init(rng=rng), 1)[0]

    state, cold = timed(first_sweep)
    sweeps = max(1, UPDATES_PER_CALL // (L * L))
    kernel = make_kernel(c, sweeps)  # one draw = one numba call of `sweeps` sweeps
    state = kernel.sample(rng, state, 1)[0]  # warm-up call, as PyMC gets one

    def run():
        nonlocal state
        state = kernel.sample(rng, state, 1)[0]

    return cold, timed_calls(run, sweeps * L * L, seconds)


def multispin_packed_block(L, seconds):
    """Timed block of the multi-spin sweeps alone on persistent packed words (no packing, no E/M per call):
    the kernel's ceiling, for comparison with the protocol path of :func:`kernel_block`."""
    kernel = MultispinKernel(square_lattice_couplings(L, K_CRITICAL))
    lay = kernel.layout
    words = kernel.pack(kernel.init(rng=np.random.default_rng(0)).spins)
    state = rng_state(np.random.default_rng(1))
    sweeps = max(1, UPDATES_PER_CALL // (L * L))

    def run():
        multispin_sweeps(words, lay.rows, lay.n_words, lay.bits, lay.mask, *kernel.acceptance_digits, sweeps, state)

    run()
    return timed_calls(run, sweeps * L * L, seconds)


def pymc_rate(L, seconds, repeats):
    """(cold s, best warm updates/s) of PyMC's BinaryGibbsMetropolis (every site proposed once per draw)."""
    import pymc as pm

    from physml.models.ising import ising_model

    model = ising_model(L, K_CRITICAL)

    def sample(step, draws):
        stamps = []
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm.sample(draws=draws, tune=0, chains=1, cores=1, step=step, progressbar=False, random_seed=0,
                      compute_convergence_checks=False, callback=lambda trace, draw: stamps.append(time.perf_counter()))
        return stamps

    def first_sweep():
        with model:
            step = pm.BinaryGibbsMetropolis([model["up"]], transit_p=1.0)
        sample(step, 1)
        return step

    step, cold = timed(first_sweep)
    stamps = sample(step, 3)  # warm-up; sizes the blocks
    draws = max(3, math.ceil(seconds / ((stamps[-1] - stamps[0]) / 2)) + 1)

    def block():
        s = sample(step, draws)
        return (len(s) - 1) * L * L, s[-1] - s[0]

    return cold, best_rate(block, repeats)


def throughput_table(sizes, pymc_sizes, seconds, repeats):
    print("| L | checkerboard cold s | checkerboard updates/s | PyMC cold s | PyMC updates/s | ratio warm |")
    print("|---|---|---|---|---|---|")
    for L in sizes:
        cb_cold, cb = checkerboard_rate(L, seconds, repeats)
        pm_cold, pm_rate = pymc_rate(L, seconds, repeats) if L in pymc_sizes else (float("nan"), float("nan"))
        print(f"| {L} | {cb_cold:.3g} | {cb:.3e} | {pm_cold:.3g} | {pm_rate:.3e} | {ratio(cb, pm_rate)} |", flush=True)


def multispin_table(sizes, seconds, repeats):
    """Multi-spin coding vs the checkerboard kernel, same lattice, same run, same timing (one core each):
    best of ``repeats`` interleaved blocks each."""
    print("| L | checkerboard updates/s | multispin cold s | multispin updates/s | multispin / checkerboard "
          "| multispin sweeps only (packed) |")
    print("|---|---|---|---|---|---|")
    for L in sizes:
        _, cb_block = kernel_block(make_checkerboard, L, seconds)
        ms_cold, ms_block = kernel_block(make_multispin, L, seconds)
        blocks = (cb_block, ms_block, multispin_packed_block(L, seconds))
        best = [0.0] * len(blocks)
        for _ in range(repeats):  # interleaved, so a change of load hits both sides of the ratio alike
            for i, block in enumerate(blocks):
                work, secs = block()
                best[i] = max(best[i], work / secs)
        cb, ms, packed = best
        print(f"| {L} | {cb:.3e} | {ms_cold:.3g} | {ms:.3e} | {ratio(ms, cb)} | {packed:.3e} |", flush=True)


def tau_table(sizes=(16, 32, 64), draws=20000):
    """τ_int of |M| at K_c in sweeps, both conventions: ArviZ n/ESS ("2τ", 1 + 2Σρ) and ½ + Σρ (= n/(2 ESS)),
    the one the literature quotes (≈ 11, 46, 156 for single-spin Metropolis at L = 16, 32, 64)."""
    from physml.models.ising import ising_model
    rows = []
    print("tau_int(|M|) at K_c in sweeps: n/ESS [1+2Σρ] | n/(2 ESS) [½+Σρ]")
    for L in sizes:
        model = ising_model(L, K_CRITICAL)
        row = [L]
        for run, n in ((checkerboard.run_checkerboard, draws), (swendsen_wang.run_swendsen_wang, draws // 4),
                       (wolff.run_wolff, draws // 4)):
            d = diagnostics(run(model, draws=n, tune=2000, chains=2, seed=L, record_spins=False))
            row.append(d["tau_int_sweeps_abs_magnetisation"])
        rows.append(row)
        print(f"L={L:4d}  metropolis {row[1]:7.2f} | {row[1] / 2:7.2f}   swendsen_wang {row[2]:6.2f} | {row[2] / 2:6.2f}"
              f"   wolff {row[3]:6.2f} | {row[3] / 2:6.2f}", flush=True)
    return rows


def free_energy_l32(ti_draws=30000, ais_temps=20000, ais_runs=32):
    from physml.inference.spins.coupling_ais import annealed_importance_sampling
    from physml.inference.spins.coupling_ti import coupling_scale_ti
    from physml.models.ising import log_partition_kaufman
    c = square_lattice_couplings(32, K_CRITICAL)
    exact = -log_partition_kaufman(32, K_CRITICAL)
    # compile the numba kernels outside the timed runs (cached on disk after the first run)
    small = square_lattice_couplings(4, K_CRITICAL)
    coupling_scale_ti(small, n_rungs=5, draws=20, allocate="variance")
    annealed_importance_sampling(small, n_temps=5, n_runs=2)
    for name, f in ((f"TI (checkerboard, RB bond sum, 65 rungs x 2 chains, {ti_draws} draws/rung mean, "
                     f"variance allocation)", lambda: coupling_scale_ti(
                        c, n_rungs=65, draws=ti_draws, sampler="checkerboard", allocate="variance", seed=1)),
                    (f"AIS (heat bath, sublattice summed out, {ais_temps} temps x {ais_runs} runs)",
                     lambda: annealed_importance_sampling(c, n_temps=ais_temps, n_runs=ais_runs, seed=1))):
        t0 = time.perf_counter()
        r = f()
        print(f"{name}: error {r.value - exact:+.4f} nats, se {r.se:.4f}, z {(r.value - exact) / r.se:+.2f}, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="L = 16 only, 0.2 s blocks")
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed block")
    ap.add_argument("--repeats", type=int, default=3, help="timed blocks per side (best is reported)")
    ap.add_argument("--multispin-only", action="store_true",
                    help="only the multi-spin vs checkerboard table (L = 64, 256, 1024; --quick: L = 256)")
    ap.add_argument("--tau", action="store_true")
    ap.add_argument("--free-energy", action="store_true")
    ap.add_argument("--ti-draws", type=int, default=30000)
    a = ap.parse_args()
    quiet_pymc()
    print(load_note())
    seconds = 0.2 if a.quick else a.seconds
    if not a.multispin_only:
        if a.quick:
            throughput_table((16,), (16,), seconds, a.repeats)
        else:
            throughput_table((16, 64, 256), (16, 64), seconds, a.repeats)
    multispin_table((256,) if a.quick else (64, 256, 1024), seconds, a.repeats)
    if a.tau:
        tau_table()
    if a.free_energy:
        free_energy_l32(a.ti_draws)
    print(load_note())
