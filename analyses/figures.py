"""Figures shared by every model's report (ArviZ plots where ArviZ has them).

Public: :func:`forest` (posteriors of several fits, VI's single chain included, side by side), :func:`densities`,
:func:`elbo_traces` (smoothed −ELBO with the raw trace faint), :func:`free_energy_bars`, :func:`running_mean`.
"""

from __future__ import annotations

from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
import arviz_plots as azp  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from .common import save_figure_atomic  # noqa: E402


def _figure_of(plot_collection):
    fig = plot_collection.viz["figure"]
    return fig.item() if hasattr(fig, "item") else fig


def _legend(fig, names):
    handles = [Line2D([], [], color=f"C{i}", lw=2, label=n) for i, n in enumerate(names)]
    fig.legend(handles=handles, loc="upper right", frameon=False)


def _same_shape(trees: dict, var_names: list[str]) -> dict:
    """One chain of the same number of (evenly thinned) draws per tree.

    ArviZ overlays several DataTrees by concatenating them; trees with different chain/draw
    sizes would be padded with NaN (which blanks the plot), so pool chains and thin first.
    """
    pooled = {}
    for name, dt in trees.items():
        post = dt["posterior"].to_dataset()[[v for v in var_names if v in dt["posterior"].data_vars]]
        pooled[name] = post.stack(sample=("chain", "draw")).drop_vars(["sample", "chain", "draw"])
    n = min(ds.sizes["sample"] for ds in pooled.values())
    out = {}
    for name, ds in pooled.items():
        idx = np.linspace(0, ds.sizes["sample"] - 1, n).round().astype(int)
        thin = ds.isel(sample=idx).rename(sample="draw").expand_dims(chain=[0])
        thin = thin.assign_coords(draw=np.arange(n)).transpose("chain", "draw", ...)
        out[name] = xr.DataTree.from_dict({"posterior": thin})
    return out


def forest(trees: dict, var_names: list[str], path: Path) -> Path:
    """Forest plot comparing posteriors across fits: one row per variable, one colour per fit, with a legend.

    The way to put fits with different numbers of chains and draws side by side — NUTS (4 chains), SMC,
    and 1-chain VI fits (``advi``, ``fullrank_advi``), which ``arviz_plots.plot_forest`` on its own drops or
    blanks: every fit's chains are pooled and evenly thinned to the same number of draws first.

    ``trees``: {label: DataTree with a ``posterior`` group} (e.g. ``{"nuts": fit(m, "nuts"), "advi": fit(m,
    "advi")}``); ``var_names``: posterior variables to show (missing ones are skipped per fit); ``path``: the
    PNG to write (atomically).  Returns ``path``.
    """
    pc = azp.plot_forest(_same_shape(trees, var_names), var_names=var_names, combined=True, backend="matplotlib")
    fig = _figure_of(pc)
    _legend(fig, list(trees))
    return save_figure_atomic(fig, path)


def densities(trees: dict, var_names: list[str], path: Path) -> Path:
    """Marginal densities of every method overlaid (ArviZ ``plot_dist``)."""
    pc = azp.plot_dist(_same_shape(trees, var_names), var_names=var_names, kind="kde", backend="matplotlib",
                       visuals={"point_estimate_text": False, "point_estimate": False, "credible_interval": False})
    fig = _figure_of(pc)
    _legend(fig, list(trees))
    return save_figure_atomic(fig, path)


SMOOTHING_WINDOW = 0.05  # running-mean window of the smoothed −ELBO curve, as a fraction of the steps


def running_mean(trace: np.ndarray, window: int) -> np.ndarray:
    """Centred running mean of ``trace`` over ``window`` steps (shorter at both ends); NaN steps are skipped."""
    trace = np.asarray(trace, dtype=float)
    return pd.Series(trace).rolling(max(int(window), 1), min_periods=1, center=True).mean().to_numpy()


def elbo_traces(histories: dict[str, np.ndarray], exact: float | None, path: Path) -> Path:
    """−ELBO during optimisation for each VI fit: the running mean over ``SMOOTHING_WINDOW`` of the steps (at
    least 20) as a solid line, the raw per-step Monte Carlo estimates faint behind it, and the exact free
    energy as a dashed line (the smoothed curve approaches it from above; the gap is KL(q‖p))."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, hist) in enumerate(histories.items()):
        hist = np.asarray(hist, dtype=float)
        steps = np.arange(1, hist.size + 1)
        ax.plot(steps, hist, color=f"C{i}", lw=0.4, alpha=0.2)
        smooth = running_mean(hist, max(20, int(SMOOTHING_WINDOW * hist.size)))
        ax.plot(steps, smooth, color=f"C{i}", lw=1.8, label=f"{name} −ELBO (running mean; raw per step faint)")
    if exact is not None:
        ax.axhline(exact, color="k", ls="--", lw=1.2, label="exact free energy −ln p(y)")
        lo = exact - 5
        hi = max(np.nanpercentile(h, 90) for h in histories.values()) if histories else exact + 50
        ax.set_ylim(lo, max(hi, exact + 10))
    ax.set_xscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("nats")
    ax.set_title("−ELBO during optimisation (an upper bound on −ln Z)")
    ax.legend(frameon=False, fontsize=8)
    return save_figure_atomic(fig, path)


def _finite(v) -> bool:
    return v is not None and np.isfinite(float(v))


def free_energy_bars(rows: list[dict], exact: float | None, path: Path) -> Path:
    """Every free-energy estimate with its ±2 se error bar against the exact line; where a row carries
    a bracket (``sandwich_lower`` / ``sandwich_upper``, e.g. BDMC), the interval [lower, upper] is drawn
    as a bar just below its point estimate."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(rows), 2) + 1.5))
    labels = [" / ".join(str(r[k]) for k in ("method", "estimator") if r.get(k)) + f" ({r['kind']})" for r in rows]
    y = np.arange(len(rows))
    values = np.array([r["value"] for r in rows], dtype=float)
    ses = np.array([r["se"] if _finite(r.get("se")) else np.nan for r in rows], dtype=float)
    ax.errorbar(values, y, xerr=np.where(np.isfinite(ses), 2 * ses, 0), fmt="o", capsize=3, color="C0",
                label="estimate ± 2 se")
    brackets = [(i, float(r["sandwich_lower"]), float(r["sandwich_upper"])) for i, r in enumerate(rows)
                if _finite(r.get("sandwich_lower")) and _finite(r.get("sandwich_upper"))]
    for n, (i, lo, hi) in enumerate(brackets):
        ax.hlines(i + 0.25, min(lo, hi), max(lo, hi), color="C3", lw=4, alpha=0.8,
                  label="BDMC sandwich [lower, upper]" if n == 0 else None)
        ax.plot([lo, hi], [i + 0.25, i + 0.25], "|", color="C3", ms=10)
    if exact is not None:
        ax.axvline(exact, color="k", ls="--", label="exact")
    if exact is not None or brackets:
        ax.legend(frameon=False, fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("free energy −ln Z (nats), error bars ±2 se")
    ax.invert_yaxis()
    return save_figure_atomic(fig, path)
