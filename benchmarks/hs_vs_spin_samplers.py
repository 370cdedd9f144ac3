"""ESS/s of |M| and E at L = 16 (--L), K = 0.35 and K_c, 2 chains × 1000 draws on one core: HS + NUTS vs spin samplers.

Methods: checkerboard (baseline), heat_bath, swendsen_wang, wolff (``tune`` = 200 sweeps) and
Hubbard–Stratonovich + nutpie NUTS at shift margins 0.1, 0.5, 1.5 (``tune`` = draws, Rao–Blackwellised
E and |M|). Same L, K, chains and draws for every method; every method runs its chains on one core
(nutpie ``cores=1``; the spin samplers run chains one after the other). ESS is ArviZ's mean-ESS of
the per-draw observables. Every row is timed the same three ways:

* ``fit cold``: the first ``fit(..., free_energy=())`` in this process (numba cache load / nutpie
  compilation, sampling, ArviZ diagnostics, result tree);
* ``fit warm``: the same call again with another seed (its ESS/s is the "whole fit" ESS/s);
* ``sampling``: warm, sampling only — kernel construction, Wolff's pilot, tuning and draws with the
  per-draw observables (for HS: ``nutpie.sample`` plus the Rao–Blackwellised observables), no
  diagnostics; median ESS/s over ``--repeats`` (2) seeds.

Prints one table per K with ratios to the checkerboard measured in the same run, and the load.
``--quick``: L = 8, 200 draws, one margin (0.5), one sampling repeat.

    python benchmarks/hs_vs_spin_samplers.py [--quick] [--L 16] [--draws 1000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import arviz_stats as azs
import numpy as np
import nutpie
import xarray as xr

from physml.inference import fit
from physml.inference.spins.checkerboard import CheckerboardKernel
from physml.inference.pymc_compat import compiled_nutpie
from physml.inference.spins.swendsen_wang import SwendsenWangKernel
from physml.inference.spins.wolff import WolffKernel
from physml.models import continuous_ising as ci
from physml.models import ising as im
from timing import load_note, quiet_pymc, ratio, timed

SPIN_METHODS = ("checkerboard", "heat_bath", "swendsen_wang", "wolff")
SPIN_TUNE = 200
OBSERVABLES = ["abs_magnetisation", "energy"]


def spin_kernel(method, couplings, tune, rng):
    """The kernel ``fit(model, method)`` builds; Wolff's clusters per draw from the same pilot as ``run_wolff``."""
    if method == "wolff":
        pilot = WolffKernel(couplings, 1)
        _, mean_size = pilot.burn_in(rng, pilot.init(rng=rng), max(tune, 20))
        return WolffKernel(couplings, max(1, int(round(couplings.n_spins / mean_size))))
    if method == "swendsen_wang":
        return SwendsenWangKernel(couplings)
    return CheckerboardKernel(couplings, "heat_bath" if method == "heat_bath" else "metropolis")


def spin_sampling(method, couplings, draws, chains, seed):
    """Sampling only: chains one after the other, E/N and |M|/N per draw (as ``run_spin_kernel``)."""
    rngs = np.random.default_rng(seed).spawn(chains + 1)
    kernel = spin_kernel(method, couplings, SPIN_TUNE, rngs[-1])
    per_chain = []
    for rng in rngs[:-1]:
        state, _, _ = kernel.sample(rng, kernel.init(rng=rng), SPIN_TUNE)
        per_chain.append(kernel.sample(rng, state, draws)[1])
    return xr.Dataset({k: (("chain", "draw"), np.stack([o[k] for o in per_chain])) for k in OBSERVABLES})


def hs_sampling(model, draws, chains, seed):
    """Sampling only: warm nutpie on one core, then the Rao–Blackwellised observables."""
    result = nutpie.sample(compiled_nutpie(model), draws=draws, tune=draws, chains=chains, cores=1, seed=seed,
                           progress_bar=False, save_warmup=False)
    return ci.spin_observables(model, result)[OBSERVABLES]


