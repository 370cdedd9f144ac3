"""Figures of the deep-network ↔ RG section: receptive fields of every layer, their locality against the
shuffled baseline, and the top layer / reconstruction against majority-rule block spins.

The receptive field of a unit of layer ℓ is the product W1···Wℓ of the weight matrices below it, drawn on the
L×L lattice (red positive, blue negative, each image on its own symmetric colour scale).
"""

from __future__ import annotations

import math
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..inference.spins.block_spin import majority_rule  # noqa: E402
from . import rg_deep_measures as measures  # noqa: E402
from .common import save_figure_atomic  # noqa: E402

UNITS_SHOWN = 8


def draw_figures(fig_dir: Path, runs: list[dict], out: dict, s: dict, radii: np.ndarray, tag: str) -> list[Path]:
    """The three figures of one coupling's runs, named ``deep_rg_<what>_<tag>.png``."""
    return [_receptive_fields(fig_dir / f"deep_rg_receptive_fields_{tag}.png", runs[0]["fields"], s["deep_L"]),
            _locality(fig_dir / f"deep_rg_locality_{tag}.png", runs, out, radii),
            _top_layer(fig_dir / f"deep_rg_top_vs_blocks_{tag}.png", runs, s)]


def _strongest_units(field: np.ndarray, n: int) -> np.ndarray:
    return np.argsort(-np.abs(field).sum(axis=0), kind="stable")[:n]


def _receptive_fields(path: Path, fields: list[np.ndarray], L: int) -> Path:
    cols = min(UNITS_SHOWN, max(f.shape[1] for f in fields))
    fig, axes = plt.subplots(len(fields), cols, figsize=(1.4 * cols, 1.5 * len(fields)), squeeze=False)
    for depth, field in enumerate(fields):
        units = _strongest_units(field, cols)
        for c in range(cols):
            ax = axes[depth, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(units):
                ax.axis("off")
                continue
            img = field[:, units[c]].reshape(L, L)
            scale = np.abs(img).max() or 1.0
            ax.imshow(img, cmap="RdBu_r", vmin=-scale, vmax=scale)
            if c == 0:
                ax.set_ylabel(f"layer {depth + 1}\n({field.shape[1]} units)", fontsize=8)
    fig.suptitle("receptive fields W1···Wℓ (strongest units, training seed 0)", fontsize=9)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _locality(path: Path, runs: list[dict], out: dict, radii: np.ndarray) -> Path:
    n_layers = len(out["layers"])
    fig, axes = plt.subplots(1, n_layers, figsize=(4 * n_layers, 3.4), squeeze=False)
    for depth, row in enumerate(out["layers"]):
        ax = axes[0, depth]
        for key, label, colour in (("profile", "learned", "C0"), ("profile_shuffled", "shuffled baseline", "C3")):
            curves = np.array([r["layers"][depth][key] for r in runs])
            mean, se = curves.mean(axis=0), curves.std(axis=0, ddof=1) / math.sqrt(len(curves))
            ax.plot(radii, mean, color=colour, label=label)
            ax.fill_between(radii, mean - se, mean + se, color=colour, alpha=0.3)
        ax.axvline(row["b"], color="k", ls="--", lw=0.8, label=f"b = {row['b']:g}")
        ax.set(xlabel="radius r (lattice spacings)", ylabel="weight mass within r",
               title=f"layer {row['layer']} ({row['units']} units)")
        ax.legend(fontsize=7)
    fig.suptitle("locality of receptive fields (mean ± se over training seeds)", fontsize=9)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _top_layer(path: Path, runs: list[dict], s: dict) -> Path:
    config, reconstruction, _, _ = runs[0]["example"]
    side = math.isqrt(s["layers"][-1])
    b = s["deep_L"] // side
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    panels = ((config, "a held-out configuration"), (majority_rule(config, b, rng), f"majority-rule blocks, b = {b}"),
              (reconstruction, "DBN reconstruction (via top layer)"))
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=-1, vmax=1)
        ax.set(title=title, xticks=[], yticks=[])
    m_top, m_block = [], []
    for r in runs:
        _, _, top, spins = r["example"]
        m_top.append(measures.oriented_spins(top, spins).mean(axis=1))
        m_block.append(majority_rule(spins, b, rng).reshape(len(spins), -1).mean(axis=1))
    bins = np.linspace(-1, 1, side * side + 2)
    axes[3].hist(np.concatenate(m_top), bins=bins, alpha=0.5, density=True, label="top layer (oriented)")
    axes[3].hist(np.concatenate(m_block), bins=bins, alpha=0.5, density=True, label="block spins")
    axes[3].set(xlabel="m of the coarse lattice", ylabel="density", title="magnetisation, all seeds")
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(fig, path)
