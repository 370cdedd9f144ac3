"""Figures of ``physml run landscape``: Hessian spectra, F_γ against γ, flatness against test error, and the
loss along the straight and Bézier paths (from ``landscape.nc``, :mod:`physml.analyses.landscape`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .common import save_figure_atomic

COLOURS = {"no weight decay": "C3", "weight decay": "C0"}


def all_figures(fig_dir: Path, tree: xr.DataTree, summary: dict) -> list[Path]:
    minima, paths = tree["minima"].to_dataset(), tree["paths"].to_dataset()
    return [_spectra(fig_dir, minima), _free_energy(fig_dir, minima, summary), _flatness(fig_dir, summary),
            _paths(fig_dir, paths)]


def _colour(regime: str) -> str:
    return COLOURS.get(regime, "C2")


def _spectra(fig_dir: Path, ds: xr.Dataset) -> Path:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for i in range(ds.sizes["minimum"]):
        regime = str(ds["regime"].values[i])
        ev = ds["eigenvalue"].values[i]
        ax.semilogy(np.arange(1, len(ev) + 1), np.abs(ev), color=_colour(regime), lw=1, alpha=0.7,
                    label=regime if regime not in ax.get_legend_handles_labels()[1] else None)
    ax.set(xlabel="rank", ylabel="|eigenvalue| of ∇²L", title="Exact Hessian spectra at the minima")
    ax.legend()
    return save_figure_atomic(fig, fig_dir / "spectra.png")


def _free_energy(fig_dir: Path, ds: xr.Dataset, summary: dict) -> Path:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    gamma, d = summary["settings"]["gamma"], ds.sizes["rank"]
    free = 0.5 * d * np.log(ds["gamma"].values / (2 * np.pi))   # F_γ of L ≡ 0: the coupling alone
    for i in range(ds.sizes["minimum"]):
        regime = str(ds["regime"].values[i])
        ax.plot(ds["gamma"], ds["F_laplace"].values[i] - free, color=_colour(regime), lw=1, alpha=0.7,
                label=regime if regime not in ax.get_legend_handles_labels()[1] else None)
        if np.isfinite(ds["F_ti"].values[i]):
            ax.errorbar(gamma, ds["F_ti"].values[i] - 0.5 * d * np.log(gamma / (2 * np.pi)), yerr=ds["F_ti_se"].values[i],
                        fmt="o", ms=3, color=_colour(regime), capsize=2)
    ax.set_xscale("log")
    ax.set(xlabel="γ", ylabel="F_γ(w) − (d/2) ln(γ/2π)  (nats)",
           title="Excess local free energy −ln E_{N(w, I/γ)}[e^{−L}]: Laplace (lines), TI ± se (points)")
    ax.title.set_fontsize(9)
    ax.legend()
    return save_figure_atomic(fig, fig_dir / "local_free_energy.png")


def _flatness(fig_dir: Path, summary: dict) -> Path:
    import matplotlib.pyplot as plt
    keys = [("hessian_top", "λ_max(∇²L)"), ("hessian_trace", "tr ∇²L"), ("F_laplace", "F_γ Laplace"),
            ("F_ti", "F_γ TI"), ("normalised_top", "λ_max(D∇²L D)"), ("weight_norm", "‖w‖")]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    rows = summary["minima"]
    for ax, (key, label) in zip(axes.flat, keys):
        for r in rows:
            ax.scatter(r[key], r["test_error"], color=_colour(r["regime"]), s=18)
        rho = summary["correlations"][key]["all"]["rho"]
        ax.set(xlabel=label, ylabel="test error", title=f"ρ = {rho:+.2f}" if rho is not None else "ρ: —")
    fig.suptitle("Flatness against test error (red: no weight decay, blue: weight decay)")
    fig.tight_layout()
    return save_figure_atomic(fig, fig_dir / "flatness_vs_test_error.png")


def _paths(fig_dir: Path, ds: xr.Dataset) -> Path:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, ds.sizes["regime"], figsize=(10, 3.5), squeeze=False)
    for ax, regime in zip(axes[0], ds["regime"].values):
        sel = ds.sel(regime=regime)
        ax.plot(ds["t"], sel["line"], color="C7", label="straight line")
        ax.plot(ds["t"], sel["bezier"], color=_colour(str(regime)), label="quadratic Bézier")
        ax.set(xlabel="t", ylabel="U_λ (nats)", title=str(regime))
        ax.legend()
    fig.tight_layout()
    return save_figure_atomic(fig, fig_dir / "mode_connectivity.png")
