"""Two far Gaussian modes: parallel tempering finds both, NUTS stays in one per chain.

The toy (``tests/bimodal_toy.py``): θ ∈ R², prior N(0, 10² I), a potential with the mixture
½ N(θ; (8, 0), I) + ½ N(θ; (−8, 0), I) — modes 16 sd apart; posterior weight ½ on each mode and
ln Z = −ln(2π·101) − 64/202 in closed form. For each sampler (PT with random-walk Metropolis and with MALA
in every replica, NUTS via nutpie; 4 chains each, the same draws and tune) it prints every chain's fraction of
draws in the right-hand mode (θ₀ > 0), the pooled weight ± its MCSE (ArviZ, over all chains), R-hat and bulk
ESS of θ₀ and their ESS per second of wall time, PT's round trips, and PT's evidence (stepping stone, BAR, TI
over β) against the exact −ln Z with z. NUTS's ESS is that of its draws as ArviZ computes it; where its chains
disagree (R-hat ≫ 1) the number does not describe the target.

    python benchmarks/pt_bimodal.py [--draws 2000] [--tune 1000] [--seed 1] [--replicas 13]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import arviz_stats as azs
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bimodal_toy import bimodal_model, log_evidence  # noqa: E402
from physml.inference import diagnostics, fit, free_energies  # noqa: E402
from timing import load_note  # noqa: E402


def _summary(name: str, dt, seconds: float) -> None:
    theta0 = dt.posterior["theta"].values[..., 0]
    right = (theta0 > 0).astype(float)
    ess = float(azs.ess(theta0, method="bulk"))
    print(f"{name:10s} per-chain fraction in the +8 mode: {np.array2string(right.mean(axis=1), precision=3)}; "
          f"pooled {right.mean():.3f} ± {float(azs.mcse(right, method='mean')):.3f} (exact 0.5); "
          f"R-hat(θ₀) {float(azs.rhat(theta0)):.3f}, bulk ESS(θ₀) {ess:.0f}, ESS/s {ess / seconds:.1f}, "
          f"wall {seconds:.1f} s")


def _evidence(dt) -> None:
    exact = -log_evidence()
    d = diagnostics(dt)
    print(f"           round trips {d['round_trips']}, round-trip time {d['round_trip_time_steps']:.0f} steps, "
          f"swap acceptance {d['min_swap_acceptance']:.2f}–{d['max_swap_acceptance']:.2f}")
    for r in free_energies(dt):
        flag = "  [" + r.note + "]" if r.note.startswith("unreliable:") else ""
        print(f"           {r.estimator:18s} -ln Z = {r.value:.4f} ± {r.se:.4f} vs exact {exact:.4f}: "
              f"z {(r.value - exact) / r.se:+.2f}{flag}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replicas", type=int, default=13)
    a = ap.parse_args(argv)
    print(load_note())
    model, mu = bimodal_model()
    warnings.simplefilter("ignore")
    fit(model, "nuts", draws=10, tune=10, chains=1, seed=a.seed)  # compile outside the timings
    fit(model, "parallel_tempering", draws=5, tune=0, chains=1, seed=a.seed, n_replicas=3)
    for kernel in ("rwm", "mala"):
        t0 = time.perf_counter()
        dt = fit(model, "parallel_tempering", draws=a.draws, tune=a.tune, chains=4, seed=a.seed,
                 n_replicas=a.replicas, kernel=kernel)
        _summary(f"PT/{kernel}", dt, time.perf_counter() - t0)
        _evidence(dt)
    t0 = time.perf_counter()
    dt = fit(model, "nuts", draws=a.draws, tune=a.tune, chains=4, seed=a.seed)
    _summary("NUTS", dt, time.perf_counter() - t0)
    print(load_note())


if __name__ == "__main__":
    main()
