r"""The random-ReLU-features section of ``physml run double_descent`` (:mod:`physml.models.relu_features`).

Inputs x ∈ R^d, d = δ n (setting ``relu_delta``, default 1/2), p = γ n centred ReLU features relu(Wx) − μ₀ with
rows of W on the sphere, a linear teacher with ‖β‖ = r and noise σ; min-norm least squares Φ⁺y. Each data set
(a fresh W, β, X, y) gives its exact excess risk (the arc-cosine kernel, no test set); the table shows
mean ± se over data sets against the Gaussian-equivalence + HMRT Thm 3 asymptotic risk, with z-scores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..models import random_features as rf
from ..models import relu_features as rl
from .common import pm_fmt, save_figure_atomic
from .compare import versus_exact
from .report import Report


def simulate(n: int, delta: float, gammas: np.ndarray, s: dict, datasets: int, seed: int, log) -> list[dict]:
    """One row per γ: p, the data sets' risks, their mean ± se, the theory and z (heavy-tailed near p = n)."""
    d = max(1, round(delta * n))
    rng = np.random.default_rng([seed, 16])  # its own stream: the other sections' numbers do not move
    r2, sigma2, rows = s["r"] ** 2, s["sigma"] ** 2, []
    log(f"ReLU features, n = {n}, d = {d}")
    for p in sorted({max(1, round(g * n)) for g in gammas}):
        risks = np.array([rl.relu_minnorm_risk(rl.sample_relu_problem(n, p, d, s["r"], s["sigma"], rng))
                          for _ in range(datasets)])
        theory = float(rl.relu_minnorm_risk_theory(p / n, d / n, r2, sigma2))
        mean, se = float(risks.mean()), float(risks.std(ddof=1) / math.sqrt(datasets))
        err, z = versus_exact(mean, se, theory if math.isfinite(theory) else None)
        rows.append({"n": n, "d": d, "p": p, "gamma": p / n, "risks": risks.tolist(), "mean": mean, "se": se,
                     "theory": theory if math.isfinite(theory) else None, "error": err, "z": z,
                     "heavy_tailed": rf.heavy_tailed(n, p)})
    return rows


def disagreements(rows: list[dict]) -> list[str]:
    """Points more than 4 se from the asymptotic theory (outside the heavy tails at p ≈ n)."""
    return [f"ReLU features at γ = {r['gamma']:.3g}: min-norm risk {pm_fmt(r['mean'], r['se'])} is {r['z']:+.1f} se "
            f"from the n = ∞ Gaussian-equivalence theory {r['theory']:.4g} (a finite-d effect if it shrinks with n)"
            for r in rows if not r["heavy_tailed"] and r["z"] is not None and abs(r["z"]) > 4]


def section(report: Report, rows: list[dict]) -> None:
    r0 = rows[0]
    zs = [r["z"] for r in rows if r["z"] is not None and not r["heavy_tailed"]]
    top = max(rows, key=lambda r: r["mean"])
    report.section(f"Random ReLU features (Mei–Montanari setting): n = {r0['n']}, d = {r0['d']}, "
                   f"{len(r0['risks'])} data sets per point").table(
        ["γ = p/n", "p", "min-norm risk (mean ± se)", "theory (n = ∞)", "z"],
        [[r["gamma"], r["p"], pm_fmt(r["mean"], r["se"]) + (" ⚠" if r["heavy_tailed"] else ""),
          "∞" if r["theory"] is None else r["theory"], "—" if r["z"] is None else f"{r['z']:+.1f}"] for r in rows]).add(
        "Features relu(w·x) − μ₀ (μ₀ = 1/√(2π)), rows w on the unit sphere, x ~ N(0, I_d), y = βᵀx + ε. Risk = "
        "E(θ̂ᵀφ(x) − βᵀx)², exact given the fit (arc-cosine kernel). Theory: Gaussian equivalence φ ≈ μ₁Wx + μ*z "
        f"(μ₁ = 1/2, μ*² = 1/2 − 1/2π − 1/4 = {rl.MU_STAR2:.5f}; checked by quadrature) mapped onto the anisotropic "
        "HMRT Thm 3 min-norm risk with the Marchenko–Pastur spectrum of WWᵀ, plus the part of βᵀx no linear function "
        "of the features fits — not Mei & Montanari's closed form. ⚠: |p − n| ≤ 3, infinite variance.",
        f"Peak: highest mean risk at γ = {top['gamma']:.3g} ({top['mean']:.4g}). z over {len(zs)} points: mean "
        f"{np.mean(zs):+.2f}, sd {np.std(zs, ddof=1):.2f}, max |z| {max(map(abs, zs)):.1f}." if len(zs) > 1 else "")


def figure(fig_dir: Path, rows: list[dict], s: dict) -> Path:
    import matplotlib.pyplot as plt

    n, d = rows[0]["n"], rows[0]["d"]
    fine = np.geomspace(min(r["gamma"] for r in rows), max(r["gamma"] for r in rows), 300)
    fine = fine[np.abs(fine - 1) > 2e-3]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(fine, rl.relu_minnorm_risk_theory(fine, d / n, s["r"] ** 2, s["sigma"] ** 2), "k-", lw=1,
            label="Gaussian equivalence + HMRT Thm 3 (n = ∞)")
    shown = [r for r in rows if not r["heavy_tailed"]]
    ax.errorbar([r["gamma"] for r in shown], [r["mean"] for r in shown], yerr=[2 * r["se"] for r in shown],
                fmt="o", ms=4, capsize=2, label=f"min-norm on ReLU features, n = {n}, d = {d} (±2 se)")
    heavy = [r for r in rows if r["heavy_tailed"]]
    if heavy:
        ax.plot([r["gamma"] for r in heavy], [r["mean"] for r in heavy], "x", color="C0",
                label="|p − n| ≤ 3: mean (infinite variance, no error bar)")
    ax.axvline(1, color="grey", lw=0.5, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="γ = p/n", ylabel="excess risk E(θ̂ᵀφ − βᵀx)²", ylim=(1e-2, 1e3),
           title="Double descent with random ReLU features")
    ax.legend(fontsize=7)
    return save_figure_atomic(fig, fig_dir / "relu_features.png")
