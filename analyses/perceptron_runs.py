r"""The computations of ``physml run perceptron``: T = 0 learning curves by exact HMC, the annealed probit model by
NUTS and mean-field ADVI, and the binary perceptron's α sweeps (hysteresis).

* Learning curves: per (N, α, teacher) an independent data set; the version space (T = 0 Gibbs posterior) sampled
  exactly by :func:`~physml.inference.mcmc.cone_hmc.sample_cone_gaussian` from z₀ = √N w* (inside the cone),
  ``burn`` iterations dropped; per data set ε_Gibbs and ε_Bayes (:func:`~physml.models.perceptron.student_errors`);
  mean ± se over teachers; per α the weighted fit ε(N) = ε(∞) + a/N (weights 1/se², se of ε(∞) from the
  unscaled covariance), with z = (ε(∞) − ε_RS)/se against the Gibbs and Bayes RS curves.
* Annealing: one data set (N = ``n``, α = ``alpha``); the probit model at each T by NUTS and by MF-ADVI, against
  the exact T = 0 posterior of the same data set (HMC, more draws).
* Binary: nested data (the first P = αN of one set); increasing α from random weights with β annealed up to
  ``beta`` at the first α, decreasing α from the teacher; R averaged over ``sweeps`` measured sweeps after as
  many burn-in sweeps at each α.
"""

from __future__ import annotations

import math
import warnings

import arviz_stats as azs
import numpy as np

from ..inference import fit
from ..inference.records import diagnostics
from ..inference.mcmc.cone_hmc import sample_cone_gaussian
from ..inference.spins.kernel import with_ghost
from ..inference.spins.perceptron_metropolis import PerceptronMetropolisKernel
from ..models import perceptron as pc
from ..models import perceptron_binary as pb

BETA_RAMP = (0.5, 1.0, 2.0, 3.0, 4.0)
ADVI_OPTIONS = {"n_mc": 8, "max_steps": 6000}


