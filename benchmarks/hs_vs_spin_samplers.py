"""ESS per second of |M| and E: HS + NUTS (continuous Ising model) against the spin samplers.

Same L, K and draws for every method; ESS from ArviZ on the per-draw observables (Rao–Blackwellised
for HS); time is the sampling wall time of a second, warm call (nutpie compilation excluded and
reported separately). Prints one table per K and the ratio to the checkerboard baseline measured
in the same run. Also measures the HS shift margin (c = 4K + margin).

    python benchmarks/hs_vs_spin_samplers.py [--L 16] [--draws 1000]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import arviz_stats as azs

from physml.inference import diagnostics, fit
from physml.models import continuous_ising as ci
from physml.models import ising as im

warnings.filterwarnings("ignore")
logging.getLogger("pymc").setLevel(logging.ERROR)


def spin_row(model, method, draws, chains, seed):
    dt = fit(model, method, draws=draws, tune=200, chains=chains, seed=seed, free_energy=(), record_spins=False)
    d, t = diagnostics(dt), dt.attrs["physml_wall_time_s"]
    return {"ess_M": d["ess_abs_magnetisation"], "ess_E": d["ess_energy"], "time": t,
            "mean_E": d["mean_energy"], "mean_M": d["mean_abs_magnetisation"]}


def hs_row(cp, margin, draws, chains, seed):
    model = ci.continuous_ising_model(cp, ci.HSSpec(margin))
    t0 = time.perf_counter()
    fit(model, "nuts", draws=10, tune=10, chains=1, seed=seed, free_energy=())  # compile
    compile_s = time.perf_counter() - t0
    dt = fit(model, "nuts", draws=draws, tune=draws, chains=chains, seed=seed, free_energy=())
    obs = ci.spin_observables(model, dt)[["energy", "abs_magnetisation"]]
    ess = azs.ess(obs, method="mean")
    return {"ess_M": float(ess["abs_magnetisation"]), "ess_E": float(ess["energy"]),
            "time": dt.attrs["physml_wall_time_s"], "compile": compile_s,
            "mean_E": float(obs["energy"].mean()), "mean_M": float(obs["abs_magnetisation"].mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--margins", default="0.1,0.5,1.5")
    a = ap.parse_args()
    for K in (0.35, im.K_CRITICAL):
        cp = im.ising_couplings(a.L, K)
        model = im.ising_model_from_couplings(cp)
        rows = {m: spin_row(model, m, a.draws, a.chains, 1) for m in ("checkerboard", "heat_bath", "swendsen_wang",
                                                                       "wolff")}
        for margin in map(float, a.margins.split(",")):
            rows[f"hs_nuts(margin={margin:g})"] = hs_row(cp, margin, a.draws, a.chains, 1)
        base = rows["checkerboard"]
        exact_E = im.kaufman_observables(a.L, K)["energy_per_spin"]
        print(f"\nL = {a.L}, K = {K:.4f}, {a.chains}x{a.draws} draws; exact E/N = {exact_E:.4f}")
        print("| method | E/N | |M|/N | ESS(|M|)/s | ESS(E)/s | ratio |M| vs checkerboard | ratio E | time (s) |")
        print("|---|---|---|---|---|---|---|---|")
        for m, r in rows.items():
            em, ee = r["ess_M"] / r["time"], r["ess_E"] / r["time"]
            print(f"| {m} | {r['mean_E']:.4f} | {r['mean_M']:.4f} | {em:.1f} | {ee:.1f} | "
                  f"{em / (base['ess_M'] / base['time']):.3g} | {ee / (base['ess_E'] / base['time']):.3g} | "
                  f"{r['time']:.2f} |")


if __name__ == "__main__":
    main()
