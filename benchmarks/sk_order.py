"""SK spin-glass Binder ratio and order parameter over N: Binder crossings near T_c = 1, q_EA(T), equilibration.

Per sample two independent numba PT chains (inference/spins/dense_tempering.py, geometric ladder T = 1.6 … 0.4,
the same for all N) measure the overlap q and the energy at every rung; disorder averages over samples with
jackknife / bootstrap errors (analyses/spin_glass_order.py). Prints g_N(T) and [⟨|q|⟩](T) per N, the crossing
temperatures of consecutive sizes and the worst z of the equilibration identity [H]/N = −β(1 − [q²])/2.

    nice -n 10 .venv/bin/python benchmarks/sk_order.py [--sizes 16,32,64,128] [--samples 256] [--sweeps 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from physml.analyses.spin_glass_order import order_figure, order_study
from sk_ground_state import save_study
from timing import load_note


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="16,32,64,128")
    p.add_argument("--samples", type=int, default=160)
    p.add_argument("--sweeps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="results/benchmarks/sk_order")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    print(load_note(), flush=True)
    study = order_study(sizes, a.samples, a.seed, sweeps=a.sweeps, progress=lambda m: print(m, flush=True))
    print("T      " + "  ".join(f"{t:6.3f}" for t in study["rows"][0]["T"]))
    for r in study["rows"]:
        print(f"g   N={r['n']:<4d}" + "  ".join(f"{g:6.3f}" for g in r["binder"]))
        print(f"±g  N={r['n']:<4d}" + "  ".join(f"{g:6.3f}" for g in r["binder_se"]))
        print(f"|q| N={r['n']:<4d}" + "  ".join(f"{q:6.3f}" for q in r["abs_q"]))
    print("RS q      " + "  ".join(f"{q:6.3f}" for q in study["rs_q"]))
    for c in study["crossings"]:
        where = f"T = {c['T_cross']:.3f} ± {c['se']:.3f}" if np.isfinite(c["T_cross"]) else "no crossing"
        print(f"Binder crossing N = {c['sizes'][0]}/{c['sizes'][1]}: {where} "
              f"(found in {c['bootstrap_found']:.0%} of bootstrap resamples)")
    worst = max(float(np.nanmax(np.abs(r["identity_z"]))) for r in study["rows"])
    print(f"equilibration identity: worst |z| {worst:.2f} over {len(study['rows'][0]['T'])} T x {len(sizes)} N")
    save_study(Path(a.out), "sk_order", study, order_figure)


if __name__ == "__main__":
    main()
