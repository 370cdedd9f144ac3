"""SK spin glass: parallel tempering vs single-temperature Metropolis at equal spin updates, and e₀(N).

Part 1 (``--part pt``): one SK sample (J_ij ~ N(0, 1/N), h = 0) at N = 64 (``--n``), T = 0.4. Both samplers are the
same compiled kernel (:mod:`physml.inference.spins.dense_tempering`: sequential Metropolis with incremental local
fields, C independent copies in one numba call): (a) PT on M rungs, geometric ladder T = 1.6 … 0.4, S sweeps;
(b) the one-rung state (:func:`dense_metropolis_init`, no swaps) at T = 0.4 for M·S sweeps — the same number of
spin updates, timed in the same process after compilation, after ``--tune`` discarded sweeps each.
Measured, on the energy H/N at T = 0.4 per sweep (C chains): ArviZ mean-ESS per second and per 1000 one-replica
sweeps (N spin updates each); round trips (hottest → coldest → hottest) and τ_rt = M·S·C / trips in PT sweeps;
and ergodicity, which a single-temperature chain can fail: the overlap q = s⁽²ᵃ⁾·s⁽²ᵃ⁺¹⁾/N of independent copies
pairs, whose distribution is symmetric at h = 0 (E(s) = E(−s)), so each pair's P(q > 0) (q = 0 counted half)
must be ½; the rank-normalised R-hat of q over pairs and of H/N over copies (started from independent random
spins); and, over 10 short independent repeats (S/50 PT sweeps), how often each sampler fails that symmetry
(R-hat q > 1.05 or a pair's |P(q > 0) − ½| > 4 MCSE). With ``--old-draws`` > 0 two more rows: the Python-level
``fit(model, "parallel_tempering")`` (adapted ladder from T = 1.6, record of its coldest replica) and
``fit(model, "heat_bath")`` with M sweeps per draw — the pair behind the earlier ratio 0.11, which measured Python
overhead per replica call, not tempering.

Part 2 (``--part e0``): ground-state energy per spin e₀(N) = min H/N over a PT run at T_min = 0.2
(``--instances`` samples per N in ``--sizes``), averaged over samples and extrapolated linearly in
N^(-2/3) against Parisi's e₀ = −0.7633 (Parisi 1980; Crisanti & Rizzo 2002, −0.76317).
Ground states are not certified: at large N, short runs over-estimate e₀ (the min is an upper bound).
Superseded by ``benchmarks/sk_ground_state.py`` (numba PT with agreeing independent runs, N = 32 … 384).

    python benchmarks/sk_parallel_tempering.py --part pt [--n 64] [--sweeps 50000] [--old-draws 2000] [--copies 8]
    python benchmarks/sk_parallel_tempering.py --part e0 [--sizes 32,48,64,96,128] [--instances 16]
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz_stats as azs
import numpy as np

from physml.inference import diagnostics, fit
from physml.inference.spins.dense_tempering import dense_metropolis_init, dense_tempering_init, \
    dense_tempering_run, dense_tempering_trace, geometric_ladder, swap_acceptance
from physml.models import sk
from timing import load_note


T_LOW, T_HIGH = 0.4, 1.6


def sampler_row(name, energy, q, seconds, replica_sweeps, trips=None, tau=None) -> dict:
    """Energy per spin (chain, draw), overlaps (pair, draw) → one table row; ``z P(q>0)``: the largest over pairs
    of |P(q > 0) − ½| / MCSE (ArviZ, of the indicator; inf for a pair whose q never changed sign)."""
    ess = float(azs.ess(energy, method="mean"))
    above = (q > 0) + 0.5 * (q == 0)
    frac = above.mean(axis=1)
    with np.errstate(divide="ignore"):
        z = np.abs(frac - 0.5) / np.array([float(azs.mcse(a[None, :], method="mean")) for a in above])
    ess_q = float(azs.ess(q, method="mean"))
    return {"sampler": name, "sweeps": replica_sweeps, "seconds": seconds, "H/N": float(energy.mean()),
            "ESS": ess, "ESS/s": ess / seconds, "ESS/1k sweeps": 1000.0 * ess / replica_sweeps,
            "ESS q/1k sweeps": 1000.0 * ess_q / replica_sweeps,
            "round trips": trips, "tau_rt": tau, "P(q>0) per pair": np.round(frac, 3).tolist(),
            "z P(q>0)": float(z.max()), "ESS q/s": ess_q / seconds, "R-hat H": float(azs.rhat(energy)),
            "R-hat q": float(azs.rhat(q))}


def compile_kernels(J) -> None:
    """Compile both paths (PT and one rung) before any timing."""
    rng = np.random.default_rng(0)
    dense_tempering_trace(J, dense_tempering_init(J, geometric_ladder(T_LOW, T_HIGH, 2), 2, rng), 2)
    dense_tempering_trace(J, dense_metropolis_init(J, 1.0 / T_LOW, 2, rng), 2)


def numba_rows(J, n_rungs: int, copies: int, sweeps: int, tune: int, rng) -> tuple[list[dict], np.ndarray]:
    """(a) numba PT, S sweeps of M rungs; (b) numba single-T Metropolis, M·S sweeps; same copies, same J, both
    after ``tune`` (× M for single-T) discarded sweeps from independent random spins."""
    n, betas = J.shape[0], geometric_ladder(T_LOW, T_HIGH, n_rungs)
    pt, _ = dense_tempering_run(J, dense_tempering_init(J, betas, copies, rng), tune)
    single, _ = dense_tempering_run(J, dense_metropolis_init(J, 1.0 / T_LOW, copies, rng), n_rungs * tune)
    t0 = time.perf_counter()
    pt, tr = dense_tempering_trace(J, pt, sweeps)
    t_pt = time.perf_counter() - t0
    t0 = time.perf_counter()
    single, tr1 = dense_tempering_trace(J, single, n_rungs * sweeps, overlap_every=n_rungs)
    t_single = time.perf_counter() - t0
    trips = int(tr.round_trips.sum())
    tau = n_rungs * sweeps * copies / trips if trips else float("nan")
    replica_sweeps = copies * n_rungs * sweeps
    rows = [sampler_row("numba PT", tr.energy / n, tr.overlap, t_pt, replica_sweeps, trips, tau),
            sampler_row("numba single-T", tr1.energy / n, tr1.overlap, t_single, replica_sweeps, 0)]
    return rows, swap_acceptance(pt)


def short_runs(J, n_rungs: int, copies: int, sweeps: int, repeats: int, rng) -> None:
    """Ergodicity at a small budget: over independent repeats, how often each sampler's q fails the symmetry
    (R-hat q > 1.05 or |P(q > 0) − ½| > 4 MCSE in some pair)."""
    results = [numba_rows(J, n_rungs, copies, sweeps, sweeps // 10, rng)[0] for _ in range(repeats)]
    for k, name in enumerate(("numba PT", "numba single-T")):
        rhat = np.array([r[k]["R-hat q"] for r in results])
        z = np.array([r[k]["z P(q>0)"] for r in results])
        print(f"short runs ({repeats} x {sweeps} PT sweeps = {n_rungs * sweeps} single-T sweeps, {copies} copies) "
              f"{name:15s}: fail {np.mean((rhat > 1.05) | (z > 4)):.0%}, R-hat q median {np.median(rhat):.3f} "
              f"max {rhat.max():.3f}, z P(q>0) median {np.median(z):.2f}")


def python_rows(n: int, draws: int, replicas: int, seed: int) -> list[dict]:
    """The earlier pair: Python-level PT (``fit``) and the compiled ``fit(model, "heat_bath")``, 4 chains."""
    spec = sk.SKSpec(n=n, T=T_LOW, sample_seed=seed)
    model, c = sk.sk_model(spec), sk.sk_couplings(spec)
    kw = dict(draws=draws, tune=draws // 2, chains=4, seed=seed, record_spins=True, free_energy=())
    t0 = time.perf_counter()
    pt = fit(model, "parallel_tempering", n_replicas=replicas, beta_min=1.0 / (T_HIGH / T_LOW), **kw)
    t_pt = time.perf_counter() - t0
    t0 = time.perf_counter()
    hb = fit(model, "heat_bath", sweeps=replicas, **kw)
    t_hb = time.perf_counter() - t0
    d, rows = diagnostics(pt), []
    for name, dt, t, trips, tau in [("python PT (fit)", pt, t_pt, d["round_trips"], d["round_trip_time_sweeps"]),
                                    ("heat bath (fit)", hb, t_hb, 0, None)]:
        s = dt.posterior["spins"].values.astype(float)
        e = -c.log_weight(dt.posterior["spins"].values) / n * spec.T
        q = np.einsum("cdi,cdi->cd", s[0::2], s[1::2]) / n
        rows.append(sampler_row(name, e, q, t, 4 * draws * replicas, trips, tau))
    return rows


def print_table(rows: list[dict]) -> None:
    cols = ["sampler", "sweeps", "seconds", "H/N", "ESS", "ESS/s", "ESS/1k sweeps", "round trips", "tau_rt",
            "ESS q/s", "ESS q/1k sweeps", "R-hat H", "R-hat q", "z P(q>0)", "P(q>0) per pair"]
    print(" | ".join(cols))
    for r in rows:
        cells = [f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in cols]
        print(" | ".join(cells))
    by = {r["sampler"]: r for r in rows}
    a, b = by["numba PT"], by["numba single-T"]
    print(f"ratio numba PT / numba single-T: ESS/s {a['ESS/s'] / b['ESS/s']:.2f}, "
          f"ESS per sweep {a['ESS/1k sweeps'] / b['ESS/1k sweeps']:.2f}, ESS(q)/s {a['ESS q/s'] / b['ESS q/s']:.1f}, "
          f"ESS(q) per sweep {a['ESS q/1k sweeps'] / b['ESS q/1k sweeps']:.1f}, "
          f"time per sweep {a['seconds'] / b['seconds']:.2f}")
    if "python PT (fit)" in by:
        p, h = by["python PT (fit)"], by["heat bath (fit)"]
        print(f"ratio python PT / heat bath (fit) ESS/s {p['ESS/s'] / h['ESS/s']:.2f} (the earlier 0.11); "
              f"numba PT / python PT ESS/s {a['ESS/s'] / p['ESS/s']:.1f}")


def part_pt(n: int, sweeps: int, tune: int, replicas: int, copies: int, old_draws: int, seed: int) -> None:
    J = sk.sk_couplings_matrix(n, seed)
    rng = np.random.default_rng([seed, 1])
    compile_kernels(J)
    rows, acc = numba_rows(J, replicas, copies, sweeps, tune, rng)
    print(f"SK N = {n}, T = {T_LOW}, h = 0; {copies} copies; PT {replicas} rungs T = {T_HIGH} … {T_LOW} x {sweeps} "
          f"sweeps vs single-T {replicas * sweeps} sweeps (tune {tune} x the same, discarded)")
    print(f"numba PT swap acceptance: {np.round(acc, 2).tolist()}")
    if old_draws:
        rows += python_rows(n, old_draws, replicas, seed)
    print_table(rows)
    short_runs(J, replicas, copies, max(sweeps // 50, 100), 10, rng)


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
    p.add_argument("--sweeps", type=int, default=50_000, help="PT sweeps (single-T: replicas x this)")
    p.add_argument("--tune", type=int, default=5_000)
    p.add_argument("--copies", type=int, default=8)
    p.add_argument("--old-draws", type=int, default=2000, help="draws of the fit() rows; 0 skips them")
    p.add_argument("--draws", type=int, default=4000, help="PT draws per ground state (part e0)")
    p.add_argument("--replicas", type=int, default=16)
    p.add_argument("--sizes", default="32,48,64,96,128")
    p.add_argument("--instances", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    print(load_note())
    if a.part == "pt":
        part_pt(a.n, a.sweeps, a.tune, a.replicas, a.copies, a.old_draws, a.seed)
    else:
        part_e0([int(s) for s in a.sizes.split(",")], a.instances, a.draws, a.replicas)
    print(load_note())


if __name__ == "__main__":
    main()
