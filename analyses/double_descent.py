r"""``physml run double_descent``: the interpolation peak of min-norm least squares at γ = p/n = 1, and the
evidence-tuned Bayesian posterior mean that removes it, against the exact asymptotic risks.

Over a log grid of γ in [gamma_min, gamma_max] and data sets at n/4, n/2 and n samples (p = round(γ n)),
each data set gives the excess risk ‖β̂ − β‖² of three estimates (:mod:`physml.models.random_features`):

* min-norm least squares X⁺y — against HMRT Thm 1 (n = ∞) and the exact finite-n mean (z-scores);
* the posterior mean of the conjugate model β | σ² ~ N(0, σ² v_0 I) with v_0 maximising the exact evidence
  (minimising F = −ln p(y)) — against the optimally tuned ridge risk R* = σ²γ m(−σ²γ/r²);
* the oracle ridge at λ* = σ²γ/r² — against R* too.

Mean ± se over data sets (se = sd/√datasets); where |p − n| ≤ 3 the min-norm risk has infinite variance
and its se is flagged. Writes ``risks.nc`` (every data set's risks), ``summary.json``, ``report.md``, figures.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..models import random_features as rf
from . import double_descent_bayes as hier
from . import double_descent_relu as relu
from .common import Progress, pm_fmt, save_datatree_atomic, save_figure_atomic
from .compare import versus_exact
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

DEFAULTS = {"n": 0, "gamma_points": 0, "datasets": 0, "nuts_datasets": 0, "draws": 0,  # 0: quick / full size
            "nuts_gammas": "",  # γ values of the hierarchical fits ("": 1 in quick mode, 0.5,1,2 otherwise; "none")
            "r": 1.0, "sigma": 0.5, "gamma_min": 0.1, "gamma_max": 10.0, "a0": 2.0, "b0": 2.0,
            "relu_delta": 0.5, "relu_datasets": 0}  # ReLU features: d = relu_delta·n; 0: 4 quick / 12 full
ESTIMATORS = ("min_norm", "bayes_evidence", "oracle_ridge")
GAMMA_LIMITS = (0.01, 100.0)


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, methods, nuts_gammas = _validate(settings, methods, data, quick)
    out_dir, log, t_start = Path(out_dir), Progress("double_descent", progress), time.perf_counter()
    gammas = np.geomspace(s["gamma_min"], s["gamma_max"], size["gamma_points"])
    ns = sorted({max(10, size["n"] // 4), max(10, size["n"] // 2), size["n"]})
    with threadpool_limits(limits=1, user_api="blas"):  # small eigenproblems: threads only contend
        risks = _simulate(ns, gammas, s, size["datasets"], seed, log)
        relu_gammas = np.union1d(gammas[::2], [1.0])  # every other γ, and the peak
        relu_rows = relu.simulate(size["n"], s["relu_delta"], relu_gammas, s, size["relu_datasets"], seed, log)
    save_datatree_atomic(xr.DataTree(risks), out_dir / "risks.nc")
    log("summary and figures")
    rows = _rows(risks, s)
    hier_rows, trees = hier.hierarchical_fits(out_dir, nuts_gammas, methods, s, size, seed, log)
    main_n = size["n"]
    report = Report("Double descent: min-norm least squares vs the evidence-tuned Bayesian posterior mean",
                    f"x ~ N(0, I_p), y = xᵀβ + ε, ‖β‖ = r = {s['r']:g}, σ = {s['sigma']:g} (SNR r²/σ² = "
                    f"{s['r'] ** 2 / s['sigma'] ** 2:g}); γ = p/n from {s['gamma_min']:g} to {s['gamma_max']:g} "
                    f"({size['gamma_points']} points), n ∈ {ns}, {size['datasets']} data sets per point. Risk = "
                    "excess test risk ‖β̂ − β‖² (the prediction MSE is this + σ²). Theory: Hastie, Montanari, "
                    "Rosset & Tibshirani, arXiv:1903.08560 (Thm 1 and the optimally tuned ridge), computed here.")
    heavy = [f"min-norm at n = {r['n']}, p = {r['p']}: |p − n| ≤ 3, the risk has infinite variance over data "
             "sets (its mean is infinite for |p − n| ≤ 1): the se is not an error bar" for r in rows
             if r["heavy_tailed"]]
    warnings = report.check(trees, extra=heavy + _disagreements(rows) + relu.disagreements(relu_rows))
    peak = _peak(rows, main_n)
    _sections(report, rows, main_n, peak)
    hier.section(report, hier_rows, methods, main_n)
    relu.section(report, relu_rows)
    figs = _figures(out_dir / "figures", rows, s, ns) + [relu.figure(out_dir / "figures", relu_rows, s)]
    summary = {"model": "double_descent", "settings": {**s, **size, "sizes": ns, "quick": quick, "seed": seed},
               "points": rows, "peak": peak, "hierarchical": hier_rows, "relu_features": relu_rows,
               "warnings": warnings}
    log("done")
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _validate(settings: dict, methods, data, quick: bool) -> tuple[dict, dict, list[str], list[float]]:
    if data:
        raise ValueError("the double_descent analysis takes no data file (data must be empty)")
    methods = check_methods(list(methods or hier.METHODS), allowed=hier.METHODS)
    s = merge_settings(DEFAULTS, settings)
    text = s["nuts_gammas"] or ("1" if quick else "0.5,1,2")
    nuts_gammas = [] if text.strip().lower() == "none" else hier.parse_gammas(text, GAMMA_LIMITS)
    lo, hi = GAMMA_LIMITS
    if not (lo <= s["gamma_min"] < 1 < s["gamma_max"] <= hi):
        raise ValueError(f"settings gamma_min, gamma_max must satisfy {lo} <= gamma_min < 1 < gamma_max <= {hi}, "
                         f"got {s['gamma_min']}, {s['gamma_max']}")
    for key in ("r", "sigma", "a0", "b0", "relu_delta"):
        if not s[key] > 0:
            raise ValueError(f"setting {key} must be > 0, got {s[key]}")
    keys = ("n", "gamma_points", "datasets", "nuts_datasets", "draws", "relu_datasets")
    size = resolve_sizes({k: s[k] for k in keys},
                         {"n": 40, "gamma_points": 11, "datasets": 6, "nuts_datasets": 1, "draws": 300,
                          "relu_datasets": 4} if quick else
                         {"n": 200, "gamma_points": 21, "datasets": 40, "nuts_datasets": 1, "draws": 1000,
                          "relu_datasets": 12})
    if not 20 <= size["n"] <= 2000:
        raise ValueError(f"setting n must be between 20 and 2000, got {size['n']}")
    if size["gamma_points"] < 3 or size["datasets"] < 2 or size["relu_datasets"] < 2:
        raise ValueError(f"settings gamma_points >= 3, datasets >= 2 and relu_datasets >= 2 required, got "
                         f"{size['gamma_points']}, {size['datasets']}, {size['relu_datasets']}")
    p_max = math.ceil(s["gamma_max"] * size["n"])
    if s["relu_delta"] > 10:
        raise ValueError(f"setting relu_delta = d/n must be in (0, 10], got {s['relu_delta']}")
    check_memory({"n × gamma_max·n (design)": 3 * size["n"] * p_max, "(gamma_max·n)² (ReLU kernel)": 3 * p_max**2,
                  "gamma_points × datasets": size["gamma_points"] * size["datasets"] * 12,
                  "draws (hierarchical fits)": 2 * size["draws"] * max(1, len(nuts_gammas)) * size["nuts_datasets"]})
    return s, size, methods, nuts_gammas


def _simulate(ns: list[int], gammas: np.ndarray, s: dict, datasets: int, seed: int, log) -> xr.Dataset:
    """Risks (n, gamma, dataset) of the three estimates, the evidence-chosen λ̂ = 1/(n v̂_0), and p."""
    shape = (len(ns), len(gammas), datasets)
    out = {k: np.full(shape, np.nan) for k in (*ESTIMATORS, "lambda_evidence")}
    ps = np.zeros(shape[:2], dtype=int)
    rng = np.random.default_rng(seed)
    r2, sigma2 = s["r"] ** 2, s["sigma"] ** 2
    for i, n in enumerate(ns):
        log(f"n = {n}")
        for j, g in enumerate(gammas):
            p = ps[i, j] = max(1, round(g * n))
            lam_star = float(rf.optimal_ridge_lambda(p / n, r2, sigma2))
            for k in range(datasets):
                data, beta = rf.sample_data(n, p, s["r"], s["sigma"], rng)
                design = rf.SpectralDesign.of(data)
                v0, _ = rf.evidence_optimal_scale(design, s["a0"], s["b0"])
                out["min_norm"][i, j, k] = rf.excess_risk(design.ridge(0.0), beta)
                out["bayes_evidence"][i, j, k] = rf.excess_risk(design.ridge(1.0 / (n * v0)), beta)
                out["oracle_ridge"][i, j, k] = rf.excess_risk(design.ridge(lam_star), beta)
                out["lambda_evidence"][i, j, k] = 1.0 / (n * v0)
    dims = ("n", "gamma", "dataset")
    ds = xr.Dataset({k: (dims, v) for k, v in out.items()} | {"p": (("n", "gamma"), ps)},
                    coords={"n": ns, "gamma": gammas, "dataset": np.arange(datasets)})
    ds.attrs.update({"r": s["r"], "sigma": s["sigma"], "a0": s["a0"], "b0": s["b0"], "seed": seed})
    return ds


def _rows(ds: xr.Dataset, s: dict) -> list[dict]:
    """One row per (n, γ): each estimate's mean ± se against its theory values (error, z)."""
    r2, sigma2, rows = s["r"] ** 2, s["sigma"] ** 2, []
    m = ds.sizes["dataset"]
    for n in ds["n"].values:
        for g in ds["gamma"].values:
            at = ds.sel(n=n, gamma=g)
            p = int(at["p"])
            ga = p / int(n)  # the realised γ
            row = {"n": int(n), "p": p, "gamma": ga, "heavy_tailed": rf.heavy_tailed(int(n), p),
                   "theory_min_norm": float(rf.minnorm_risk(ga, r2, sigma2)),
                   "finite_n_min_norm": rf.finite_n_minnorm_risk(int(n), p, r2, sigma2),
                   "theory_optimal_ridge": float(rf.optimal_ridge_risk(ga, r2, sigma2)),
                   "lambda_star": float(rf.optimal_ridge_lambda(ga, r2, sigma2)),
                   "lambda_evidence_median": float(np.median(at["lambda_evidence"]))}
            for est in ESTIMATORS:
                x = at[est].values
                row[est] = {"mean": float(x.mean()), "se": float(x.std(ddof=1) / math.sqrt(m)),
                            "median": float(np.median(x))}
            diff = at["bayes_evidence"].values - at["oracle_ridge"].values  # paired: the same data sets
            row["bayes_minus_oracle"] = {"mean": float(diff.mean()), "se": float(diff.std(ddof=1) / math.sqrt(m))}
            targets = {"min_norm": row["finite_n_min_norm"], "bayes_evidence": row["theory_optimal_ridge"],
                       "oracle_ridge": row["theory_optimal_ridge"]}
            for est, target in targets.items():
                finite = math.isfinite(target)
                err, z = versus_exact(row[est]["mean"], row[est]["se"], target if finite else None)
                row[est].update({"versus": target if finite else None, "error": err, "z": z})
            rows.append(row)
    return rows


