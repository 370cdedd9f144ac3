r"""The sampling part of ``physml run double_descent``: a hierarchical prior over the prior scale,
ln v_0 ~ N(0, 3²), with β and σ² integrated out exactly (:func:`~physml.models.random_features.hierarchical_scale_model`),
fitted by NUTS and mean-field ADVI at a few γ, against

* the exact posterior mean of ln v_0 by 1-D quadrature (z = (mean − exact)/MCSE for NUTS; ADVI's error shown,
  and compared only once its fit converged);
* the risk of the evidence-tuned posterior mean (type-II maximum likelihood, v̂_0) on the same data set: the
  hierarchical posterior mean E[β | y] = E_{v_0 | y}[ridge(1/(n v_0))] should give nearly the same risk.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..inference import diagnostics, posterior_table
from ..inference.fit import fit
from ..models import random_features as rf
from .common import pm_fmt, save_datatree_atomic
from .compare import versus_exact
from .report import Report

METHODS = ("nuts", "advi")
#: posterior draws of ln v_0 averaged for E[β | y] (each a ridge solve)
MEAN_DRAWS = 200


def parse_gammas(text: str, limits: tuple[float, float]) -> list[float]:
    """The comma-separated γ values of setting ``nuts_gammas`` (may be empty); ValueError naming it."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"setting nuts_gammas must be comma-separated numbers, got {text!r}") from None
    lo, hi = limits
    if any(not (math.isfinite(g) and lo <= g <= hi) for g in values):
        raise ValueError(f"setting nuts_gammas must lie in [{lo}, {hi}], got {text!r}")
    return values


def hierarchical_fits(out_dir: Path, gammas: list[float], methods: list[str], s: dict, size: dict, seed: int,
                      log) -> tuple[list[dict], dict]:
    """One row per (γ, data set) at n = size["n"]: the exact E[ln v_0 | y], v̂_0, each method's ln v_0 mean
    and the risks; and every fit's DataTree (saved as ``hierarchical/<method>_g<γ>_d<k>.nc``)."""
    rng, n, rows, trees = np.random.default_rng(seed + 7919), size["n"], [], {}
    for j, g in enumerate(gammas):
        p = max(1, round(g * n))
        for k in range(size["nuts_datasets"]):
            log(f"hierarchical prior: γ = {g:g}, data set {k}")
            data, beta = rf.sample_data(n, p, s["r"], s["sigma"], rng)
            design = rf.SpectralDesign.of(data)
            v0, _ = rf.evidence_optimal_scale(design, s["a0"], s["b0"])
            row = {"gamma": p / n, "p": p, "dataset": k,
                   "exact_log_v0_mean": rf.log_v0_posterior_mean(design, s["a0"], s["b0"]),
                   "evidence_log_v0": math.log(v0),
                   "risk_evidence": rf.excess_risk(design.ridge(1.0 / (n * v0)), beta)}
            model = rf.hierarchical_scale_model(design, s["a0"], s["b0"])
            for i, m in enumerate(methods):
                dt = fit(model, m, draws=size["draws"], tune=size["draws"], chains=2,
                         seed=seed + 100 * j + 10 * k + i, free_energy=())
                name = f"{m}_g{g:g}_d{k}"
                trees[name] = dt
                save_datatree_atomic(dt, out_dir / "hierarchical" / f"{name}.nc")
                row[m] = _method_row(dt, design, beta, row["exact_log_v0_mean"])
            rows.append(row)
    return rows, trees


def _method_row(dt, design: rf.SpectralDesign, beta: np.ndarray, exact: float) -> dict:
    t = posterior_table(dt, ["log_v0"])["log_v0"]
    u = dt["posterior"]["log_v0"].values.ravel()
    pick = np.linspace(0, u.size - 1, min(MEAN_DRAWS, u.size)).astype(int)
    err, z = versus_exact(t["mean"], t["mcse_mean"], exact)
    converged = diagnostics(dt).get("converged")
    return {"log_v0_mean": t["mean"], "mcse": t["mcse_mean"], "sd": t["sd"], "error": err, "z": z,
            "converged": converged, "risk": rf.excess_risk(rf.hierarchical_posterior_mean(design, u[pick]), beta)}


def section(report: Report, rows: list[dict], methods: list[str], n: int) -> None:
    """The table of the hierarchical fits against the exact quadrature and the evidence-tuned risk."""
    if not rows:
        return
    def cell(r, m):
        e = r[m]
        if e.get("converged") is False:
            return "not converged"
        z = "" if m != "nuts" or e["z"] is None else f", z {e['z']:+.1f}"
        return f"{pm_fmt(e['log_v0_mean'], e['mcse'])} (error {e['error']:+.3f}{z}); risk {e['risk']:.4g}"

    report.section(f"Hierarchical prior over the scale (n = {n}): NUTS and mean-field ADVI").table(
        ["γ", "p", "data set", "exact E[ln v₀ | y]", "ln v̂₀ (evidence max)", "risk, evidence-tuned"]
        + [f"{m}: ln v₀ mean ± MCSE; risk of E[β | y]" for m in methods],
        [[r["gamma"], r["p"], r["dataset"], r["exact_log_v0_mean"], r["evidence_log_v0"], r["risk_evidence"]]
         + [cell(r, m) for m in methods] for r in rows]).add(
        "ln v₀ ~ N(0, 3²); β and σ² are integrated out exactly, so the model has one parameter and its exact "
        "posterior mean comes from 1-D quadrature. NUTS z = (mean − exact)/MCSE. ADVI's mean is an optimum, not "
        "an MC estimate: its error is the Gaussian approximation's bias. The risk of the hierarchical posterior "
        "mean averages the ridge estimate over posterior draws of v₀.")
