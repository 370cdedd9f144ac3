"""Convergence diagnostics and posterior tables, all computed by ArviZ (never by hand)."""
# (module named convergence.py so that it does not shadow records.diagnostics in the package namespace)

from __future__ import annotations

import math

import numpy as np
import xarray as xr
import arviz_stats as azs


def _posterior_vars(dt: xr.DataTree, var_names=None) -> list[str]:
    post = dt["posterior"]
    names = list(post.data_vars) if var_names is None else list(var_names)
    # Only numeric draws with chain and draw dims can be diagnosed.
    return [v for v in names if np.issubdtype(post[v].dtype, np.number) and {"chain", "draw"} <= set(post[v].dims)]


def posterior_table(dt: xr.DataTree, var_names=None) -> dict[str, dict[str, float]]:
    """Per-label mean, sd, MCSE of the mean, bulk/tail ESS and R-hat (labels as ArviZ prints them).

    R-hat is NaN for a single chain.
    """
    names = _posterior_vars(dt, var_names)
    table = azs.summary(dt, var_names=names, round_to="none")
    out = {}
    for label, row in table.iterrows():
        out[str(label)] = {
            "mean": float(row["mean"]), "sd": float(row["sd"]),
            "mcse_mean": float(row["mcse_mean"]), "ess_bulk": float(row["ess_bulk"]),
            "ess_tail": float(row["ess_tail"]), "r_hat": float(row["r_hat"]),
        }
    return out


def mcmc_diagnostics(dt: xr.DataTree, var_names=None) -> dict:
    """max R-hat, min bulk/tail ESS over all scalar components, and NUTS divergences."""
    table = posterior_table(dt, var_names)
    rhats = [r["r_hat"] for r in table.values() if math.isfinite(r["r_hat"])]
    out = {
        "max_rhat": max(rhats) if rhats else float("nan"),
        "min_ess_bulk": min(r["ess_bulk"] for r in table.values()),
        "min_ess_tail": min(r["ess_tail"] for r in table.values()),
        "n_chains": int(dt["posterior"].sizes["chain"]),
        "n_draws": int(dt["posterior"].sizes["draw"]),
    }
    if "sample_stats" in dt.children and "diverging" in dt["sample_stats"].data_vars:
        out["divergences"] = int(dt["sample_stats"]["diverging"].values.sum())
    return out
