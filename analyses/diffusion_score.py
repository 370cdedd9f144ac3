r"""The learned-score part of ``physml run diffusion``: denoising score matching as Bayesian linear regression
(``physml.models.diffusion_score``) and the diffusion bound (``physml.inference.diffusion.bound``).

* posterior of the score weights: the exact conjugate (NIG) posterior, NUTS and mean-field ADVI on the same
  model (its sufficient statistics); NUTS means in MCSE units against the exact means, ADVI compared only
  once converged; −ELBO (an upper bound on −ln p(DSM targets)) against the exact evidence;
* generated samples with uncertainty: for exact posterior draws of the weights, the reverse SDE from the same
  noise; W1 / energy distance to fresh data per draw → a band (mean, 5–95 %), beside the exact score and the
  two-sample floor; mode occupancy (fraction of samples nearest each mixture mean);
* where the score is wrong: mean |s − ∇ln p_t|² binned by ln p_t(x) over points from p_t and from a wider box;
* quality vs number of features and training points: distance of the posterior-mean score's samples, mean ± se
  over repeats (new features and training pairs), with the exact score's distance as the floor;
* the bound: B_s(x) ≥ −ln p^SDE(x) per held-out point for the exact score and the posterior-mean learned score
  (denoising form and divergence form), as FreeEnergy records of kind ``upper_bound`` beside the exact
  −(1/n)Σ ln p_0(x_i), with the identity gap = KL(p_1‖N(0, I)) + ½∫β E_{p_t}|s − ∇ln p_t|² dt as cross-check.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from ..inference import diagnostics, posterior_table
from ..inference.diffusion import probability_flow_log_likelihood, reverse_euler_maruyama
from ..inference.diffusion.bound import diffusion_bound, weighted_score_error
from ..inference.fit import fit
from ..inference.records import FreeEnergy, free_energies
from ..models import diffusion_score as dsc
from ..models import regression as rg
from .compare import versus_exact

METHODS = ("nuts", "advi")


def distances(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean over coordinates of the 1-D Wasserstein-1 and energy distances between samples x and y (SciPy)."""
    w = np.mean([stats.wasserstein_distance(x[:, i], y[:, i]) for i in range(x.shape[1])])
    e = np.mean([stats.energy_distance(x[:, i], y[:, i]) for i in range(x.shape[1])])
    return float(w), float(e)


