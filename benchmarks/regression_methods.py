"""Benchmark: every method on the built-in conjugate regression, against the exact answer.

For each method: wall time of the first fit (includes compilation) and of a second fit with
another seed (the compiled model is reused), min bulk ESS per second of the second fit, and
the free-energy error against the exact −ln p(y). The headline ratio is nutpie's NUTS against
PyMC's own NUTS in min-bulk-ESS per second, measured in this same run.

    python benchmarks/regression_methods.py [--draws 2000] [--chains 4]
"""

from __future__ import annotations

import argparse
import logging
import time

from physml.inference import fit, free_energies, mcmc_diagnostics
from physml.models import regression as reg

logging.getLogger("pymc").setLevel(logging.ERROR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args()
    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    model = reg.conjugate_model(data, prior)
    exact = -reg.log_evidence_exact(data, prior)
    runs = [("nuts", {"backend": "nutpie"}), ("nuts", {"backend": "pymc"}), ("metropolis", {}),
            ("advi", {}), ("fullrank_advi", {}), ("smc", {})]
    rows = []
    for method, options in runs:
        draws = args.draws * (4 if method == "metropolis" else 1)
        kw = dict(draws=draws, tune=1000, chains=args.chains, progress=False, **options)
        t0 = time.perf_counter()
        fit(model, method, seed=1, **kw)
        first = time.perf_counter() - t0
        dt = fit(model, method, seed=2, **kw)
        wall = dt.attrs["physml_wall_time_s"]
        ess = mcmc_diagnostics(dt)["min_ess_bulk"]  # VI: ESS of its independent draws from q
        fe = {r.estimator: r for r in free_energies(dt)}
        main_fe = fe.get("smc") or fe.get("neg_elbo") or fe.get("bridge")
        label = method if not options else f"{method}[{options['backend']}]"
        rows.append((label, first, wall, ess, ess / wall, main_fe, exact))
        print(f"... {label} done", flush=True)
    print(f"\nBuilt-in conjugate regression (n={data.n}, d={data.d}, rho=0.95); exact -ln p(y) = {exact:.4f}")
    print(f"{'method':22s} {'1st fit s':>9s} {'fit s':>8s} {'min ESS':>8s} {'ESS/s':>9s}  {'free energy (estimator)':>28s} {'error':>8s} {'err/se':>7s}")
    for label, first, wall, ess, rate, rec, ex in rows:
        fe_txt = f"{rec.value:.3f}±{rec.se:.3f} ({rec.estimator})" if rec else "-"
        err = rec.value - ex if rec else float("nan")
        z = err / rec.se if rec and rec.se > 0 else float("nan")
        print(f"{label:22s} {first:9.2f} {wall:8.2f} {ess:8.0f} {rate:9.0f}  {fe_txt:>28s} {err:8.4f} {z:7.2f}")
    nutpie = next(r for r in rows if r[0] == "nuts[nutpie]")
    pymc_nuts = next(r for r in rows if r[0] == "nuts[pymc]")
    print(f"\nnutpie / PyMC NUTS, min bulk ESS per second (same run): {nutpie[4] / pymc_nuts[4]:.1f}x")


if __name__ == "__main__":
    main()
