"""SK spin glass: parallel tempering vs single-temperature heat bath, and the ground-state energy e₀(N).

Part 1 (``--part pt``): one SK sample at N = 64 (``--n``), T = 0.4: ``fit(model, "parallel_tempering")``
with M replicas (heat bath in each, ladder adapted from β_min = 0.25 i.e. T = 1.6 to T = 0.4) against
``fit(model, "heat_bath")`` at T = 0.4 with M times the sweeps per draw (the same number of spin updates).
Reports round trips, round-trip time and the ESS per second of the energy −ℓ/N (ArviZ mean-ESS; for the heat
bath ℓ is recomputed from the recorded spins), and the lowest energy each run saw.

Part 2 (``--part e0``): ground-state energy per spin e₀(N) = min H/N over a PT run at T_min = 0.2
(``--instances`` samples per N in ``--sizes``), averaged over samples and extrapolated linearly in
N^(-2/3) against Parisi's e₀ = −0.7633 (Parisi 1980; Crisanti & Rizzo 2002, −0.76317).
Ground states are not certified: at large N, short runs over-estimate e₀ (the min is an upper bound).
Superseded by ``benchmarks/sk_ground_state.py`` (numba PT with agreeing independent runs, N = 32 … 384).

    python benchmarks/sk_parallel_tempering.py --part pt [--n 64] [--draws 4000] [--replicas 16]
    python benchmarks/sk_parallel_tempering.py --part e0 [--sizes 32,48,64,96,128] [--instances 16]
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz_stats as azs
import numpy as np

from physml.inference import diagnostics, fit
from physml.models import sk
from timing import load_note


def _ess_rate(energy: np.ndarray, seconds: float) -> float:
    return float(azs.ess(energy, method="mean")) / seconds


def part_pt(n: int, draws: int, replicas: int, seed: int) -> None:
    spec = sk.SKSpec(n=n, T=0.4, sample_seed=seed)
    model, c = sk.sk_model(spec), sk.sk_couplings(spec)
    t0 = time.perf_counter()
    pt = fit(model, "parallel_tempering", draws=draws, tune=draws // 2, chains=4, seed=seed, n_replicas=replicas,
             beta_min=0.25, record_spins=False, free_energy=())
    t_pt = time.perf_counter() - t0
    d = diagnostics(pt)
    e_pt = pt.posterior["reduced_energy"].values * spec.T
    t0 = time.perf_counter()
    hb = fit(model, "heat_bath", draws=draws, tune=draws // 2, chains=4, seed=seed, sweeps=replicas,
             record_spins=True, free_energy=())
    t_hb = time.perf_counter() - t0
    e_hb = -c.log_weight(hb.posterior["spins"].values) / n * spec.T
    print(f"SK N = {n}, T = 0.4, {draws} draws x 4 chains; PT {replicas} replicas, heat bath {replicas} sweeps/draw")
    print(f"ladder beta: {np.round(pt['ladder']['beta'].values, 3).tolist()}")
    print(f"swap acceptance: {np.round(pt['ladder']['swap_acceptance'].values, 2).tolist()}")
    print(f"PT round trips {d['round_trips']}, round-trip time {d['round_trip_time_sweeps']:.0f} sweeps")
    rows = [("parallel_tempering", e_pt, t_pt), ("heat_bath", e_hb, t_hb)]
    for name, e, t in rows:
        rhat = float(azs.rhat(e))
        print(f"{name:20s} <H>/N {e.mean():+.4f}  min H/N {e.min():+.4f}  chain means {np.round(e.mean(axis=1), 4)}"
              f"  R-hat {rhat:.3f}  ESS {float(azs.ess(e, method='mean')):.0f}  {t:.1f} s"
              f"  ESS/s {_ess_rate(e, t):.1f}")
    print(f"ESS/s ratio PT / heat bath: {_ess_rate(e_pt, t_pt) / _ess_rate(e_hb, t_hb):.2f}")


def ground_state(n: int, sample_seed: int, draws: int, replicas: int) -> float:
    spec = sk.SKSpec(n=n, T=0.2, sample_seed=sample_seed)
    dt = fit(sk.sk_model(spec), "parallel_tempering", draws=draws, tune=draws // 2, chains=2, seed=sample_seed,
             n_replicas=replicas, beta_min=0.1, record_spins=False, free_energy=())
    return float(dt.posterior["reduced_energy"].values.min()) * spec.T


def part_e0(sizes: list[int], instances: int, draws: int, replicas: int) -> None:
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        e = np.array([ground_state(n, 10_000 * n + k, draws, replicas) for k in range(instances)])
        rows.append((n, e.mean(), e.std(ddof=1) / np.sqrt(e.size)))
        print(f"N = {n:4d}: e0(N) = {e.mean():+.4f} ± {rows[-1][2]:.4f} ({instances} samples, "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)
    x = np.array([r[0] for r in rows], dtype=float) ** (-2.0 / 3.0)
    y, se = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    coef, cov = np.polyfit(x, y, 1, w=1.0 / se, cov="unscaled")
    e0, e0_se = coef[1], float(np.sqrt(cov[1, 1]))
    print(f"extrapolated e0 = {e0:+.4f} ± {e0_se:.4f} (slope {coef[0]:+.3f}); Parisi {sk.PARISI_GROUND_STATE_ENERGY}: "
          f"relative error {abs(e0 / sk.PARISI_GROUND_STATE_ENERGY - 1) * 100:.1f} %")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("pt", "e0"), default="pt")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--draws", type=int, default=4000)
    p.add_argument("--replicas", type=int, default=16)
    p.add_argument("--sizes", default="32,48,64,96,128")
    p.add_argument("--instances", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    print(load_note())
    if a.part == "pt":
        part_pt(a.n, a.draws, a.replicas, a.seed)
    else:
        part_e0([int(s) for s in a.sizes.split(",")], a.instances, a.draws, a.replicas)


if __name__ == "__main__":
    main()
