"""Figures of ``physml run rg``: one configuration at every scale, the flow K → K′ with credible bands, the
couplings under repeated blocking, and scale invariance (block-magnetisation distribution, U₄ and G(r) per level).
"""

from __future__ import annotations

from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..models.block_spin_rg import COUPLINGS  # noqa: E402
from ..models.finite_size_scaling import K_CRITICAL  # noqa: E402
from .common import save_figure_atomic  # noqa: E402


def draw_figures(fig_dir: Path, layers: dict, points: list[dict], table: list[dict], summary: dict,
                 s: dict) -> list[Path]:
    method = summary["settings"]["methods"][0]
    return [_layers(fig_dir / "layers.png", layers, s),
            _flow(fig_dir / "flow.png", table, summary, method),
            _levels(fig_dir / "couplings_by_level.png", table, s, method),
            _scale_invariance(fig_dir / "scale_invariance.png", points, s)]


def _layers(path: Path, layers: dict, s: dict) -> Path:
    depth = max(len(v) for v in layers.values())
    fig, axes = plt.subplots(len(layers), depth, figsize=(2.6 * depth, 2.8 * len(layers)), squeeze=False)
    for row, ((b, L), configs) in zip(axes, layers.items()):
        for level, ax in enumerate(row):
            ax.axis("off")
            if level < len(configs):
                ax.imshow(configs[level], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
                ax.set_title(f"b = {b}, level {level}: {configs[level].shape[-1]}²", fontsize=9)
    fig.suptitle(f"one configuration at K = {s['K_center']:.5f}, majority-rule blocked")
    return save_figure_atomic(fig, path)


def _flow(path: Path, table: list[dict], summary: dict, method: str) -> Path:
    pairs = summary["settings"]["pairs"]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.4), squeeze=False)
    for ax, (b, L) in zip(axes[0], pairs):
        rows = [r for r in table if r["b"] == b and r["L"] == L and r["level"] == 1]
        K = np.array([r["K"] for r in rows])
        for n, colour in ((1, "C0"), (3, "C1")):
            draws = np.array([r[f"K_nn_{n}_{method}_draws"] for r in rows])
            coef = np.polyfit(K - K.mean(), draws, 2)
            grid = np.linspace(K[0], K[-1], 50)
            curves = np.array([np.polyval(coef[:, i], grid - K.mean()) for i in range(coef.shape[1])])
            lo, hi = np.percentile(curves, [2.5, 97.5], axis=0)
            label = "K′ (K_nn only)" if n == 1 else "K_nn′ with K_nnn, K_plaquette"
            ax.fill_between(grid, lo, hi, color=colour, alpha=0.3)
            ax.errorbar(K, draws.mean(axis=1), 2 * draws.std(axis=1), fmt="o", ms=3, color=colour,
                        label=f"{label} ({method}, 95 % band)")
            if n == 3:
                k2 = np.array([r[f"K_nnn_3_{method}"] for r in rows])
                ax.plot(K, k2, "s--", ms=3, color="C2", label="K_nnn′")
        fp = next(f for f in summary["fixed_point"] if f["b"] == b and f["L"] == L and f["method"] == method
                  and f["couplings"] == 1)["K_star"]
        ax.axvspan(fp["mean"] - fp["sd"], fp["mean"] + fp["sd"], color="grey", alpha=0.3, label="K* ± sd")
        ax.plot(K, K, "k-", lw=0.8, label="K′ = K")
        ax.axvline(K_CRITICAL, color="k", ls="--", lw=0.8, label="exact K_c")
        ax.set(xlabel="K", ylabel="renormalised coupling", title=f"b = {b}, L = {L} → {L // b}")
        ax.legend(fontsize=7)
    return save_figure_atomic(fig, path)


def _levels(path: Path, table: list[dict], s: dict, method: str) -> Path:
    pairs = sorted({(r["b"], r["L"]) for r in table})
    fig, axes = plt.subplots(2, len(pairs), figsize=(5 * len(pairs), 8), squeeze=False)
    for col, (b, L) in enumerate(pairs):
        rows = [r for r in table if r["b"] == b and r["L"] == L]
        for K in sorted({r["K"] for r in rows}):
            at = [r for r in rows if r["K"] == K]
            axes[0, col].errorbar([r["level"] for r in at], [r[f"K_nn_1_{method}"] for r in at],
                                  [r[f"K_nn_1_{method}_sd"] for r in at], fmt="o-", ms=3, label=f"K = {K:.4f}")
        axes[0, col].set(xlabel="blocking level", ylabel="K_nn (one-coupling fit)",
                         title=f"iterated flow, b = {b}, L = {L}")
        axes[0, col].legend(fontsize=6)
        centre = min({r["K"] for r in rows}, key=lambda k: abs(k - s["K_center"]))
        at = [r for r in rows if r["K"] == centre]
        for name in COUPLINGS:
            axes[1, col].errorbar([r["level"] for r in at], [r[f"{name}_3_{method}"] for r in at],
                                  [r[f"{name}_3_{method}_sd"] for r in at], fmt="o-", ms=3, label=name)
        axes[1, col].axhline(0, color="k", lw=0.5)
        axes[1, col].set(xlabel="blocking level", ylabel="coupling (three-coupling fit)",
                         title=f"K = {centre:.4f}: couplings by level")
        axes[1, col].legend(fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _scale_invariance(path: Path, points: list[dict], s: dict) -> Path:
    b, L = points[0]["b"], points[0]["L"]
    rows = [p for p in points if p["b"] == b and p["L"] == L]
    Ks = sorted({p["K"] for p in rows})
    show = [Ks[0], min(Ks, key=lambda k: abs(k - s["K_center"])), Ks[-1]]
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for col, K in enumerate(show):
        for p in (p for p in rows if p["K"] == K):
            G = np.array(p["correlation"])
            axes[0, col].plot(np.arange(len(G)), G, "o-", ms=2, label=f"level {p['level']} ({p['side']}²)")
        axes[0, col].set(xlabel="r (in block spacings of the level)", ylabel="G(r)", ylim=(0, 1.02),
                         title=f"b = {b}, L = {L}, K = {K:.4f}")
        axes[0, col].legend(fontsize=7)
    for K in Ks:
        at = [p for p in rows if p["K"] == K]
        axes[1, 0].errorbar([p["level"] for p in at], [p["G1"] for p in at], [p["G1_se"] for p in at],
                            fmt="o-", ms=3, label=f"K = {K:.4f}")
        at_m = next(p for p in at if p["level"] == 0)["levels_m"]
        if K in show:
            axes[1, 1].hist(at_m, bins=30, range=(-1, 1), density=True, histtype="step", label=f"K = {K:.4f}")
    axes[1, 0].set(xlabel="blocking level", ylabel="G(1) of the block spins",
                   title="flat at the fixed point, drifting off it")
    axes[1, 0].legend(fontsize=6)
    axes[1, 1].set(xlabel="magnetisation m (level 0)", title="P(m) at three K (majority rule keeps it per level)")
    axes[1, 1].legend(fontsize=7)
    axes[1, 2].axis("off")
    fig.tight_layout()
    return save_figure_atomic(fig, path)
