"""Figures of ``physml run criticality``: Binder cumulants with their crossings, the data collapse, peaks vs L.

The collapse plots L^{−γ/ν} χ′ and L^{β/ν} ⟨|m|⟩ against x = (K − K_c) L^{1/ν} with the NUTS posterior means
(the exact exponents when there is no NUTS fit): curves of every L on one line mean scaling holds.
"""

from __future__ import annotations

from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..inference.spins import finite_size as fs  # noqa: E402
from ..models import finite_size_scaling as fss  # noqa: E402
from .common import save_figure_atomic  # noqa: E402


def draw_figures(fig_dir: Path, sims: dict, table: list[dict], crossings: list[dict], peaks: dict,
                 nuts_posterior: dict | None, s: dict) -> list[Path]:
    return [_binder(fig_dir / "binder.png", sims, table, crossings, s),
            _collapse(fig_dir / "collapse.png", table, nuts_posterior),
            _peaks(fig_dir / "peaks.png", peaks)]


def _binder(path: Path, sims: dict, table: list[dict], crossings: list[dict], s: dict) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    i_u = fs.OBSERVABLES.index("binder")
    for L, (Ks, runs) in sims.items():
        grid = np.linspace(Ks[0], Ks[-1], s["grid_points"])
        line, = ax.plot(grid, fs.reweighted(runs, Ks, L, grid)[:, i_u], label=f"L = {L} (reweighted)")
        pts = [r for r in table if r["L"] == L]
        ax.errorbar([r["K"] for r in pts], [r["binder"] for r in pts], [r["binder_se"] for r in pts], fmt="o",
                    color=line.get_color(), ms=3)
    for c in crossings:
        ax.axvspan(c["K_cross"] - c["se"], c["K_cross"] + c["se"], color="grey", alpha=0.3)
    ax.axvline(fss.K_CRITICAL, color="k", ls="--", label="exact K_c")
    ax.set(xlabel="K", ylabel="U₄", title="Binder cumulant (bands: crossings ± se)")
    ax.legend(fontsize=8)
    return save_figure_atomic(fig, path)


def _collapse(path: Path, table: list[dict], posterior: dict | None) -> Path:
    par = {k: (posterior[k]["mean"] if posterior else v) for k, v in fss.EXACT.items()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for L in sorted({r["L"] for r in table}):
        pts = [r for r in table if r["L"] == L]
        x = np.array([(r["K"] - par["K_c"]) * L ** (1 / par["nu"]) for r in pts])
        chi = np.array([r["chi_prime"] for r in pts]) * L ** (-par["gamma_over_nu"])
        m = np.array([r["abs_m"] for r in pts]) * L ** par["beta_over_nu"]
        axes[0].plot(x, chi, "o-", label=f"L = {L}")
        axes[1].plot(x, m, "o-", label=f"L = {L}")
    axes[0].set(xlabel="x = (K − K_c) L^{1/ν}", ylabel="L^{−γ/ν} N⟨m²⟩", title="collapse of χ′")
    axes[1].set(xlabel="x = (K − K_c) L^{1/ν}", ylabel="L^{β/ν} ⟨|m|⟩", title="collapse of ⟨|m|⟩")
    axes[0].legend(fontsize=8)
    fig.suptitle("exponents: " + ("NUTS posterior means" if posterior else "exact"))
    return save_figure_atomic(fig, path)


def _peaks(path: Path, peaks: dict) -> Path:
    Ls = np.array(sorted(peaks), dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    chi = np.array([peaks[L]["chi_max"] for L in sorted(peaks)])
    chi_se = np.array([peaks[L]["chi_max_se"] for L in sorted(peaks)])
    axes[0].errorbar(Ls, chi, chi_se, fmt="o")
    axes[0].plot(Ls, chi[0] * (Ls / Ls[0]) ** 1.75, "k--", label="∝ L^{7/4}")
    axes[0].set(xscale="log", yscale="log", xlabel="L", ylabel="χ_max", title="susceptibility peak")
    c = np.array([peaks[L]["C_max"] for L in sorted(peaks)])
    c_se = np.array([peaks[L]["C_max_se"] for L in sorted(peaks)])
    axes[1].errorbar(np.log(Ls), c, c_se, fmt="o")
    slope = 8 / np.pi * fss.K_CRITICAL ** 2  # Onsager / Ferdinand–Fisher: C_max ≈ (8 K_c²/π) ln L + const
    axes[1].plot(np.log(Ls), c[0] + slope * np.log(Ls / Ls[0]), "k--", label="slope 8K_c²/π")
    axes[1].set(xlabel="ln L", ylabel="C_max", title="specific-heat peak (α = 0)")
    for ax in axes:
        ax.legend(fontsize=8)
    return save_figure_atomic(fig, path)