def ess_per_s(obs: xr.Dataset, seconds: float) -> dict:
    ess = azs.ess(obs, method="mean")
    return {k: float(ess[k]) / seconds for k in OBSERVABLES}


def measure(fit_call, sampling_call, repeats):
    """Cold and warm ``fit`` wall times, warm-fit ESS/s, and median sampling-only ESS/s over seeds."""
    _, cold = timed(fit_call, 1)
    obs, warm = timed(fit_call, 2)
    rates = [ess_per_s(*timed(sampling_call, 10 + i)) for i in range(repeats)]
    return {"fit_cold": cold, "fit_warm": warm, "fit_rate": ess_per_s(obs, warm),
            "sampling": {k: statistics.median(r[k] for r in rates) for k in OBSERVABLES},
            "mean_E": float(obs["energy"].mean()), "mean_M": float(obs["abs_magnetisation"].mean())}


def spin_row(model, couplings, method, draws, chains, repeats):
    def fit_call(seed):
        dt = fit(model, method, draws=draws, tune=SPIN_TUNE, chains=chains, seed=seed, free_energy=(),
                 record_spins=False)
        return dt["posterior"].to_dataset()[OBSERVABLES]

    return measure(fit_call, lambda seed: spin_sampling(method, couplings, draws, chains, seed), repeats)


def hs_row(couplings, margin, draws, chains, repeats):
    model = ci.continuous_ising_model(couplings, ci.HSSpec(margin))

    def fit_call(seed):
        dt = fit(model, "nuts", draws=draws, tune=draws, chains=chains, seed=seed, free_energy=(), cores=1)
        return ci.spin_observables(model, dt)[OBSERVABLES]

    return measure(fit_call, lambda seed: hs_sampling(model, draws, chains, seed), repeats)


def print_table(rows, L, K, chains, draws):
    base = rows["checkerboard"]
    print(f"\nL = {L}, K = {K:.4f}, {chains}×{draws} draws; exact E/N = "
          f"{im.kaufman_observables(L, K)['energy_per_spin']:.4f}; {load_note()}")
    print("| method | E/N | |M|/N | fit cold s | fit warm s | ESS(|M|)/s sampling | ESS(E)/s sampling "
          "| ratio |M| sampling | ratio E sampling | ratio |M| warm fit | ratio E warm fit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for m, r in rows.items():
        s, f = r["sampling"], r["fit_rate"]
        print(f"| {m} | {r['mean_E']:.4f} | {r['mean_M']:.4f} | {r['fit_cold']:.3g} | {r['fit_warm']:.3g} | "
              f"{s['abs_magnetisation']:.4g} | {s['energy']:.4g} | "
              f"{ratio(s['abs_magnetisation'], base['sampling']['abs_magnetisation'])} | "
              f"{ratio(s['energy'], base['sampling']['energy'])} | "
              f"{ratio(f['abs_magnetisation'], base['fit_rate']['abs_magnetisation'])} | "
              f"{ratio(f['energy'], base['fit_rate']['energy'])} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="L = 8, 200 draws, margin 0.5, one sampling repeat")
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="sampling-only repeats (seeds) per method")
    ap.add_argument("--margins", default="0.1,0.5,1.5")
    a = ap.parse_args(argv)
    if a.quick:
        a.L, a.draws, a.repeats, a.margins = 8, 200, 1, "0.5"
    warnings.filterwarnings("ignore")
    quiet_pymc()
    print(load_note())
    for K in (0.35, im.K_CRITICAL):
        couplings = im.ising_couplings(a.L, K)
        model = im.ising_model_from_couplings(couplings)
        rows = {m: spin_row(model, couplings, m, a.draws, a.chains, a.repeats) for m in SPIN_METHODS}
        for margin in map(float, a.margins.split(",")):
            rows[f"hs_nuts(margin={margin:g})"] = hs_row(couplings, margin, a.draws, a.chains, a.repeats)
        print_table(rows, a.L, K, a.chains, a.draws)


if __name__ == "__main__":
    main()