def mode_occupancy(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Fraction of samples whose nearest mixture mean is each component's."""
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    return np.bincount(nearest, minlength=means.shape[0]) / x.shape[0]


def posterior_fits(bs: dsc.BayesianScore, methods: list[str], size: dict, seed: int) -> dict:
    """NUTS / ADVI on the DSM model vs the conjugate posterior: per method the mean error in units of the
    exact sd and of the MCSE, sd ratios, τ², diagnostics, free energy vs exact; and the fitted trees."""
    model = dsc.dsm_model(bs.data, bs.prior)
    jac = dsc.project(bs.data).log_jacobian()
    exact_f = -rg.log_evidence_exact(bs.data, bs.prior)
    sd = np.sqrt(np.diag(bs.posterior.beta_cov))
    tau = bs.posterior.moments()["sigma2"]
    out, trees = {"weights": int(bs.data.d), "rows": int(bs.data.n), "exact_free_energy": exact_f,
                  "tau2_exact": tau, "methods": {}}, {}
    for i, m in enumerate(methods):
        dt = fit(model, m, draws=size["bayes_draws"], tune=size["bayes_draws"], chains=4, seed=seed + i,
                 free_energy=(), idata_kwargs={"log_likelihood": False})
        trees[m] = dt
        table = posterior_table(dt, ["w", "tau2"])
        w = dt["posterior"]["w"].values.reshape(-1, bs.data.d)
        mcse = np.array([table[f"w[{n}]"]["mcse_mean"] for n in bs.data.predictors])
        err = w.mean(axis=0) - bs.posterior.mu_n
        diag = {k: v for k, v in diagnostics(dt).items() if isinstance(v, (int, float, bool)) and k != "stop_reason"}
        fe = [{"estimator": r.estimator, "value": r.value - jac, "se": r.se, "kind": r.kind,
               "error": versus_exact(r.value - jac, r.se, exact_f)[0]} for r in free_energies(dt)]
        out["methods"][m] = {
            "max_abs_error_sd_units": float(np.max(np.abs(err) / sd)),
            "rms_z_mcse": float(np.sqrt(np.mean((err / mcse) ** 2))) if m == "nuts" else None,
            "sd_ratio_median": float(np.median(w.std(axis=0) / sd)),
            "sd_ratio_range": [float(np.min(w.std(axis=0) / sd)), float(np.max(w.std(axis=0) / sd))],
            "tau2_mean": table["tau2"]["mean"], "tau2_mcse": table["tau2"]["mcse_mean"],
            "converged": diag.get("converged"), "diagnostics": diag, "free_energy": fe,
            "wall_time_s": float(dt.attrs.get("physml_wall_time_s", float("nan")))}
    return {"summary": out, "trees": trees}


def generation_band(fp, bs: dsc.BayesianScore, size: dict, seed: int) -> dict:
    """Reverse-SDE samples for exact posterior draws of the weights (same start noise and Brownian seed each),
    their distances to fresh data and mode occupancies; the same for the exact score and the posterior mean."""
    n, steps = size["learned_particles"], size["learned_steps"]
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((n, fp.data.dim))
    scores = {"exact": fp.score, "posterior mean": bs.mean_score()}
    draws = bs.draw_scores(size["posterior_draws"], seed + 1)
    rows, samples = [], {}
    for label, score in list(scores.items()) + [(f"draw {k}", s) for k, s in enumerate(draws)]:
        x = reverse_euler_maruyama(x1, score, fp.schedule, steps, np.random.default_rng(seed + 2))
        x = x[np.all(np.isfinite(x), axis=1)]
        rows.append({"score": label, "finite": int(x.shape[0]), **dict(zip(("wasserstein", "energy"), distances(
            x, fp.data.sample(n, rng)))), "occupancy": mode_occupancy(x, fp.data.means).tolist()})
        if not label.startswith("draw") or label == "draw 0":
            samples[label] = x
    floor = [distances(fp.data.sample(n, rng), fp.data.sample(n, rng)) for _ in range(3)]
    band = np.array([[r["wasserstein"], r["energy"]] for r in rows[2:]])
    occ = np.array([r["occupancy"] for r in rows[2:]])
    summary = {"particles": n, "steps": steps, "draws": len(draws), "rows": rows,
               "band": {"wasserstein": _band(band[:, 0]), "energy": _band(band[:, 1])},
               "occupancy_band": {"lo": np.quantile(occ, 0.05, axis=0).tolist(),
                                  "hi": np.quantile(occ, 0.95, axis=0).tolist()},
               "data_weights": fp.data.weights.tolist(),
               "floor": {"wasserstein": float(np.mean([f[0] for f in floor])),
                         "energy": float(np.mean([f[1] for f in floor]))}}
    return {"summary": summary, "samples": samples}


def _band(v: np.ndarray) -> dict:
    return {"mean": float(v.mean()), "lo": float(np.quantile(v, 0.05)), "hi": float(np.quantile(v, 0.95))}


def score_error_by_density(fp, bs: dsc.BayesianScore, seed: int, times=(0.02, 0.1, 0.3)) -> dict:
    """Mean |s − ∇ln p_t|² of the posterior-mean score in 6 bins of ln p_t(x), x half from p_t, half uniform on
    a box 1.5× the data's extent; and the posterior sd of the score (over 20 draws) in the same bins."""
    rng = np.random.default_rng(seed)
    mean, draws = bs.mean_score(), bs.draw_scores(20, seed + 1)
    half = 1.5 * (np.abs(fp.data.means).max() + 3 * np.sqrt(fp.data.variances.max()))
    out = []
    for t in times:
        x = np.concatenate([fp.at(t).sample(1000, rng), rng.uniform(-half, half, (1000, fp.data.dim))])
        logp = fp.log_density(x, t)
        err = np.sum((mean(x, t) - fp.score(x, t)) ** 2, axis=1)
        spread = np.mean(np.var(np.stack([s(x, t) for s in draws]), axis=0), axis=1)
        edges = np.quantile(logp, np.linspace(0, 1, 7))
        idx = np.clip(np.searchsorted(edges, logp, side="right") - 1, 0, 5)
        out.append({"t": t, "log_p_bin_centre": [float(np.median(logp[idx == b])) for b in range(6)],
                    "score_error": [float(err[idx == b].mean()) for b in range(6)],
                    "posterior_var": [float(spread[idx == b].mean()) for b in range(6)]})
    return {"times": list(times), "bins": out}


def quality_sweep(fp, size: dict, seed: int, s: dict) -> dict:
    """W1 of the posterior-mean score's samples vs number of features (at the largest N) and vs N (at the
    largest F): mean ± se over repeats; the exact score's W1 from the same noise as the floor."""
    feats = [int(v) for v in str(s["sweep_features"]).split(",")]
    points = [int(v) for v in str(s["sweep_points"]).split(",")]
    grid = [(f, points[-1]) for f in feats] + [(feats[-1], n) for n in points[:-1]]
    n, steps, reps = size["learned_particles"], size["learned_steps"], size["sweep_repeats"]
    rng = np.random.default_rng(seed)
    exact, rows = [], {g: [] for g in grid}
    for r in range(reps):
        x1 = rng.standard_normal((n, fp.data.dim))
        data = fp.data.sample(n, rng)
        exact.append(distances(reverse_euler_maruyama(x1, fp.score, fp.schedule, steps,
                                                      np.random.default_rng(seed + r)), data)[0])
        for f, m in grid:
            bs = dsc.fit_conjugate(fp, f, m, seed + 1000 * r + f + m, v0=s["v0"])
            x = reverse_euler_maruyama(x1, bs.mean_score(), fp.schedule, steps, np.random.default_rng(seed + r))
            x = x[np.all(np.isfinite(x), axis=1)]
            rows[(f, m)].append(distances(x, data)[0] if x.shape[0] > 1 else float("inf"))
    se = lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v)))  # noqa: E731
    return {"repeats": reps, "exact": {"wasserstein": float(np.mean(exact)), "se": se(exact)},
            "rows": [{"features": f, "points": m, "wasserstein": float(np.mean(v)), "se": se(v)}
                     for (f, m), v in rows.items()]}