def _disagreements(rows: list[dict]) -> list[str]:
    """Points whose min-norm mean is more than 4 se from the exact finite-n mean (outside heavy tails)."""
    return [f"min-norm at n = {r['n']}, γ = {r['gamma']:.3g}: mean {pm_fmt(r['min_norm']['mean'], r['min_norm']['se'])}"
            f" is {r['min_norm']['z']:+.1f} se from the exact finite-n mean {r['finite_n_min_norm']:.4g}"
            for r in rows if not r["heavy_tailed"] and r["min_norm"]["z"] is not None and abs(r["min_norm"]["z"]) > 4]


def _peak(rows: list[dict], n: int) -> dict:
    """Where each curve is highest at the main n, and the largest risk the evidence-tuned estimate reaches."""
    at = [r for r in rows if r["n"] == n]
    top = max(at, key=lambda r: r["min_norm"]["mean"])
    bayes = max(at, key=lambda r: r["bayes_evidence"]["mean"])
    return {"n": n, "min_norm_gamma": top["gamma"], "min_norm_risk": top["min_norm"]["mean"],
            "bayes_evidence_gamma": bayes["gamma"], "bayes_evidence_risk": bayes["bayes_evidence"]["mean"],
            "bayes_evidence_max_theory": max(r["theory_optimal_ridge"] for r in at)}


