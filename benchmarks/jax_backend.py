r"""NUTS backends on CPU: nutpie over numba (the default) vs ``backend="jax"`` (nutpie over JAX), measured in
the same run, with NumPyro via ``pymc.sampling.jax`` (the candidate not chosen; needs ``pip install numpyro``)
beside them when it is installed.

Per model and backend: *compile* — building the compiled model (``compiled_nutpie`` /
``compiled_nutpie_jax``; cached per ``pm.Model`` afterwards, so paid once per model) and a 1-draw fit (JAX
compiles at the first gradient); *sample* — one
``fit(model, "nuts", backend=...)`` on the compiled model (no free energy, no log-likelihood group);
ESS/s = min bulk ESS over the parameters / sample seconds.  NumPyro re-traces and re-compiles inside every
call, so its "sample" column is a whole call, compilation included, and its compile column is empty.
Ratios are against the default backend.  Time to k fits of one model is compile + k·sample; the
break-even k where the JAX backend overtakes the default is printed per model.

Models: the conjugate regression of ``physml.models.regression`` (n = 40, d = 3: gradients cost
microseconds, so per-gradient call overhead decides) and a logistic regression with ``--rows`` rows
(default 10⁵, d = 4, built here: the gradient is a pass over the data, so its speed decides).

Run ``python benchmarks/jax_backend.py [--rows N] [--draws D] [--no-numpyro]`` (about 5 minutes on two
busy cores).  Needs ``pip install physml[jax]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time

import numpy as np

from timing import load_note, quiet_pymc, ratio

quiet_pymc()

import pymc as pm  # noqa: E402

from physml.inference import fit  # noqa: E402
from physml.inference.convergence import mcmc_diagnostics  # noqa: E402
from physml.inference.mcmc.jax_backend import compiled_nutpie_jax, require_jax  # noqa: E402
from physml.inference.pymc_compat import compiled_nutpie  # noqa: E402
from physml.models import regression as reg  # noqa: E402

COMPILERS = {"nutpie": compiled_nutpie, "jax": compiled_nutpie_jax}


def logistic_model(rows: int, seed: int = 0) -> pm.Model:
    """y ~ Bernoulli(logit⁻¹(b0 + X b)), X ~ N(0, I₄), b0 ~ N(0, 2), b ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 4))
    y = rng.random(rows) < 1.0 / (1.0 + np.exp(-(X @ np.array([0.5, -1.0, 0.25, 0.0]) - 0.3)))
    with pm.Model() as model:
        data = pm.Data("X", X)
        b0 = pm.Normal("b0", 0.0, 2.0)
        b = pm.Normal("b", 0.0, 1.0, shape=4)
        pm.Bernoulli("y", logit_p=b0 + data @ b, observed=y.astype("int8"))
    return model


def regression_model() -> pm.Model:
    data = reg.synthetic_data()
    return reg.conjugate_model(data, reg.ConjugatePrior(data.d))


def measure_nutpie(model, backend: str, draws: int, chains: int, seed: int) -> dict:
    """Compile = building the model + a 1-draw fit (JAX compiles lazily, at the first gradient); then one fit."""
    t0 = time.perf_counter()
    COMPILERS[backend](model)
    fit(model, "nuts", backend=backend, draws=1, tune=1, chains=1, seed=seed, free_energy=(),
        idata_kwargs={"log_likelihood": False})
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = fit(model, "nuts", backend=backend, draws=draws, tune=draws, chains=chains, seed=seed,
                 free_energy=(), idata_kwargs={"log_likelihood": False})
    sample_s = time.perf_counter() - t0
    return {"compile_s": compile_s, "sample_s": sample_s, "ess": float(result["diagnostics"]["min_ess_bulk"])}


def measure_numpyro(model, draws: int, chains: int, seed: int) -> dict:
    from pymc.sampling.jax import sample_numpyro_nuts

    t0 = time.perf_counter()
    with model:
        result = sample_numpyro_nuts(draws=draws, tune=draws, chains=chains, random_seed=seed, progressbar=False,
                                     chain_method="vectorized", compute_convergence_checks=False,
                                     idata_kwargs={"log_likelihood": False})
    sample_s = time.perf_counter() - t0
    return {"compile_s": math.nan, "sample_s": sample_s, "ess": float(mcmc_diagnostics(result)["min_ess_bulk"])}


def break_even(default: dict, jax: dict) -> str:
    """Who wins one cold fit of E effective draws: total = compile + E · (sample seconds per effective draw)."""
    gain = default["sample_s"] / default["ess"] - jax["sample_s"] / jax["ess"]  # s per effective draw saved by jax
    extra = jax["compile_s"] - default["compile_s"]  # compile seconds jax costs more
    if gain > 0:
        return ("jax wins at any size (faster to compile and per effective draw)" if extra <= 0 else
                f"default wins below {extra / gain:.0f} effective draws of one model, jax above")
    if extra >= 0:
        return "default wins at any size (faster to compile and per effective draw)"
    return f"jax wins below {extra / gain:.0f} effective draws of one model (it compiles faster), default above"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=300, help="draws and tuning steps per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-numpyro", action="store_true", help="skip the NumPyro candidate")
    args = parser.parse_args()
    require_jax()
    print(load_note())
    models = {"regression (n=40, d=3)": regression_model, f"logistic (n={args.rows:.0e}, d=4)":
              lambda: logistic_model(args.rows)}
    print(f"{'model':<26} {'backend':<8} {'compile s':>9} {'sample s':>8} {'min ESS':>7} {'ESS/s':>8} "
          f"{'compile ×':>9} {'ESS/s ×':>8}")
    for name, build in models.items():
        rows = {b: measure_nutpie(build(), b, args.draws, args.chains, args.seed) for b in ("nutpie", "jax")}
        if not args.no_numpyro and importlib.util.find_spec("numpyro") is not None:
            rows["numpyro"] = measure_numpyro(build(), args.draws, args.chains, args.seed)
        base = rows["nutpie"]
        for backend, r in rows.items():
            rate = r["ess"] / r["sample_s"]
            compile_ratio = "–" if math.isnan(r["compile_s"]) else ratio(r["compile_s"], base["compile_s"])
            print(f"{name:<26} {backend:<8} {r['compile_s']:9.2f} {r['sample_s']:8.2f} {r['ess']:7.0f} {rate:8.1f} "
                  f"{compile_ratio:>9} {ratio(rate, base['ess'] / base['sample_s']):>8}",
                  flush=True)
        print(f"  → {name}: {break_even(base, rows['jax'])}")
    print(load_note())


if __name__ == "__main__":
    main()
