r"""Compare fits of one model with its reference: posteriors and free energies.

An estimate :math:`\hat\theta \pm \mathrm{se}` of a quantity with a reference value :math:`\theta` is
shown with its error and z-score (:func:`versus_exact`, the one place this is computed),

.. math:: \mathrm{error} = \hat\theta - \theta, \qquad z = (\hat\theta - \theta)/\mathrm{se},

a posterior mean against the reference mean in MCSE units, a free energy against the exact −ln Z in se
units; for −ELBO (an upper bound) the error is the gap F_VI − F = KL(q‖p).

Given ``{method: DataTree}`` and a :class:`~physml.models.reference.Reference`, build
the numbers a report shows. Every quantity with an exact counterpart is shown with
it, and every estimate with its error bar (MCSE or se). The reasons not to trust a fit are
collected by :mod:`physml.analyses.warnings`.
"""

from __future__ import annotations

import math

import arviz_stats as azs
import xarray as xr

from ..inference import diagnostics, fit_info, free_energies, posterior_table
from ..models.reference import Reference
from .common import fmt


def posterior_comparison(fits: dict[str, xr.DataTree], reference: Reference | None,
                         var_names: list[str]) -> dict[str, dict]:
    """Per method and label: mean, sd, MCSE of the mean, sd ratio to the reference, and the
    error of the mean in MCSE units; per method the sum over the marginals of the Wasserstein-1 distance
    to the reference draws (ArviZ's ``wasserstein``, ``joint=False``)."""
    ref = reference.summary() if reference is not None else {}
    out = {}
    for method, dt in fits.items():
        names = [v for v in var_names if v in dt["posterior"].data_vars]
        table = posterior_table(dt, names)
        rows = {}
        for label, row in table.items():
            r = ref.get(label)
            entry = {"mean": row["mean"], "sd": row["sd"], "mcse_mean": row["mcse_mean"],
                     "ess_bulk": row["ess_bulk"], "r_hat": row["r_hat"]}
            if r is not None:
                entry["ref_mean"], entry["ref_sd"] = r["mean"], r["sd"]
                entry["sd_ratio"] = row["sd"] / r["sd"] if r["sd"] > 0 else float("nan")
                entry["error_in_mcse"] = versus_exact(row["mean"], row["mcse_mean"], r["mean"])[1]
                entry["error_in_ref_sd"] = (row["mean"] - r["mean"]) / r["sd"] if r["sd"] > 0 else float("nan")
            rows[label] = entry
        distance = float("nan")
        if reference is not None and reference.posterior is not None:
            shared = [v for v in names if v in reference.posterior["posterior"].data_vars]
            if shared:
                distance = float(azs.wasserstein(dt, reference.posterior, var_names=shared, joint=False,
                                                 round_to="none", random_seed=0))
        out[method] = {"posterior": rows, "wasserstein": distance}
    return out


def versus_exact(value: float | None, se: float | None, exact: float | None) -> tuple[float | None, float | None]:
    """(error, z) of an estimate ``value ± se`` against ``exact``: error = value − exact, z = error / se
    (None where there is no exact value, and z None where se is not > 0)."""
    if exact is None or value is None:
        return None, None
    error = value - exact
    return error, (error / se if se is not None and se > 0 else None)


def free_energy_comparison(fits: dict[str, xr.DataTree], exact: float | None) -> list[dict]:
    """One row per (method, estimator): value ± se, kind, wall time, error in se units against
    the exact value, and for an upper bound (−ELBO) the gap F_VI − F_exact = KL(q‖p)."""
    rows = []
    for method, dt in fits.items():
        for rec in free_energies(dt):
            row = {"method": method, **rec.to_dict()}
            if exact is not None:
                row["exact"] = exact
                row["error"], row["error_in_se"] = versus_exact(rec.value, rec.se, exact)
                if rec.kind == "upper_bound":
                    row["kl_gap"] = row["error"]
            rows.append(row)
    return rows


def sandwich_text(row: dict) -> str:
    """``[lower, upper] (width w)`` of a row's BDMC sandwich on −ln Z, or "—" where it has none."""
    lo, hi = row.get("sandwich_lower"), row.get("sandwich_upper")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{fmt(lo, 8)}, {fmt(hi, 8)}] (width {hi - lo:.3g})"


def fit_record(dt: xr.DataTree, comparison: dict | None) -> dict:
    """The ``fits[METHOD]`` entry of ``summary.json``."""
    info = fit_info(dt)
    posterior = {}
    if comparison is not None:
        posterior = {label: {k: row[k] for k in ("mean", "sd", "mcse_mean") if k in row}
                     for label, row in comparison["posterior"].items()}
    fe = free_energies(dt)
    primary = fe[0].to_dict() if fe else None
    return {
        "free_energy": None if primary is None else {k: primary[k] for k in ("value", "se", "kind")},
        "free_energies": {r.estimator: r.to_dict() for r in fe},
        "posterior": posterior,
        "diagnostics": diagnostics(dt),
        "wall_time_s": info["wall_time_s"],
        "backend": info["backend"],
        "settings": info["settings"],
    }