def _cell(row: dict, est: str) -> str:
    """``mean ± se (z)`` of one estimate at one point."""
    e = row[est]
    z = "—" if e["z"] is None else f"{e['z']:+.1f}"
    return f"{pm_fmt(e['mean'], e['se'])} ({z})"


def _sections(report: Report, rows: list[dict], n: int, peak: dict) -> None:
    main = [r for r in rows if r["n"] == n]
    report.section(f"Risk against theory at n = {n} (mean ± se over data sets; (z) against the column's theory)").table(
        ["γ = p/n", "p", "min-norm", "exact finite-n", "HMRT Thm 1 (n = ∞)", "evidence-tuned Bayes", "oracle ridge λ*",
         "optimal ridge R* (n = ∞)", "λ̂ evidence (median)", "λ*"],
        [[r["gamma"], r["p"], _cell(r, "min_norm") + (" ⚠" if r["heavy_tailed"] else ""), r["finite_n_min_norm"],
          r["theory_min_norm"], _cell(r, "bayes_evidence"), _cell(r, "oracle_ridge"), r["theory_optimal_ridge"],
          r["lambda_evidence_median"], r["lambda_star"]] for r in main]).add(
        "min-norm z is against the exact finite-n mean; Bayes and oracle-ridge z against the n = ∞ optimal ridge risk "
        "(so they include the finite-size bias). ⚠: |p − n| ≤ 3, infinite variance.",
        f"Peak: the min-norm mean is highest at γ = {peak['min_norm_gamma']:.3g} (risk {peak['min_norm_risk']:.4g}); "
        f"the evidence-tuned posterior mean never exceeds {peak['bayes_evidence_risk']:.4g} (at γ = "
        f"{peak['bayes_evidence_gamma']:.3g}; theory max {peak['bayes_evidence_max_theory']:.4g}).")
    gammas = sorted({r["gamma"] for r in main if r["gamma"] >= 0.5})
    by = {(r["n"], r["gamma"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    report.section("Evidence-tuned Bayes minus oracle ridge λ* (paired over the same data sets; → 0 as n grows)").table(
        ["γ (at n = %d)" % n] + [f"n = {k}" for k in sizes],
        [[g] + [_paired(by, k, g, n) for k in sizes] for g in gammas]).add(
        "The evidence fixes the total scale σ²(1 + v₀p) of y well, but splits it between noise σ² and signal "
        "σ²v₀ only through the spread of the eigenvalues of XXᵀ, so at finite n (and most for γ ≫ 1) the "
        "InvGamma(a₀, b₀) prior on σ² tilts the chosen λ̂ above λ*; the excess risk over the oracle shrinks with n.")
    near = [r for r in rows if 0.5 <= r["gamma"] <= 2.0 and not r["heavy_tailed"]]
    report.section("Finite-size curves near the peak (min-norm; the exact finite-n mean grows to the asymptote)").table(
        ["n", "γ", "p", "MC mean ± se (z vs exact finite-n)", "exact finite-n", "n = ∞"],
        [[r["n"], r["gamma"], r["p"], _cell(r, "min_norm"), r["finite_n_min_norm"], r["theory_min_norm"]]
         for r in sorted(near, key=lambda r: (r["gamma"], r["n"]))])


def _paired(by: dict, size: int, gamma: float, n: int) -> str:
    """Bayes − oracle at the point of ``size`` nearest in γ to ``gamma`` (the grid's p is rounded per n)."""
    at = min((r for (k, _), r in by.items() if k == size), key=lambda r: abs(r["gamma"] - gamma))
    return pm_fmt(at["bayes_minus_oracle"]["mean"], at["bayes_minus_oracle"]["se"])


def _figures(fig_dir: Path, rows: list[dict], s: dict, ns: list[int]) -> list[Path]:
    import matplotlib.pyplot as plt

    r2, sigma2, n = s["r"] ** 2, s["sigma"] ** 2, ns[-1]
    fine = np.geomspace(s["gamma_min"], s["gamma_max"], 400)
    fine = fine[np.abs(fine - 1) > 1e-3]
    main = [r for r in rows if r["n"] == n]
    g = np.array([r["gamma"] for r in main])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    ax.plot(fine, rf.minnorm_risk(fine, r2, sigma2), "k-", lw=1, label="min-norm, HMRT Thm 1 (n = ∞)")
    ax.plot(fine, rf.optimal_ridge_risk(fine, r2, sigma2), "g-", lw=1, label="optimal ridge R* (n = ∞)")
    for est, mk, label in (("min_norm", "o", "min-norm X⁺y"), ("bayes_evidence", "s", "Bayes, evidence-tuned v₀"),
                           ("oracle_ridge", "^", "ridge at λ*")):
        shown = [r for r in main if est != "min_norm" or not r["heavy_tailed"]]  # no error bar where var = ∞
        ax.errorbar([r["gamma"] for r in shown], [r[est]["mean"] for r in shown],
                    yerr=[2 * r[est]["se"] for r in shown], fmt=mk, ms=4, capsize=2, label=f"{label} (n = {n}, ±2 se)")
    ax.set(xscale="log", yscale="log", xlabel="γ = p/n", ylabel="excess risk ‖β̂ − β‖²", ylim=(1e-2, 1e2))
    ax.axvline(1, color="grey", lw=0.5, ls=":")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(fine, rf.optimal_ridge_lambda(fine, r2, sigma2), "k-", lw=1, label="λ* = σ²γ/r²")
    ax.plot(g, [r["lambda_evidence_median"] for r in main], "s", label=f"λ̂ = 1/(n v̂₀), evidence (median, n = {n})")
    ax.set(xscale="log", yscale="log", xlabel="γ = p/n", ylabel="ridge penalty λ")
    ax.legend(fontsize=8)
    paths = [save_figure_atomic(fig, fig_dir / "double_descent.png")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(fine, rf.minnorm_risk(fine, r2, sigma2), "k-", lw=1.2, label="n = ∞ (HMRT Thm 1)")
    for size in ns:
        at = [r for r in rows if r["n"] == size and not r["heavy_tailed"]]
        ps = [p for p in range(1, math.ceil(s["gamma_max"] * size) + 1) if abs(p - size) > 1
              and p >= s["gamma_min"] * size]
        line, = ax.plot(np.array(ps) / size, [rf.finite_n_minnorm_risk(size, p, r2, sigma2) for p in ps], "--",
                        lw=0.8)
        ax.errorbar([r["gamma"] for r in at], [r["min_norm"]["mean"] for r in at],
                    yerr=[2 * r["min_norm"]["se"] for r in at], fmt="o", ms=3, color=line.get_color(),
                    label=f"n = {size}: data sets (±2 se), exact mean (dashed)")
    ax.set(xscale="log", yscale="log", xlabel="γ = p/n", ylabel="min-norm excess risk", ylim=(1e-2, 1e2))
    ax.legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "finite_size.png"))
    return paths