def rng_for(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def exact_posterior(teacher, X, y, draws: int, burn: int, rng) -> tuple[np.ndarray, int]:
    """(draws (M, N) of the T = 0 posterior of z, wall hits) by exact HMC started at √N w*."""
    z, bounces = sample_cone_gaussian(X * y[:, None], teacher * math.sqrt(len(teacher)), burn + draws, rng)
    return z[burn:], bounces


def learning_curve_rows(sizes, alphas, s: dict, seed: int, log) -> list[dict]:
    """One row per (N, α): ε_Gibbs, ε_Bayes mean ± se over ``teachers`` data sets."""
    rows = []
    for n in sizes:
        log(f"learning curve N = {n}")
        for ia, alpha in enumerate(alphas):
            per = []
            for k in range(s["teachers"]):
                rng = rng_for(seed, 1, n, ia, k)
                teacher, X, y = pc.teacher_student_data(n, alpha, rng)
                z, _ = exact_posterior(teacher, X, y, s["draws"], s["burn"], rng)
                per.append(pc.student_errors(z, teacher))
            g, b = np.array([e["gibbs"] for e in per]), np.array([e["bayes"] for e in per])
            se = math.sqrt(len(per))
            rows.append({"n": n, "alpha": float(alpha), "gibbs": float(g.mean()), "gibbs_se": float(g.std(ddof=1) / se),
                         "bayes": float(b.mean()), "bayes_se": float(b.std(ddof=1) / se),
                         "bayes_below_gibbs": float(np.mean(b < g)), "teachers": len(per)})
    return rows


def extrapolate(ns, values, ses) -> tuple[float, float, float]:
    """(ε(∞), se, slope a) of the weighted least-squares fit ε(N) = ε(∞) + a/N."""
    x = 1.0 / np.asarray(ns, float)
    coef, cov = np.polyfit(x, np.asarray(values, float), 1, w=1.0 / np.asarray(ses, float), cov="unscaled")
    return float(coef[1]), float(math.sqrt(cov[1, 1])), float(coef[0])


def extrapolation_rows(curve: list[dict]) -> list[dict]:
    """Per α: ε(∞) of Gibbs and Bayes students with se and z against both RS curves."""
    out = []
    for alpha in sorted({r["alpha"] for r in curve}):
        rows = sorted((r for r in curve if r["alpha"] == alpha), key=lambda r: r["n"])
        row = {"alpha": alpha, "rs_gibbs": pc.gibbs_error(alpha), "rs_bayes": pc.bayes_error(alpha)}
        for student in ("gibbs", "bayes"):
            v, se, a = extrapolate([r["n"] for r in rows], [r[student] for r in rows], [r[f"{student}_se"] for r in rows])
            row.update({student: v, f"{student}_se": se, f"{student}_slope": a,
                        f"{student}_z": (v - row[f"rs_{student}"]) / se})
        out.append(row)
    return out


def _fit_quietly(model, method: str, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dt = fit(model, method, **kw)
    return dt, [str(w.message).splitlines()[0] for w in caught if w.category.__module__.startswith("physml")]


def gibbs_mcse(draws, teacher) -> float:
    """MCSE of the mean of arccos(R)/π over draws shaped (chain, draw, N) (ArviZ, autocorrelation-aware)."""
    eps = np.arccos(np.clip(pc.directions(draws) @ teacher, -1.0, 1.0)) / math.pi
    return float(azs.mcse(eps, method="mean"))


def _posterior_w(dt, n: int) -> np.ndarray:
    """Draws of w in chain order (chain 0 then chain 1: the two halves of student_errors are the chains)."""
    return dt["posterior"]["w"].values.reshape(-1, n)


def _nuts_row(dt, T: float, teacher, exact: dict, notes: list[str]) -> dict:
    st, w = dt["sample_stats"], dt["posterior"]["w"].values
    row = {"T": T, **pc.student_errors(_posterior_w(dt, len(teacher)), teacher), "gibbs_se": gibbs_mcse(w, teacher)}
    row["z_vs_exact"] = (row["gibbs"] - exact["gibbs"]) / math.hypot(row["gibbs_se"], exact["gibbs_se"])
    return {**row, "divergences": int(st["diverging"].values.sum()),
            "step_size": float(np.mean(st["step_size"].values)), "warnings": notes}


def annealing(s: dict, methods: list[str], temperatures, seed: int, log) -> tuple[dict, dict]:
    """The probit model at each T (decreasing) by NUTS and MF-ADVI on one data set, against its exact T = 0."""
    n, alpha = s["n"], s["alpha"]
    rng = rng_for(seed, 2)
    teacher, X, y = pc.teacher_student_data(n, alpha, rng)
    z, _ = exact_posterior(teacher, X, y, 10 * s["draws"], s["burn"], rng)
    exact = {**pc.student_errors(z, teacher), "gibbs_se": gibbs_mcse(z[None], teacher)}
    out, trees = {"n": n, "alpha": alpha, "exact": exact, "nuts": [], "advi": []}, {}
    for i, T in enumerate(sorted(temperatures, reverse=True)):
        model = pc.gibbs_model(X, y, T)
        if "nuts" in methods:
            log(f"NUTS at T = {T}")
            dt, notes = _fit_quietly(model, "nuts", draws=s["nuts_draws"], tune=s["nuts_draws"], chains=2,
                                     seed=seed + i, free_energy=())
            trees[f"nuts_T{T:g}"] = dt
            out["nuts"].append(_nuts_row(dt, float(T), teacher, exact, notes))
        if "advi" in methods:
            log(f"MF-ADVI at T = {T}")
            dt, notes = _fit_quietly(model, "advi", draws=s["nuts_draws"], seed=seed + 99 + i, free_energy=(),
                                     **ADVI_OPTIONS)
            trees[f"advi_T{T:g}"] = dt
            out["advi"].append({"T": float(T), **pc.student_errors(_posterior_w(dt, n), teacher),
                                "converged": bool(diagnostics(dt).get("converged", False)), "warnings": notes})
    return out, trees


def _sweep(kernel_rows, teacher, rng, buf, betas, sweeps) -> float:
    """Burn-in at each β of ``betas`` then R averaged over ``sweeps`` measured sweeps at the last."""
    for beta in betas:
        PerceptronMetropolisKernel(kernel_rows, beta, sweeps=sweeps).advance(rng, buf, 1)
    kernel = PerceptronMetropolisKernel(kernel_rows, betas[-1])
    draws = kernel.sample_batch(rng, buf, sweeps, True)
    return float((draws.spins.astype(float) @ teacher).mean() / len(teacher))


def binary_hysteresis(sizes, alphas, s: dict, seed: int, log) -> list[dict]:
    """R along increasing α (random start, β ramped up) and decreasing α (teacher start), per N and data set."""
    rows = []
    for n in sizes:
        log(f"binary perceptron N = {n}")
        for k in range(s["binary_sets"]):
            rng = rng_for(seed, 3, n, k)
            teacher, X, y = pb.binary_data(n, float(alphas[-1]), rng)
            A, tf = X * y[:, None], teacher.astype(float)
            counts = [pc.n_examples(n, a) for a in alphas]
            buf = with_ghost((2 * rng.integers(0, 2, n) - 1).astype(np.int8))
            up = [_sweep(A[:p], tf, rng, buf, (*BETA_RAMP, s["beta"]) if i == 0 else (s["beta"],), s["sweeps"])
                  for i, p in enumerate(counts)]
            buf = with_ghost(teacher.copy())
            down = [_sweep(A[:p], tf, rng, buf, (s["beta"],), s["sweeps"]) for p in counts[::-1]][::-1]
            rows.append({"n": n, "set": k, "alpha": [float(a) for a in alphas], "up": up, "down": down})
    return rows


def _first_at_or_above(alphas, values, threshold) -> float:
    return next((float(a) for a, v in zip(alphas, values) if v >= threshold), math.nan)


def _last_below(alphas, values, threshold) -> float:
    below = [float(a) for a, v in zip(alphas, values) if v < threshold]
    return max(below) if below else math.nan


def _mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan


def hysteresis_summary(rows: list[dict], threshold: float = 0.95) -> list[dict]:
    """Per N: mean R(α) up and down ± se over data sets; per data set the α where the increasing-α branch first
    reaches ``threshold`` (the jump) and the last α where the decreasing-α branch is below it, mean ± se."""
    out = []
    for n in sorted({r["n"] for r in rows}):
        mine = [r for r in rows if r["n"] == n]
        alphas = np.asarray(mine[0]["alpha"])
        up, down = np.array([r["up"] for r in mine]), np.array([r["down"] for r in mine])
        se = math.sqrt(len(mine))
        jumps = [_first_at_or_above(alphas, r["up"], threshold) for r in mine]
        leaves = [_last_below(alphas, r["down"], threshold) for r in mine]
        (ju, ju_se), (ld, ld_se) = _mean_se(jumps), _mean_se(leaves)
        out.append({"n": n, "alpha": alphas.tolist(), "up": up.mean(0).tolist(), "up_se": (up.std(0, ddof=1) / se).tolist(),
                    "down": down.mean(0).tolist(), "down_se": (down.std(0, ddof=1) / se).tolist(),
                    "jump_up_per_set": jumps, "leave_down_per_set": leaves, "alpha_jump_up": ju, "alpha_jump_up_se": ju_se,
                    "alpha_leave_down": ld, "alpha_leave_down_se": ld_se, "threshold": threshold, "sets": len(mine)})
    return out
