"""Figures of ``physml run grokking``: accuracy curves with t₁ / t₂, order parameters, the phase diagram and
the Langevin temperatures (from the training histories, :mod:`physml.analyses.grokking`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .common import save_figure_atomic

PHASE_COLOURS = {"confusion": "#bbbbbb", "memorise": "#e8a0a0", "grok": "#f5d76e", "comprehend": "#8fd18f"}


def all_figures(fig_dir: Path, trees: dict[str, xr.Dataset], summary: dict) -> list[Path]:
    paths = []
    if "adamw" in trees:
        main = trees["adamw"].isel(replica=np.flatnonzero(trees["adamw"]["group"].values == "grokking"))
        paths += [_curves(fig_dir, main, summary["grokking"]), _order_parameters(fig_dir, main, summary["grokking"]),
                  _phase_diagram(fig_dir, summary["phase_diagram"], summary["settings"]["grid"])]
    if "langevin" in trees:
        paths.append(_langevin(fig_dir, trees["langevin"]))
    return paths


def _steps(ds: xr.Dataset) -> np.ndarray:
    return np.maximum(ds["step"].values, 1)  # log axis: step 0 drawn at 1


def _marks(ax, g: dict) -> None:
    for key, colour, label in (("t1", "C0", "t₁ (train 100 %)"), ("t2", "C3", "t₂ (test ≥ 95 %)")):
        if g[key]["mean"] is not None:
            ax.axvline(g[key]["mean"], color=colour, ls="--", lw=1, label=f"{label}, mean over seeds")


def _curves(fig_dir: Path, ds: xr.Dataset, g: dict) -> Path:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = _steps(ds)
    for r in range(ds.sizes["replica"]):
        ax.plot(x, ds["train_accuracy"].isel(replica=r), color="C0", lw=0.8, alpha=0.7,
                label="train" if r == 0 else None)
        ax.plot(x, ds["test_accuracy"].isel(replica=r), color="C3", lw=0.8, alpha=0.7,
                label="test" if r == 0 else None)
    _marks(ax, g)
    ax.set(xscale="log", xlabel="training step", ylabel="accuracy", ylim=(-0.02, 1.02),
           title="train / test accuracy, one line per seed")
    ax.legend(fontsize=7)
    return save_figure_atomic(fig, fig_dir / "accuracy.png")


def _order_parameters(fig_dir: Path, ds: xr.Dataset, g: dict) -> Path:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    x = _steps(ds)
    for ax, key, label in zip(axes, ("test_accuracy", "weight_norm", "fourier_frequencies"),
                              ("test accuracy", "weight norm ‖w‖", "embedding Fourier N_eff")):
        for r in range(ds.sizes["replica"]):
            ax.plot(x, ds[key].isel(replica=r), lw=0.8, color=f"C{r % 10}")
        half = g["half_" + key]["mean"]
        if half is not None:
            ax.axvline(half, color="k", ls=":", lw=1, label="t½ (mean over seeds)")
        _marks(ax, g)
        ax.set(xscale="log", xlabel="training step", ylabel=label)
        ax.legend(fontsize=6)
    fig.suptitle("order parameters: colour = seed; t½ = half-way from t₁ to the end")
    return save_figure_atomic(fig, fig_dir / "order_parameters.png")


def _phase_diagram(fig_dir: Path, cells: list[dict], grid: dict) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    wds, fractions = grid["weight_decay"], grid["train_fraction"]
    fig, ax = plt.subplots(figsize=(1.3 * len(fractions) + 3, 0.8 * len(wds) + 2))
    for c in cells:
        i, j = wds.index(c["weight_decay"]), fractions.index(c["train_fraction"])
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color=PHASE_COLOURS[c["phase"]]))
        n = sum(c["counts"].values())
        ax.text(j, i, f"{c['phase']}\n{c['counts'][c['phase']]}/{n}", ha="center", va="center", fontsize=7)
    ax.set(xlim=(-0.5, len(fractions) - 0.5), ylim=(-0.5, len(wds) - 0.5), xticks=range(len(fractions)),
           xticklabels=[f"{f:g}" for f in fractions], yticks=range(len(wds)), yticklabels=[f"{w:g}" for w in wds],
           xlabel="training fraction", ylabel="weight decay λ (AdamW)", title="phase of each cell (majority of seeds)")
    ax.legend(handles=[Patch(color=c, label=p) for p, c in PHASE_COLOURS.items()], fontsize=7,
              bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return save_figure_atomic(fig, fig_dir / "phase_diagram.png")


def _langevin(fig_dir: Path, ds: xr.Dataset) -> Path:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    x = _steps(ds)
    temps = list(dict.fromkeys(ds["temperature"].values.tolist()))
    for r in range(ds.sizes["replica"]):
        k = temps.index(float(ds["temperature"].values[r]))
        first = r == int(np.argmax(ds["temperature"].values == temps[k]))
        axes[0].plot(x, ds["test_accuracy"].isel(replica=r), color=f"C{k}", lw=0.8,
                     label=f"T = {temps[k]:g}" if first else None)
        axes[1].plot(x, ds["loss"].isel(replica=r), color=f"C{k}", lw=0.8)
    axes[0].set(xscale="log", xlabel="step", ylabel="test accuracy", title="Langevin: test accuracy by temperature")
    axes[1].set(xscale="log", yscale="log", xlabel="step", ylabel="training loss L", title="training loss")
    axes[0].legend(fontsize=7)
    return save_figure_atomic(fig, fig_dir / "langevin.png")
