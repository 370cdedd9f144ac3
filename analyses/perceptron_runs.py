r"""The computations of ``physml run perceptron``: T = 0 learning curves by exact HMC, the annealed probit model by
NUTS and mean-field ADVI, and the binary perceptron's α sweeps (hysteresis).

* Learning curves: per (N, α, teacher) an independent data set; the version space (T = 0 Gibbs posterior) sampled
  exactly by :func:`~physml.inference.mcmc.cone_hmc.sample_cone_gaussian` from z₀ = √N w* (inside the cone),
  ``burn`` iterations dropped; per data set ε_Gibbs and ε_Bayes (:func:`~physml.models.perceptron.student_errors`);
  mean ± se over teachers; per α the weighted fit ε(N) = ε(∞) + a/N (weights 1/se², se of ε(∞) from the
  unscaled covariance), with z = (ε(∞) − ε_RS)/se against the Gibbs and Bayes RS curves.
* Annealing: one data set (N = ``n``, α = ``alpha``); the probit model at each T by NUTS, by parallel tempering
  (replicas at the tempered likelihood Φ(y w·x/T)^β, β from 0 to 1) and by MF-ADVI, against the exact T = 0
  posterior of the same data set (HMC, more draws). PT also gives the evidence −ln Z(T),
  Z(T) = E_prior[∏_μ Φ(y_μ w·x_μ/T)] (pt_bar, pt_ti, pt_stepping_stone from the same run); as T → 0 it tends to
  −ln V, V = P_prior(version space), with an O(T²) error (Φ(u) − Θ(u) is odd, so the O(T) term of each face
  cancels). V is estimated by sequential exact HMC: V = ½ ∏_{μ≥2} P(y_μ x_μ·z > 0 | constraints 1..μ−1), each
  factor the fraction of ``volume_draws`` cone-HMC draws, its MCSE by ArviZ, the se of ln V by the delta method
  (independent stages).
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
from ..inference.records import diagnostics, free_energies
from ..inference.mcmc.cone_hmc import sample_cone_gaussian
from ..inference.spins.kernel import with_ghost
from ..inference.spins.perceptron_metropolis import PerceptronMetropolisKernel
from ..models import perceptron as pc
from ..models import perceptron_binary as pb

BETA_RAMP = (0.5, 1.0, 2.0, 3.0, 4.0)
ADVI_OPTIONS = {"n_mc": 8, "max_steps": 6000}
PT_ESTIMATORS = ("pt_bar", "pt_ti", "pt_stepping_stone")
EXACT_DRAWS_FACTOR = 100  # the annealing data set's T = 0 reference: 100 × the learning-curve draws (cheap)


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
            "step_size": float(np.mean(st["step_size"].values)), "max_rhat": diagnostics(dt)["max_rhat"],
            "min_ess_bulk": diagnostics(dt)["min_ess_bulk"], "warnings": notes}


def version_space_free_energy(A, inside, draws: int, rng) -> dict:
    """−ln V, V = P(A z > 0) for z ~ N(0, I), by sequential exact HMC (module docstring), with its se; ``inside``
    is a point with A z > 0 (each stage starts from the previous stage's last draw when it is inside the next cone)."""
    log_v, var, start = math.log(0.5), 0.0, inside
    for mu in range(1, len(A)):
        z, _ = sample_cone_gaussian(A[:mu], start, draws + 5, rng)
        hits = (z[5:] @ A[mu] > 0).astype(float)
        p = float(hits.mean())
        if p == 0.0:
            return {"value": math.inf, "se": math.nan, "note": f"unreliable: no draw satisfied constraint {mu + 1}"}
        log_v += math.log(p)
        var += (float(azs.mcse(hits[None], method="mean")) / p) ** 2 if p < 1.0 else 0.0
        start = z[-1] if hits[-1] else inside
    return {"value": -log_v, "se": math.sqrt(var), "note": f"{len(A) - 1} stages x {draws} cone-HMC draws"}


def _pt_row(dt, T: float, teacher, exact: dict, nuts: dict | None, notes: list[str]) -> dict:
    w, diag = dt["posterior"]["w"].values, diagnostics(dt)
    row = {"T": T, **pc.student_errors(_posterior_w(dt, len(teacher)), teacher), "gibbs_se": gibbs_mcse(w, teacher)}
    row["z_vs_exact"] = (row["gibbs"] - exact["gibbs"]) / math.hypot(row["gibbs_se"], exact["gibbs_se"])
    row["z_vs_nuts"] = ((row["gibbs"] - nuts["gibbs"]) / math.hypot(row["gibbs_se"], nuts["gibbs_se"])
                        if nuts else math.nan)
    records = {r.estimator: r for r in free_energies(dt)}
    row["free_energy"] = {k: {"value": r.value, "se": r.se, "note": r.note} for k, r in records.items()
                          if k in PT_ESTIMATORS}
    keys = ("max_rhat", "min_ess_bulk", "round_trips", "min_swap_acceptance", "n_replicas")
    return {**row, **{k: diag[k] for k in keys}, "warnings": notes}


def _exact(s: dict, teacher, X, y, rng, methods) -> dict:
    z, _ = exact_posterior(teacher, X, y, EXACT_DRAWS_FACTOR * s["draws"], s["burn"], rng)
    exact = {**pc.student_errors(z, teacher), "gibbs_se": gibbs_mcse(z[None], teacher)}
    if "parallel_tempering" in methods:
        exact["version_space"] = version_space_free_energy(X * y[:, None], teacher * math.sqrt(len(teacher)),
                                                           s["volume_draws"], rng)
    return exact


def annealing(s: dict, methods: list[str], temperatures, seed: int, log) -> tuple[dict, dict]:
    """The probit model at each T (decreasing) by NUTS, PT and MF-ADVI on one data set, against its exact T = 0."""
    n, alpha = s["n"], s["alpha"]
    rng = rng_for(seed, 2)
    teacher, X, y = pc.teacher_student_data(n, alpha, rng)
    exact = _exact(s, teacher, X, y, rng, methods)
    out, trees = {"n": n, "alpha": alpha, "exact": exact, "nuts": [], "parallel_tempering": [], "advi": []}, {}
    for i, T in enumerate(sorted(temperatures, reverse=True)):
        model = pc.gibbs_model(X, y, T)
        if "nuts" in methods:
            log(f"NUTS at T = {T}")
            dt, notes = _fit_quietly(model, "nuts", draws=s["nuts_draws"], tune=s["nuts_draws"], chains=2,
                                     seed=seed + i, free_energy=())
            trees[f"nuts_T{T:g}"] = dt
            out["nuts"].append(_nuts_row(dt, float(T), teacher, exact, notes))
        if "parallel_tempering" in methods:
            log(f"parallel tempering ({s['pt_kernel']}, {s['pt_replicas']} replicas) at T = {T}")
            dt, notes = _fit_quietly(model, "parallel_tempering", kernel=s["pt_kernel"], n_replicas=s["pt_replicas"],
                                     draws=s["pt_draws"], tune=s["pt_draws"], chains=2, seed=seed + 199 + i)
            trees[f"pt_T{T:g}"] = dt
            nuts = out["nuts"][-1] if "nuts" in methods else None
            out["parallel_tempering"].append(_pt_row(dt, float(T), teacher, exact, nuts, notes))
        if "advi" in methods:
            log(f"MF-ADVI at T = {T}")
            dt, notes = _fit_quietly(model, "advi", draws=s["nuts_draws"], seed=seed + 99 + i, free_energy=(),
                                     **ADVI_OPTIONS)
            trees[f"advi_T{T:g}"] = dt
            out["advi"].append({"T": float(T), **pc.student_errors(_posterior_w(dt, n), teacher),
                                "converged": bool(diagnostics(dt).get("converged", False)), "warnings": notes})
    if out["parallel_tempering"]:
        out["evidence_limit"] = evidence_limit(out["parallel_tempering"], exact["version_space"])
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


def evidence_limit(pt_rows: list[dict], version_space: dict, estimator: str = "pt_bar") -> dict:
    """−ln Z(T) → −ln V as T → 0: the smallest-T value and the two smallest T's extrapolated in T²
    (F = a + bT², the leading softening error; linear in the two values, se propagated), each with z against V."""
    rows = sorted((r for r in pt_rows if estimator in r["free_energy"]), key=lambda r: r["T"])
    if not rows or not math.isfinite(version_space["value"]):
        return {}
    f = [(r["T"], r["free_energy"][estimator]["value"], r["free_energy"][estimator]["se"]) for r in rows[:2]]
    out = {"estimator": estimator, "T_min": f[0][0], "at_T_min": f[0][1], "at_T_min_se": f[0][2]}
    if len(f) == 2:
        (t2, v2, s2), (t1, v1, s1) = f
        c2, c1 = t1**2 / (t1**2 - t2**2), -(t2**2) / (t1**2 - t2**2)
        out.update({"extrapolated": c2 * v2 + c1 * v1, "extrapolated_se": math.hypot(c2 * s2, c1 * s1), "T_pair": [t2, t1]})
    for key in ("at_T_min", "extrapolated"):
        if key in out:
            out[f"{key}_z"] = (out[key] - version_space["value"]) / math.hypot(out[f"{key}_se"], version_space["se"])
    return out
