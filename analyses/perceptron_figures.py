"""Figures of ``physml run perceptron``: ε(α) on the RS curves, the 1/N extrapolation, T-annealing, binary hysteresis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models import perceptron as pc
from .common import save_figure_atomic


def figures(fig_dir: Path, summary: dict) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    if "learning_curve" in summary:
        paths.append(_learning_curves(plt, fig_dir, summary))
    if summary["annealing"]["nuts"] or summary["annealing"]["advi"] or summary["annealing"]["parallel_tempering"]:
        paths.append(_annealing(plt, fig_dir, summary["annealing"]))
    if "binary" in summary:
        paths.append(_binary(plt, fig_dir, summary))
    return paths


def _learning_curves(plt, fig_dir: Path, summary: dict) -> Path:
    curve, ext = summary["learning_curve"], summary["extrapolated"]
    fig, (ax, ax_x) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.geomspace(0.3, max(r["alpha"] for r in curve) * 1.2, 120)
    rs = pc.learning_curves(grid)
    ax.plot(grid, rs["gibbs"], "k-", lw=1.2, label="RS Gibbs")
    ax.plot(grid, rs["bayes"], "k--", lw=1.2, label="RS Bayes-optimal")
    for i, n in enumerate(sorted({r["n"] for r in curve})):
        rows = [r for r in curve if r["n"] == n]
        a = np.array([r["alpha"] for r in rows]) * (1 + 0.03 * i)  # small offsets keep error bars apart
        ax.errorbar(a, [r["gibbs"] for r in rows], [r["gibbs_se"] for r in rows], fmt="o", ms=3, capsize=2,
                    color=f"C{i}", label=f"Gibbs, N = {n}")
        ax.errorbar(a, [r["bayes"] for r in rows], [r["bayes_se"] for r in rows], fmt="s", ms=3, capsize=2,
                    mfc="none", color=f"C{i}", label=f"Bayes, N = {n}")
    ax.errorbar([r["alpha"] for r in ext], [r["gibbs"] for r in ext], [r["gibbs_se"] for r in ext], fmt="*",
                color="k", ms=7, label="Gibbs, 1/N → 0")
    advi = [a for a in summary["annealing"]["advi"] if a["converged"]]
    if advi:
        ax.plot([summary["annealing"]["alpha"]], [advi[-1]["gibbs"]], "D", color="C3", ms=7,
                label=f"MF-ADVI draw (N = {summary['annealing']['n']}, T = {advi[-1]['T']:g})")
    ax.set(xscale="log", yscale="log", xlabel="α = P/N", ylabel="generalisation error ε", title="T = 0 learning curves")
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 40) if t <= grid[-1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=6, ncol=2)
    for r in ext:
        rows = sorted((c for c in curve if c["alpha"] == r["alpha"]), key=lambda c: c["n"])
        x = 1.0 / np.array([c["n"] for c in rows])
        line = ax_x.errorbar(x, [c["gibbs"] for c in rows], [c["gibbs_se"] for c in rows], fmt="o", ms=3, capsize=2)
        xs = np.linspace(0, x.max() * 1.05, 20)
        ax_x.plot(xs, r["gibbs"] + r["gibbs_slope"] * xs, "--", lw=0.8, color=line[0].get_color())
        ax_x.plot([0], [r["rs_gibbs"]], "k_", ms=12)
        ax_x.annotate(f"α={r['alpha']:g}", (x.max(), rows[0]["gibbs"]), fontsize=6)
    ax_x.set(xlabel="1/N", ylabel="ε Gibbs", title="finite-size extrapolation (— : RS at N = ∞)")
    path = save_figure_atomic(fig, fig_dir / "learning_curves.png")
    plt.close(fig)
    return path


def _annealing(plt, fig_dir: Path, an: dict) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    fig.subplots_adjust(right=0.65)
    T = [r["T"] for r in an["nuts"]]
    ax.errorbar(T, [r["gibbs"] for r in an["nuts"]], [r["gibbs_se"] for r in an["nuts"]], fmt="o-", capsize=2,
                label="NUTS: Gibbs ε")
    ax.plot(T, [r["bayes"] for r in an["nuts"]], "s-", label="NUTS: Bayes ε")
    pt = an["parallel_tempering"]
    if pt:
        ax.errorbar([r["T"] * 1.06 for r in pt], [r["gibbs"] for r in pt], [r["gibbs_se"] for r in pt], fmt="^",
                    color="C2", capsize=2, label="parallel tempering: Gibbs ε (T × 1.06)")
    ex = an["exact"]
    ax.axhspan(ex["gibbs"] - 2 * ex["gibbs_se"], ex["gibbs"] + 2 * ex["gibbs_se"], color="C0", alpha=0.2,
               label="exact T = 0 (HMC), ±2 se")
    ax.axhline(ex["bayes"], color="C1", ls=":", label="exact T = 0 Bayes")
    for converged, marker in ((True, "D"), (False, "x")):
        rows = [a for a in an["advi"] if a["converged"] == converged]
        if rows:
            ax.plot([a["T"] for a in rows], [a["gibbs"] for a in rows], marker, color="C3", ls="none",
                    label="MF-ADVI draw" + ("" if converged else " (not converged)"))
    ax.set(xscale="log", xlabel="T (probit output-noise sd)", ylabel="ε",
           title=f"annealing, N = {an['n']}, α = {an['alpha']:g}")
    ticks = sorted({r["T"] for r in an["nuts"] + pt} | {a["T"] for a in an["advi"]})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    path = save_figure_atomic(fig, fig_dir / "annealing.png")
    plt.close(fig)
    return path


def _binary(plt, fig_dir: Path, summary: dict) -> Path:
    from ..models import perceptron_binary as pb

    th = summary["binary_theory"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for b in summary["binary"]:
        line = ax.errorbar(b["alpha"], b["up"], b["up_se"], fmt="o-", ms=3, lw=0.8, capsize=2,
                           label=f"N = {b['n']}, α increasing (random start)")
        ax.errorbar(b["alpha"], b["down"], b["down_se"], fmt="s--", ms=3, lw=0.8, capsize=2, mfc="none",
                    color=line[0].get_color(), label=f"N = {b['n']}, α decreasing (teacher start)")
    grid = np.linspace(0.3, th["alpha_spinodal"] - 1e-3, 30)
    ax.plot(grid, [pb.poor_branch(float(a))["R"] for a in grid], "k-", lw=1.2, label="RS poor branch")
    ax.axvline(th["alpha_c"], color="k", ls=":", lw=1, label=f"α_c = {th['alpha_c']:.3f} (RS)")
    ax.axvline(th["alpha_spinodal"], color="grey", ls="-.", lw=1, label=f"spinodal {th['alpha_spinodal']:.3f}")
    ax.set(xlabel="α = P/N", ylabel="teacher–student overlap R", title="binary perceptron: hysteresis")
    ax.legend(fontsize=6)
    path = save_figure_atomic(fig, fig_dir / "binary_hysteresis.png")
    plt.close(fig)
    return path
