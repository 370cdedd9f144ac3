"""Ising throughput: checkerboard spin updates/s (L = 16, 64, 256) vs PyMC's BinaryGibbsMetropolis (L = 16).

Also (``--tau``) τ_int of |M| at K_c in sweeps (both conventions), Metropolis vs cluster, L = 16, 32, 64,
and (``--free-energy``) TI / AIS at L = 32, K = K_c against Kaufman. The machine load is printed
before and after (shared cores make the timings noisy). Run:
    python benchmarks/ising_throughput.py [--tau] [--free-energy]
"""
import argparse
import time

import numpy as np

from physml.inference import checkerboard, swendsen_wang, wolff  # noqa: F401
from physml.inference.checkerboard import CheckerboardKernel, _with_ghost
from physml.inference.lattice import K_CRITICAL, square_lattice_couplings
from physml.inference.records import diagnostics


def checkerboard_rate(L, seconds=1.0, rule="metropolis", repeats=3):
    """Best of ``repeats`` timings of ``seconds`` each: one numba call per ~2**22 spin updates
    (uniforms drawn inside numba, so the rate includes the random numbers)."""
    c = square_lattice_couplings(L, K_CRITICAL)
    k = CheckerboardKernel(c, rule)
    rng = np.random.default_rng(0)
    buf = _with_ghost(k.init(rng=rng).spins)
    n_block = max(1, 2 ** 22 // (L * L))
    k._advance(rng, buf, 1)  # compile / warm
    best = 0.0
    for _ in range(repeats):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            k._advance(rng, buf, n_block)
            done += n_block * L * L
        best = max(best, done / (time.perf_counter() - t0))
    return best


def pymc_rate(L=16, draws=20):
    import pymc as pm
    from physml.models.ising import ising_model
    model = ising_model(L, K_CRITICAL)
    with model:
        step = pm.BinaryGibbsMetropolis([model["up"]], transit_p=1.0)  # propose every site once per step
        t0 = time.perf_counter()
        pm.sample(draws=draws, tune=0, chains=1, cores=1, step=step, progressbar=False,
                  compute_convergence_checks=False, random_seed=0)
        wall = time.perf_counter() - t0
    return draws * L * L / wall


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
    from physml.inference.ising_free_energy import annealed_importance_sampling, thermodynamic_integration
    from physml.models.ising import log_partition_kaufman
    c = square_lattice_couplings(32, K_CRITICAL)
    exact = -log_partition_kaufman(32, K_CRITICAL)
    # compile the numba kernels outside the timed runs (cached on disk after the first run)
    small = square_lattice_couplings(4, K_CRITICAL)
    thermodynamic_integration(small, n_rungs=5, draws=20, allocate="variance")
    annealed_importance_sampling(small, n_temps=5, n_runs=2)
    for name, f in ((f"TI (checkerboard, RB bond sum, 65 rungs x 2 chains, {ti_draws} draws/rung mean, "
                     f"variance allocation)", lambda: thermodynamic_integration(
                        c, n_rungs=65, draws=ti_draws, sampler="checkerboard", allocate="variance", seed=1)),
                    (f"AIS (heat bath, sublattice summed out, {ais_temps} temps x {ais_runs} runs)",
                     lambda: annealed_importance_sampling(c, n_temps=ais_temps, n_runs=ais_runs, seed=1))):
        t0 = time.perf_counter()
        r = f()
        print(f"{name}: error {r.value - exact:+.4f} nats, se {r.se:.4f}, z {(r.value - exact) / r.se:+.2f}, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


def load_note():
    import os
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unavailable"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tau", action="store_true")
    ap.add_argument("--free-energy", action="store_true")
    ap.add_argument("--ti-draws", type=int, default=30000)
    a = ap.parse_args()
    print(load_note())
    rates = {L: checkerboard_rate(L) for L in (16, 64, 256)}
    base = pymc_rate(16)
    for L, r in rates.items():
        print(f"checkerboard Metropolis L={L:4d}: {r:.3e} spin updates/s (one core, best of 3)")
    print(f"PyMC BinaryGibbsMetropolis L=  16: {base:.3e} spin updates/s")
    print(f"ratio checkerboard/PyMC at L=16: {rates[16] / base:.0f}x; at L=256 vs PyMC L=16: {rates[256] / base:.0f}x")
    if a.tau:
        tau_table()
    if a.free_energy:
        free_energy_l32(a.ti_draws)
    print(load_note())