def bound_section(fp, bs: dsc.BayesianScore, size: dict, seed: int, prior_kl: dict) -> dict:
    """The diffusion bound on held-out points for the exact and the posterior-mean score, both forms, as
    FreeEnergy records (per point) against the exact −(1/n)Σ ln p_0; the learned − exact bound difference on
    common random numbers against the gap identity ½∫β E_pt|s − ∇ln p_t|² dt."""
    x = fp.data.sample(size["bound_points"], np.random.default_rng(seed))
    exact = float(-fp.data.log_density(x).mean())
    learned = bs.mean_score()
    records, paired = [], {}
    for form in ("denoising", "divergence"):
        runs = {}
        for label, score, div in (("exact score", fp.score, fp.divergence),
                                  ("learned score (posterior mean)", learned, learned.divergence)):
            runs[label] = b = diffusion_bound(x, score, fp.schedule, size["bound_times"],
                                              np.random.default_rng(seed + 1), form=form, divergence=div)
            records.append(FreeEnergy(b["mean"], b["mean_se"], "upper_bound", f"diffusion bound ({form}), {label}",
                                      note="per point; bounds −ln p of the reverse-SDE model from N(0, I)"))
        diff = runs["learned score (posterior mean)"]["value"] - runs["exact score"]["value"]
        per_draw = runs["learned score (posterior mean)"]["per_draw"] - runs["exact score"]["per_draw"]
        paired[form] = {"value": float(diff.mean()), "se": float(np.hypot(
            per_draw.std(ddof=1) / np.sqrt(per_draw.size), diff.std(ddof=1) / np.sqrt(diff.size)))}
    records.append(_ode_record(fp, learned, x, size["likelihood_steps"]))
    rng = np.random.default_rng(seed + 2)
    gap = weighted_score_error(lambda t: fp.at(t).sample(size["bound_points"], rng), learned, fp.score,
                               fp.schedule, size["bound_times"], rng)
    rows = []
    for r in records:
        err, z = versus_exact(r.value, r.se, exact)
        rows.append({**r.to_dict(), "error": err, "z": z})
    return {"summary": {"points": int(x.shape[0]), "times": size["bound_times"], "exact_neg_log_p": exact,
                        "prior_kl": prior_kl, "score_error_gap": gap, "paired_gap": paired, "records": rows}}


def _ode_record(fp, learned, x: np.ndarray, steps: int) -> FreeEnergy:
    """−(1/n) Σ ln p(x_i) of the probability-flow ODE model with the learned (posterior-mean) score, by the
    instantaneous change of variables with its exact divergence; se of the paired difference to the exact
    ln p_0 on the same points (so bound − exact is the model's excess, an estimate of KL(p_data‖p_model))."""
    prior = lambda z: np.sum(stats.norm.logpdf(z), axis=1)  # noqa: E731
    ll, _ = probability_flow_log_likelihood(x, learned, learned.divergence, fp.schedule, steps, prior)
    excess = fp.data.log_density(x) - ll
    return FreeEnergy(float(-ll.mean()), float(excess.std(ddof=1) / np.sqrt(excess.size)), "estimate",
                      "probability-flow ODE −ln p, learned score (posterior mean)",
                      note="per point; se of the paired difference to the exact ln p_0 on the same points")


def result_dataset(summary: dict) -> xr.Dataset:
    """The bound records (value, se per estimator) and the generated-sample distances per score."""
    bound, gen = summary["bound"], summary["generation"]
    return xr.Dataset(
        {"bound": ("estimator", [r["value"] for r in bound["records"]]),
         "bound_se": ("estimator", [r["se"] for r in bound["records"]]),
         "exact_neg_log_p": bound["exact_neg_log_p"],
         "distance": (("score", "metric"), [[r["wasserstein"], r["energy"]] for r in gen["rows"]])},
        coords={"estimator": [r["estimator"] for r in bound["records"]], "score": [r["score"] for r in gen["rows"]],
                "metric": ["wasserstein", "energy"]})
