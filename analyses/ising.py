r"""``physml run ising``: samplers, mean field, Bethe, TI and AIS against the exact Ising solution.

.. math:: P(s) = e^{K\sum_{\langle ij\rangle} s_i s_j + h\sum_i s_i} / Z, \qquad F = -\ln Z,

exact by enumeration (L² ≤ 16) or Kaufman's formula (periodic, h = 0). What it fits: each spin sampler
(observables E/N, |M|/N, (M/N)² against the exact values); mean field (−ELBO, an upper bound on F), Bethe,
spin TI and AIS with its BDMC sandwich against the exact F; a sweep over K against Onsager and Yang.
What it plots: a spin configuration, traces, the free energies, the K sweep.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..inference.spins.bethe import belief_propagation
from ..inference.fit import fit
from ..inference.evidence.adaptive import FE_TIME_CAP, check_tolerance
from ..inference.spins.coupling_scale import fast_square
from ..inference.spins.free_energy import ais_to_tolerance, ti_to_tolerance
from ..inference.spins.mean_field import mean_field
from ..inference.records import FreeEnergy, diagnostics
from ..models import ising as im
from .common import Progress, pm_fmt, save_datatree_atomic, save_figure_atomic
from .compare import versus_exact
from .figures import free_energy_bars
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

DEFAULTS = {
    "L": 16, "K": im.K_CRITICAL, "h": 0.0, "boundary": "periodic",
    "draws": 0, "chains": 0,  # 0: size from quick / full mode
    "k_min": 0.1, "k_max": 0.7, "k_points": 0,
    "ti_rungs": 0, "ti_draws": 0, "ais_temps": 0, "ais_runs": 0,
    "fe_tol": 0.0, "fe_time_cap": FE_TIME_CAP,  # nats (0 = off): TI and AIS grow until their error is below it
}
ALL_METHODS = ("checkerboard", "heat_bath", "swendsen_wang", "wolff")
CLUSTER_METHODS = ("swendsen_wang", "wolff")  # need h = 0
OBS = ("energy", "abs_magnetisation", "magnetisation_sq")


def _sizes(s: dict, quick: bool) -> dict:
    q = {"draws": 400, "chains": 2, "k_points": 5, "ti_rungs": 9, "ti_draws": 150, "ais_temps": 150, "ais_runs": 16}
    f = {"draws": 3000, "chains": 4, "k_points": 13, "ti_rungs": 33, "ti_draws": 1000, "ais_temps": 1000,
         "ais_runs": 32}
    size = resolve_sizes(s, q if quick else f)
    n = max(s["L"], 0) ** 2  # spins; each fit records every draw's configuration
    check_memory({"draws × chains × L²": size["draws"] * size["chains"] * (n + 16), "L²": 16 * n,
                  "k_points × draws": size["k_points"] * max(200, size["draws"] // 4) * 2 * 16,
                  "ti_rungs × ti_draws": size["ti_rungs"] * size["ti_draws"] * 8,
                  "ais_runs × (L² + ais_temps)": size["ais_runs"] * (n + size["ais_temps"])})
    return size


def _exact_at(L, K, h, boundary):
    """(ln Z/N, <|M|>/N or None, source) at one K for the K sweep."""
    n = L * L
    if n <= 16:
        ex = im.enumerate_ising(im.ising_couplings(L, K, h, boundary))
        return ex["log_z_per_spin"], ex["abs_magnetisation"], "enumeration"
    if boundary == "periodic" and h == 0:
        return im.log_partition_kaufman(L, K) / n, None, "kaufman"
    return None, None, "none"


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, spec, methods = _validate(settings, methods, data)
    size = _sizes(s, quick)
    out_dir, log, t_start = Path(out_dir), Progress("ising", progress), time.perf_counter()
    model = im.ising_model(spec.L, spec.K, spec.h, spec.boundary)
    couplings = im.ising_couplings(spec.L, spec.K, spec.h, spec.boundary)
    log("exact reference")
    reference = im.exact_reference(spec)
    exact_F = reference.get("free_energy")
    trees = {}
    for i, m in enumerate(methods):
        log(f"fit {m}")
        trees[m] = fit(model, m, draws=size["draws"], tune=max(100, size["draws"] // 10), chains=size["chains"],
                       seed=seed + i, free_energy=())
        save_datatree_atomic(trees[m], out_dir / f"{m}.nc")
    log("mean field, Bethe, TI, AIS")
    mf, bp = mean_field(couplings), belief_propagation(couplings)
    ti, ais = _ti_and_ais(couplings, spec.h == 0, s, size, seed)
    free = [{"estimator": "exact", "value": exact_F, "se": 0.0, "kind": "exact", "source": reference["source"]},
            {"estimator": "mean_field", "value": mf.free_energy, "se": 0.0, "kind": "upper_bound"},
            {"estimator": "bethe", "value": bp.free_energy, "se": 0.0, "kind": "estimate"},
            {**_row("ti", ti), "wall_time_s": ti.wall_time_s, "note": ti.note},
            {**_row("ais", ais), "wall_time_s": ais.wall_time_s, "note": ais.note, "sandwich_lower": ais.sandwich_lower,
             "sandwich_upper": ais.sandwich_upper}]
    for r in free:
        r["error"], r["z"] = versus_exact(r["value"], r["se"], exact_F)
    report = _report(spec, reference)
    warnings = _check(report, trees, exact_F, mf, bp, ti, ais)
    log("K sweep")
    sweep = _k_sweep(spec, s, size, seed)
    log("figures")
    figs = _figures(out_dir / "figures", spec, _spin_snapshot(trees, spec), _traces(trees), free, sweep)
    summary = {
        "model": "ising",
        "settings": {**s, **size, "methods": methods, "quick": quick, "seed": seed},
        "reference": reference,
        "fits": {m: _fit_row(dt, reference) for m, dt in trees.items()},
        "mean_field": {"free_energy": mf.free_energy, "abs_magnetisation": mf.abs_magnetisation,
                       "converged": mf.converged, "K_c": im.K_CRITICAL_MEAN_FIELD},
        "bethe": {"free_energy": bp.free_energy, "abs_magnetisation": bp.abs_magnetisation, "converged": bp.converged,
                  "K_c": im.K_CRITICAL_BETHE},
        "free_energy": free,
        "warnings": warnings,
        "k_sweep": sweep,
    }
    log("done")
    return _report_sections(report, summary).save(out_dir, summary, figures=figs, started=t_start)


def _validate(settings: dict, methods: list[str] | None, data: str | None) -> tuple[dict, im.IsingSpec, list[str]]:
    """Typed settings, the lattice and the methods to run (cluster moves only at h = 0); ValueError otherwise."""
    if data:
        raise ValueError("the ising analysis takes no data file (data must be empty)")
    s = merge_settings(DEFAULTS, settings)
    spec = im.IsingSpec(L=s["L"], K=float(s["K"]), h=float(s["h"]), boundary=s["boundary"])
    if spec.K < 0:
        raise ValueError(f"setting K must be >= 0, got {spec.K}")
    if not (0 <= s["k_min"] < s["k_max"]):
        raise ValueError(f"settings k_min, k_max must satisfy 0 <= k_min < k_max, got {s['k_min']}, {s['k_max']}")
    check_tolerance(s["fe_tol"], s["fe_time_cap"], prefix="setting ")
    zero_field = spec.h == 0
    methods = list(methods) if methods else [m for m in ALL_METHODS if zero_field or m not in CLUSTER_METHODS]
    check_methods(methods, allowed=ALL_METHODS,
                  reason=lambda m: "it needs h = 0 (cluster updates)" if m in CLUSTER_METHODS and not zero_field
                  else None)
    return s, spec, methods


def _ti_and_ais(couplings, zero_field: bool, s: dict, size: dict, seed: int) -> tuple[FreeEnergy, FreeEnergy]:
    """Spin TI and AIS of −ln Z, grown to ``fe_tol`` if set.

    Periodic even L, uniform K and h: numba checkerboard with the Rao-Blackwellised bond sum and
    variance-based allocation of draws over rungs; otherwise Swendsen-Wang (h = 0) or checkerboard.
    """
    fast = fast_square(couplings)
    sampler = "checkerboard" if fast or not zero_field else "swendsen_wang"
    tol = {"fe_tol": s["fe_tol"], "fe_time_cap": s["fe_time_cap"]}
    ti = ti_to_tolerance(couplings, n_rungs=size["ti_rungs"], draws=size["ti_draws"], sampler=sampler,
                         seed=seed + 100, allocate="variance" if fast else "uniform", **tol)
    ais = ais_to_tolerance(couplings, n_temps=size["ais_temps"], n_runs=size["ais_runs"], sampler="checkerboard",
                           seed=seed + 200, **tol)
    return ti, ais


def _row(estimator: str, record: FreeEnergy) -> dict:
    return {"estimator": estimator, "value": record.value, "se": record.se, "kind": record.kind}


def _fit_row(dt, reference: dict) -> dict:
    """A sampler's ``fits`` entry: each observable's mean ± MCSE against the exact value, τ_int, c, χ."""
    d = diagnostics(dt)
    row = {"wall_time_s": float(dt.attrs.get("physml_wall_time_s", float("nan"))), "diagnostics": d}
    for o in OBS:
        mean, se = d[f"mean_{o}"], d[f"mcse_{o}"]
        ex = reference.get({"energy": "energy_per_spin"}.get(o, o))
        row[o] = {"mean": mean, "mcse": se, "exact": ex, "z": versus_exact(mean, se, ex)[1]}
    row["tau_int_sweeps_abs_magnetisation"] = d["tau_int_sweeps_abs_magnetisation"]
    row["tau_int_sweeps_energy"] = d["tau_int_sweeps_energy"]
    row["specific_heat_per_spin"] = {"value": d["specific_heat_per_spin"], "se": d["specific_heat_per_spin_se"],
                                     "exact": reference.get("specific_heat_per_spin")}
    row["susceptibility"] = {"value": d["susceptibility"], "se": d["susceptibility_se"]}
    return row


def _traces(trees: dict) -> dict:
    """Chain 0's E/N and |M|/N of every sampler."""
    return {m: (dt["posterior"]["energy"].values[0], dt["posterior"]["abs_magnetisation"].values[0])
            for m, dt in trees.items()}


