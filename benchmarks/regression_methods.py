"""Every method on the built-in conjugate regression (n = 40, d = 3, ρ = 0.95), 4 chains × 2000 draws + 1000 tune, same --cores (1) for all.

For each method: one cold ``fit()`` (seed 1: compilation and set-up included) and ``--repeats`` (2)
warm ``fit()`` calls (seeds 2, 3, …; compiled objects reused), each with the method's default
free-energy estimator, and from the warm calls (medians):

* ``run s``: the method's own part of ``fit()`` (set-up + sampling + ArviZ diagnostics, no free energy);
* ``sampling s``: sampling alone — PyMC's own ``sampling_time`` for PyMC's NUTS and Metropolis
  (the step's set-up and compilation, redone by every ``pm.sample`` call, excluded); for nutpie a
  separate warm ``nutpie.sample`` call with the same seed and settings (its compiled model cached);
  for VI optimisation + evaluation (``time_optimise_s + time_evaluate_s``, Laplace start excluded);
  SMC: not separable (``–``);
* min bulk ESS, and ESS per second of sampling and of the warm call;
* the free-energy error against the exact −ln p(y).

Every sampler gets the same ``cores``: ``pm.sample(cores=C)`` / ``sample_smc(cores=C)`` processes and
nutpie's ``cores=C`` threads (VI runs in one process). Metropolis takes 4× the draws. Headline:
nutpie / PyMC NUTS in min bulk ESS per second, sampling only, warm call and cold call, same run.
``--quick``: 2 chains × 300 draws + 300 tune, one warm repeat.

    python benchmarks/regression_methods.py [--quick] [--draws 2000] [--chains 4] [--cores 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import nutpie

from physml.inference import diagnostics, fit, free_energies, mcmc_diagnostics
from physml.inference.pymc_compat import compiled_nutpie
from physml.models import regression as reg
from timing import load_note, quiet_pymc, ratio, timed

RUNS = (("nuts", {"backend": "nutpie"}), ("nuts", {"backend": "pymc"}), ("metropolis", {}), ("advi", {}),
        ("fullrank_advi", {}), ("smc", {}))
VI = ("advi", "fullrank_advi")


def sampling_seconds(model, method, options, dt, kw) -> float:
    """Sampling alone (see the module docstring); NaN where it cannot be separated."""
    if method in VI:
        d = diagnostics(dt)
        return d["time_optimise_s"] + d["time_evaluate_s"]
    if options.get("backend") == "nutpie":
        _, seconds = timed(nutpie.sample, compiled_nutpie(model), draws=kw["draws"], tune=kw["tune"],
                           chains=kw["chains"], cores=kw["cores"], seed=int(dt.attrs["physml_seed"]),
                           progress_bar=False, save_warmup=False)
        return seconds
    return float(dt["posterior"].attrs.get("sampling_time", float("nan")))


def method_row(model, method, options, args):
    kw = dict(draws=args.draws * (4 if method == "metropolis" else 1), tune=args.tune, chains=args.chains,
              progress=False, **options)
    if method not in VI:
        kw["cores"] = args.cores
    cold_dt, cold = timed(fit, model, method, seed=1, **kw)
    warm = []
    for seed in range(2, 2 + args.repeats):
        dt, call = timed(fit, model, method, seed=seed, **kw)
        ess = mcmc_diagnostics(dt)["min_ess_bulk"]  # VI: ESS of its independent draws from q
        warm.append({"call": call, "run": dt.attrs["physml_wall_time_s"], "ess": ess,
                     "sampling": sampling_seconds(model, method, options, dt, kw), "fe": free_energies(dt)})
    med = {k: statistics.median(w[k] for w in warm) for k in ("call", "run", "sampling", "ess")}
    med["rate_sampling"] = statistics.median(w["ess"] / w["sampling"] for w in warm)
    med["rate_call"] = statistics.median(w["ess"] / w["call"] for w in warm)
    med["rate_cold"] = mcmc_diagnostics(cold_dt)["min_ess_bulk"] / cold
    fe = {r.estimator: r for r in warm[-1]["fe"]}
    rec = fe.get("smc") or fe.get("neg_elbo") or fe.get("bridge")
    label = method if not options else f"{method}[{options['backend']}]"
    return label, cold, med, rec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 chains × 300 draws + 300 tune, one warm repeat")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=1, help="processes (PyMC) / threads (nutpie) for every sampler")
    ap.add_argument("--repeats", type=int, default=2, help="warm fit() calls per method")
    args = ap.parse_args(argv)
    if args.quick:
        args.draws, args.tune, args.chains, args.repeats = 300, 300, 2, 1
    warnings.filterwarnings("ignore")
    quiet_pymc()
    print(load_note(), flush=True)
    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    model = reg.conjugate_model(data, prior)
    exact = -reg.log_evidence_exact(data, prior)
    rows = []
    for method, options in RUNS:
        rows.append(method_row(model, method, options, args))
        print(f"... {rows[-1][0]} done; {load_note()}", flush=True)
    print(f"\nBuilt-in conjugate regression (n={data.n}, d={data.d}, rho=0.95), {args.chains} chains, "
          f"cores={args.cores}, {args.repeats} warm repeat(s); exact -ln p(y) = {exact:.4f}")
    print("| method | cold call s | warm call s | run s | sampling s | min ESS | ESS/s sampling | ESS/s warm call "
          "| free energy (estimator) | error | err/se |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, cold, m, rec in rows:
        fe_txt = "– | – | –"
        if rec:
            err = rec.value - exact
            fe_txt = f"{rec.value:.3f} ± {rec.se:.3f} ({rec.estimator}) | {err:+.4f} | {err / rec.se:+.2f}"
        print(f"| {label} | {cold:.2f} | {m['call']:.2f} | {m['run']:.2f} | {m['sampling']:.2f} | {m['ess']:.0f} | "
              f"{m['rate_sampling']:.0f} | {m['rate_call']:.0f} | {fe_txt} |")
    nutpie_row = next(r[2] for r in rows if r[0] == "nuts[nutpie]")
    pymc_row = next(r[2] for r in rows if r[0] == "nuts[pymc]")
    print(f"\nnutpie / PyMC NUTS, min bulk ESS per second (same run, cores={args.cores}): "
          f"sampling only {ratio(nutpie_row['rate_sampling'], pymc_row['rate_sampling'])}; "
          f"warm fit() call {ratio(nutpie_row['rate_call'], pymc_row['rate_call'])}; "
          f"cold fit() call {ratio(nutpie_row['rate_cold'], pymc_row['rate_cold'])}")
    print(load_note())


if __name__ == "__main__":
    main()
