"""Figures of ``physml run hopfield``: m(α) against AGS, the retrieving fraction, α_c(N) against N^(−1/2), basins."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models import hopfield as hop
from .common import save_figure_atomic


def figures(fig_dir: Path, summary: dict) -> list[Path]:
    import matplotlib.pyplot as plt

    cap, curve = summary["capacity"], summary["retrieval"]
    sizes = cap["sizes"]
    alphas = sorted({r["alpha"] for r in curve})
    fig, (ax, ax_f) = plt.subplots(1, 2, figsize=(10, 3.8))
    grid = np.linspace(0.001, max(alphas), 400)
    ax.plot(grid, [hop.ags_retrieval_overlap(float(a)) for a in grid], "k-", lw=1.2, label="AGS (RS, N → ∞)")
    for n in sizes:
        rows = [r for r in curve if r["n"] == n]
        ax.errorbar([r["alpha"] for r in rows], [r["m"] for r in rows], [r["se"] for r in rows], fmt="o-", ms=3,
                    lw=0.8, capsize=2, label=f"N = {n}")
        ax_f.plot(alphas, cap["fraction_retrieving"][n], "o-", ms=3, lw=0.8, label=f"N = {n}")
    ax.axvline(summary["ags"]["alpha_c"], color="grey", ls=":", lw=0.8)
    ax.set(xlabel="α = P/N", ylabel="retrieval overlap m", title="T = 0 retrieval")
    ax.legend(fontsize=7)
    ax_f.axhline(0.5, color="grey", lw=0.8)
    ax_f.axvline(hop.AGS_CAPACITY_PUBLISHED, color="k", ls=":", lw=0.8)
    ax_f.set(xlabel="α = P/N", ylabel="fraction retrieving", title=f"m ≥ {summary['settings']['threshold']}")
    ax_f.legend(fontsize=7)
    paths = [save_figure_atomic(fig, fig_dir / "retrieval_overlap.png")]
    plt.close(fig)

    fig, (ax, ax_b) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.asarray(sizes, float) ** -0.5
    ax.errorbar(x, cap["alpha_c_n"], cap["alpha_c_n_se"], fmt="o", capsize=3, label="α_c(N)")
    xs = np.linspace(0.0, x.max() * 1.05, 50)
    ax.plot(xs, cap["alpha_c_extrapolated"] + cap["slope"] * xs, "--", label="fit α_c(∞) + a N^(−1/2)")
    ax.axhline(hop.AGS_CAPACITY_PUBLISHED, color="k", lw=0.8, label="AGS 0.138")
    ax.set(xlabel="N^(−1/2)", ylabel="α_c", title="capacity extrapolation")
    ax.legend(fontsize=7)
    for alpha in sorted({r["alpha"] for r in summary["basins"]}):
        rows = [r for r in summary["basins"] if r["alpha"] == alpha]
        ax_b.plot([r["m0"] for r in rows], [r["p_retrieve"] for r in rows], "o-", label=f"α = {alpha}")
    ax_b.set(xlabel="initial overlap m0", ylabel="P(retrieve)", title=f"basins, N = {sizes[-1]}")
    ax_b.legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "capacity_and_basins.png"))
    plt.close(fig)
    paths.append(_phase_figure(plt, fig_dir, summary["phase_diagram"], summary["ags"]["alpha_c"]))
    return paths


def _phase_figure(plt, fig_dir: Path, phase: dict, alpha_c: float) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.8))
    b = phase["boundary"]
    ax.plot(b["alpha"] + [alpha_c], b["T_M"] + [0.0], "k-", label="T_M(α), RS (AGS)")
    pts = phase["points"]
    sc = ax.scatter([p["alpha"] for p in pts], [p["T"] for p in pts], c=[p["m"] for p in pts], vmin=0, vmax=1,
                    cmap="viridis", s=60, edgecolor="k")
    fig.colorbar(sc, ax=ax, label=f"heat-bath m (N = {phase['n']})")
    ax.set(xlabel="α = P/N", ylabel="T", title="retrieval region")
    ax.legend(fontsize=7)
    path = save_figure_atomic(fig, fig_dir / "phase_diagram.png")
    plt.close(fig)
    return path