def _spin_snapshot(trees: dict, spec: im.IsingSpec):
    """The last recorded configuration of chain 0 of the first sampler that records spins (or None)."""
    for dt in trees.values():
        if "spins" in dt["posterior"]:
            return dt["posterior"]["spins"].values[0, -1].reshape(spec.L, spec.L)
    return None


def _k_sweep(spec: im.IsingSpec, s: dict, size: dict, seed: int) -> dict:
    """ln Z/N and ⟨|M|⟩/N over K: exact (finite L), Onsager/Yang (L = ∞), mean field, Bethe and MCMC."""
    n, zero_field = spec.n_spins, spec.h == 0
    ks = np.linspace(s["k_min"], s["k_max"], size["k_points"])
    sweep = {"K": ks.tolist(), "exact_log_z_per_spin": [], "exact_abs_magnetisation": [], "onsager_log_z_per_spin": [],
             "yang_magnetisation": [], "mf_log_z_per_spin": [], "mf_abs_magnetisation": [],
             "bethe_log_z_per_spin": [], "bethe_abs_magnetisation": [], "mcmc_abs_magnetisation": [],
             "mcmc_abs_magnetisation_mcse": [], "mcmc_method": "wolff" if zero_field else "checkerboard"}
    for j, K in enumerate(ks):
        cK = im.ising_couplings(spec.L, float(K), spec.h, spec.boundary)
        lz, am, _ = _exact_at(spec.L, float(K), spec.h, spec.boundary)
        sweep["exact_log_z_per_spin"].append(lz)
        sweep["exact_abs_magnetisation"].append(am)
        sweep["onsager_log_z_per_spin"].append(im.onsager_log_partition_per_spin(K) if K > 0 else math.log(2))
        sweep["yang_magnetisation"].append(im.yang_magnetisation(K))
        r_mf, r_bp = mean_field(cK), belief_propagation(cK)
        sweep["mf_log_z_per_spin"].append(-r_mf.free_energy / n)
        sweep["mf_abs_magnetisation"].append(r_mf.abs_magnetisation)
        sweep["bethe_log_z_per_spin"].append(-r_bp.free_energy / n)
        sweep["bethe_abs_magnetisation"].append(r_bp.abs_magnetisation)
        dK = fit(im.ising_model_from_couplings(cK), sweep["mcmc_method"], draws=max(200, size["draws"] // 4),
                 tune=100, chains=2, seed=seed + 1000 + j, free_energy=(), record_spins=False)
        dd = diagnostics(dK)
        sweep["mcmc_abs_magnetisation"].append(dd["mean_abs_magnetisation"])
        sweep["mcmc_abs_magnetisation_mcse"].append(dd["mcse_abs_magnetisation"])
    return sweep


def _check(report: Report, trees: dict, exact_F, mf, bp, ti: FreeEnergy, ais: FreeEnergy) -> list[str]:
    """The report's warnings: the sampler fits, mean field and Bethe (convergence; mean field is a bound),
    spin TI and AIS (self-checks; within 4 se of the exact −ln Z)."""
    return report.check(
        trees, exact_free_energy=exact_F,
        records=[("mean field", FreeEnergy(mf.free_energy, 0.0, "upper_bound", "mean_field")),
                 ("Bethe", FreeEnergy(bp.free_energy, 0.0, "estimate", "bethe")), ("spin TI", ti), ("spin AIS", ais)],
        diagnostics={"mean field": {"converged": mf.converged, "stop_reason": f"{mf.n_iter} iterations"},
                     "Bethe (loopy BP)": {"converged": bp.converged, "stop_reason": f"{bp.n_iter} iterations"}})


def _figures(fig_dir: Path, spec, spins, traces, free, sweep) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    if spins is not None:
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.imshow(spins, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"spins, L={spec.L}, K={spec.K:.4f}")
        ax.set_xticks([]), ax.set_yticks([])
        paths.append(save_figure_atomic(fig, fig_dir / "spins.png"))
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for m, (e, am) in traces.items():
        axes[0].plot(e, lw=0.6, label=m)
        axes[1].plot(am, lw=0.6, label=m)
    axes[0].set_ylabel("E/N")
    axes[1].set_ylabel("|M|/N")
    axes[1].set_xlabel("draw (chain 0)")
    axes[0].legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "traces.png"))
    ex = next(r["value"] for r in free if r["estimator"] == "exact")
    paths.append(free_energy_bars([r for r in free if r["estimator"] != "exact"], ex, fig_dir / "free_energy.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    K = np.array(sweep["K"])
    f = lambda key: np.array([np.nan if v is None else v for v in sweep[key]], dtype=float)  # noqa: E731
    axes[0].plot(K, f("onsager_log_z_per_spin"), "k-", label="Onsager (L=∞)")
    axes[0].plot(K, f("exact_log_z_per_spin"), "k--", label=f"exact L={spec.L}")
    axes[0].plot(K, f("mf_log_z_per_spin"), label="mean field")
    axes[0].plot(K, f("bethe_log_z_per_spin"), label="Bethe")
    axes[0].set_xlabel("K")
    axes[0].set_ylabel("ln Z / N")
    axes[0].legend(fontsize=8)
    axes[1].plot(K, f("yang_magnetisation"), "k-", label="Yang (L=∞)")
    axes[1].plot(K, f("mf_abs_magnetisation"), label="mean field")
    axes[1].plot(K, f("bethe_abs_magnetisation"), label="Bethe")
    axes[1].errorbar(K, f("mcmc_abs_magnetisation"), yerr=2 * f("mcmc_abs_magnetisation_mcse"), fmt="o", ms=3,
                     label=f"MCMC ({sweep['mcmc_method']}) L={spec.L}")
    if np.any(np.isfinite(f("exact_abs_magnetisation"))):
        axes[1].plot(K, f("exact_abs_magnetisation"), "k--", label=f"exact L={spec.L}")
    axes[1].set_xlabel("K")
    axes[1].set_ylabel("|M| / N")
    axes[1].legend(fontsize=8)
    for ax in axes:
        for kc, name in ((im.K_CRITICAL_MEAN_FIELD, "MF"), (im.K_CRITICAL_BETHE, "Bethe"), (im.K_CRITICAL, "K_c")):
            ax.axvline(kc, color="grey", lw=0.5, ls=":")
    paths.append(save_figure_atomic(fig, fig_dir / "k_sweep.png"))
    return paths


def _report(spec: im.IsingSpec, reference: dict) -> Report:
    return Report(f"Ising model, L = {spec.L} ({spec.boundary}), K = {spec.K:.7g}, h = {spec.h:g}",
                  f"P(s) ∝ exp(K Σ⟨ij⟩ s_i s_j + h Σ s_i). Exact reference: {reference['source']}. "
                  f"K_c = {im.K_CRITICAL:.7f} (Onsager), K_c^MF = 1/4, K_c^Bethe = atanh(1/3) = {im.K_CRITICAL_BETHE:.4f}.")


def _report_sections(report: Report, summary: dict) -> Report:
    """Observables against the exact values, free energies against the exact −ln Z, figures."""
    ref = summary["reference"]
    rows = [[m, pm_fmt(r["energy"]["mean"], r["energy"]["mcse"]), r["energy"]["z"],
             pm_fmt(r["abs_magnetisation"]["mean"], r["abs_magnetisation"]["mcse"]), r["abs_magnetisation"]["z"],
             pm_fmt(r["specific_heat_per_spin"]["value"], r["specific_heat_per_spin"]["se"]),
             pm_fmt(r["susceptibility"]["value"], r["susceptibility"]["se"]),
             r["tau_int_sweeps_energy"], r["tau_int_sweeps_abs_magnetisation"], r["wall_time_s"]]
            for m, r in summary["fits"].items()]
    report.section("Observables (mean ± MCSE; z = (mean − exact)/MCSE; τ_int in sweeps from ArviZ ESS)").table(
        ["method", "E/N", "z", "|M|/N", "z", "c", "χ", "τ_E", "τ_|M|", "time (s)"], rows).add(
        f"Exact: E/N = {ref.get('energy_per_spin', float('nan')):.6f}, "
        f"c = {ref.get('specific_heat_per_spin', float('nan')):.4f}"
        + (f", ⟨|M|⟩/N = {ref['abs_magnetisation']:.6f}" if "abs_magnetisation" in ref else
           f" (⟨|M|⟩ has no closed form at finite L; Yang's L = ∞ value is {ref['yang_magnetisation']:.4f})"))
    report.free_energy(summary["free_energy"], ref.get("free_energy"), after=[
        "Mean field is −ELBO, an upper bound on −ln Z (Gibbs–Bogoliubov); Bethe is not a bound in general (for "
        "ferromagnets Z_Bethe ≤ Z). AIS: E[Ẑ] = Z, so −ln Ẑ is a stochastic upper bound; its reverse pass from "
        "equilibrium spins gives a stochastic lower bound, and the two make the BDMC sandwich [lower, upper] "
        "(flagged `unreliable:` when wider than 0.1 nats)."])
    return report
