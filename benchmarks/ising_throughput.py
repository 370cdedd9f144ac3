"""Ising throughput: checkerboard spin updates/s (L = 16, 64, 256) vs PyMC's BinaryGibbsMetropolis (L = 16).

Also (``--tau``) τ_int of |M| at K_c in sweeps, Metropolis vs cluster, L = 16, 32, 64, and
(``--free-energy``) TI / AIS at L = 32, K = K_c against Kaufman. Run:
    python benchmarks/ising_throughput.py [--tau] [--free-energy]
"""
import argparse
import time

import numpy as np

from physml.inference import checkerboard, swendsen_wang, wolff  # noqa: F401
from physml.inference.checkerboard import CheckerboardKernel, _with_ghost
from physml.inference.lattice import K_CRITICAL, square_lattice_couplings
from physml.inference.records import diagnostics


def checkerboard_rate(L, seconds=1.0, rule="metropolis"):
    c = square_lattice_couplings(L, K_CRITICAL)
    k = CheckerboardKernel(c, rule)
    rng = np.random.default_rng(0)
    buf = _with_ghost(k.init(rng=rng).spins)
    n_block = max(1, 2 ** 20 // (L * L))
    k.sweep_inplace(buf, rng.random((1, L * L)))  # compile / warm
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        k.sweep_inplace(buf, rng.random((n_block, L * L)))  # uniforms drawn inside the timed loop
        done += n_block * L * L
    return done / (time.perf_counter() - t0)


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


def tau_table(sizes=(16, 32, 64), draws=4000):
    from physml.models.ising import ising_model
    rows = []
    for L in sizes:
        model = ising_model(L, K_CRITICAL)
        row = [L]
        for run in (checkerboard.run_checkerboard, swendsen_wang.run_swendsen_wang, wolff.run_wolff):
            d = diagnostics(run(model, draws=draws, tune=500, chains=2, seed=L, record_spins=False))
            row.append(d["tau_int_sweeps_abs_magnetisation"])
        rows.append(row)
        print(f"L={L:4d}  tau_int(|M|) sweeps: metropolis {row[1]:7.2f}  swendsen_wang {row[2]:6.2f}  wolff {row[3]:6.2f}",
              flush=True)
    return rows


def free_energy_l32():
    from physml.inference.ising_free_energy import annealed_importance_sampling, thermodynamic_integration
    from physml.models.ising import log_partition_kaufman
    c = square_lattice_couplings(32, K_CRITICAL)
    exact = -log_partition_kaufman(32, K_CRITICAL)
    for name, f in (("TI (SW, 33 rungs x 2 x 3000)", lambda: thermodynamic_integration(
                        c, n_rungs=33, draws=3000, sampler="swendsen_wang", seed=1)),
                    ("AIS (checkerboard, 4000 temps x 32 runs)", lambda: annealed_importance_sampling(
                        c, n_temps=4000, n_runs=32, sampler="checkerboard", seed=1))):
        t0 = time.perf_counter()
        r = f()
        print(f"{name}: error {r.value - exact:+.4f} nats, se {r.se:.4f}, z {(r.value - exact) / r.se:+.2f}, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tau", action="store_true")
    ap.add_argument("--free-energy", action="store_true")
    a = ap.parse_args()
    rates = {L: checkerboard_rate(L) for L in (16, 64, 256)}
    base = pymc_rate(16)
    for L, r in rates.items():
        print(f"checkerboard Metropolis L={L:4d}: {r:.3e} spin updates/s")
    print(f"PyMC BinaryGibbsMetropolis L=  16: {base:.3e} spin updates/s")
    print(f"ratio checkerboard/PyMC at L=16: {rates[16] / base:.0f}x; at L=256 vs PyMC L=16: {rates[256] / base:.0f}x")
    if a.tau:
        tau_table()
    if a.free_energy:
        free_energy_l32()
