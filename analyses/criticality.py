r"""``physml run criticality``: the 2D Ising transition by finite-size scaling, with a Bayesian FSS fit.

Per size L and coupling K near K_c (Wolff chains): ⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩, e, C, χ, χ′ = N⟨m²⟩ and
U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²) with block-jackknife errors; Ferrenberg–Swendsen multi-histogram reweighting between
the simulated K (its ln Z(K) − ln Z(K₁) checked against Kaufman's exact value); Binder crossings of successive
sizes → K_c; χ and C peaks against L; then the PyMC scaling model of :mod:`physml.models.finite_size_scaling`
fit by NUTS and mean-field ADVI, posterior against the exact K_c = 0.4406868, ν = 1, γ/ν = 7/4, β/ν = 1/8.
K grid per L: ``K_center`` + ``x_halfwidth`` · t / L, t ∈ [−1, 1] (a window of fixed x = (K − K_c) L).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..inference.fit import fit
from ..inference.executor import current_executor
from ..inference.evidence.multi_histogram import jackknife_blocks, multi_histogram
from ..inference.spins import finite_size as fs
from ..models import finite_size_scaling as fss
from ..models.ising import log_partition_kaufman
from .common import Progress, fmt, pm_fmt, save_datatree_atomic
from .compare import versus_exact
from .criticality_figures import draw_figures
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

DEFAULTS = {"sizes": "8,16,32", "K_center": 0.44, "x_halfwidth": 0.4, "k_points": 0, "draws": 0, "blocks": 10,
            "grid_points": 61, "degree": 3, "omega": 1.75, "nuts_draws": 0}
ALL_METHODS = ("nuts", "advi", "fullrank_advi")
TARGETS = {"K_c": 0.005, "gamma_over_nu": 0.05}  # the relative tolerances


def _sizes(s: dict, quick: bool) -> dict:
    q = {"draws": 800, "k_points": 5, "nuts_draws": 300}
    f = {"draws": 4000, "k_points": 7, "nuts_draws": 1000}
    return resolve_sizes({k: s[k] for k in q}, q if quick else f)


def parse_sizes(text) -> list[int]:
    """The lattice sizes of ``--set sizes=8,16,32``: ≥ 2 distinct integers in [4, 256], ascending."""
    try:
        sizes = sorted({int(t) for t in str(text).split(",") if t.strip()})
    except ValueError:
        raise ValueError(f"setting sizes must be comma-separated integers, got {text!r}") from None
    if len(sizes) < 2 or sizes[0] < 4 or sizes[-1] > 256:
        raise ValueError(f"setting sizes needs at least 2 distinct sizes in [4, 256], got {text!r}")
    return sizes


def _validate(settings: dict, methods, data, quick: bool) -> tuple[dict, list[int], list[str]]:
    if data:
        raise ValueError("the criticality analysis takes no data file (data must be empty)")
    s = merge_settings(DEFAULTS, settings)
    sizes = parse_sizes(s["sizes"])
    if not 0.05 <= s["K_center"] <= 2.0:
        raise ValueError(f"setting K_center must be in [0.05, 2], got {s['K_center']}")
    if not 0.01 <= s["x_halfwidth"] <= 2.0 or s["K_center"] - s["x_halfwidth"] / sizes[0] <= 0:
        raise ValueError(f"setting x_halfwidth must be in [0.01, 2] with K_center − x_halfwidth / L > 0, got "
                         f"{s['x_halfwidth']}")
    if not 2 <= s["blocks"] <= 100:
        raise ValueError(f"setting blocks must be in [2, 100], got {s['blocks']}")
    if not 11 <= s["grid_points"] <= 2001:
        raise ValueError(f"setting grid_points must be in [11, 2001], got {s['grid_points']}")
    if not 1 <= s["degree"] <= 6 or not 0.1 <= s["omega"] <= 5:
        raise ValueError(f"settings degree in [1, 6] and omega in [0.1, 5], got {s['degree']}, {s['omega']}")
    default = ALL_METHODS[:1] if quick else ALL_METHODS  # quick: NUTS only (ADVI alone needs ~30 s)
    methods = check_methods(list(methods) if methods else list(default), allowed=ALL_METHODS)
    return s, sizes, methods


def k_grid(L: int, s: dict, points: int) -> np.ndarray:
    return s["K_center"] + s["x_halfwidth"] * np.linspace(-1.0, 1.0, points) / L


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, sizes, methods = _validate(settings, methods, data, quick)
    size = _sizes(s, quick)
    if size["k_points"] < 3:
        raise ValueError(f"setting k_points must be >= 3, got {size['k_points']}")
    check_memory({"sizes × k_points × draws": len(sizes) * size["k_points"] * size["draws"] * 4,
                  "grid_points × draws × k_points": s["grid_points"] * size["draws"] * size["k_points"] * 3})
    out_dir, log, t_start = Path(out_dir), Progress("criticality", progress), time.perf_counter()
    sims = _simulate_grid(sizes, s, size, seed, log)
    log("observables, reweighting, crossings, peaks")
    table = _observable_table(sims, s["blocks"])
    crossings = _crossings(sims, s)
    peaks = {L: _peaks(L, *sims[L], s) for L in sizes}
    free = _free_energy_check(sims, s["blocks"])
    data_fss = _scaling_data(table)
    model = fss.fss_model(data_fss, degree=s["degree"], omega=s["omega"])
    fits, posterior = {}, {}
    for i, m in enumerate(methods):
        log(f"Bayesian FSS fit: {m}")
        fits[m] = fit(model, m, draws=size["nuts_draws"], tune=size["nuts_draws"], chains=4 if not quick else 2,
                      seed=seed + i, free_energy=(), **({"max_steps": 5000} if quick and "advi" in m else {}))
        save_datatree_atomic(fits[m], out_dir / f"fss_{m}.nc")
        posterior[m] = _posterior_rows(fits[m], posterior.get("nuts"))
    log("figures")
    figs = draw_figures(out_dir / "figures", sims, table, crossings, peaks, posterior.get("nuts"), s)
    summary = {"model": "criticality", "settings": {**s, **size, "sizes": sizes, "methods": methods,
                                                    "quick": quick, "seed": seed},
               "observables": table, "binder_crossings": crossings, "peaks": peaks, "free_energy": free,
               "fss_posterior": posterior, "exact": fss.EXACT}
    report = _report(summary, fits)
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _simulate_point(spec: tuple) -> dict:
    """One Wolff run: ``spec = (L, K, draws, (seed, L, i))`` → its draws (a pure task of the sweep)."""
    L, K, draws, seed = spec
    return fs.simulate(L, K, draws, list(seed))


def _simulate_grid(sizes: list[int], s: dict, size: dict, seed: int, log) -> dict:
    """{L: (K grid, runs)}: every (L, K) point an independent task on the current executor (serial unless a
    caller chose one with :func:`physml.inference.executor.use_executor`), results in grid order."""
    grids = {L: k_grid(L, s, size["k_points"]) for L in sizes}
    specs = [(L, float(K), size["draws"], (seed, L, i)) for L in sizes for i, K in enumerate(grids[L])]
    executor = current_executor()
    log(f"simulate {len(specs)} (L, K) points ({executor.description})")
    runs = executor.map(_simulate_point, specs)
    return {L: (grids[L], [r for spec, r in zip(specs, runs) if spec[0] == L]) for L in sizes}


def _observable_table(sims: dict, blocks: int) -> list[dict]:
    rows = []
    for L, (Ks, runs) in sims.items():
        for K, r in zip(Ks, runs):
            v, se = fs.observables(r, L, float(K), blocks)
            rows.append({"L": L, "K": float(K), **{o: float(x) for o, x in zip(fs.OBSERVABLES, v)},
                         **{f"{o}_se": float(x) for o, x in zip(fs.OBSERVABLES, se)}})
    return rows


def _scaling_data(table: list[dict]) -> fss.ScalingData:
    col = {k: np.array([r[k] for r in table], dtype=float) for k in table[0]}
    return fss.ScalingData(col["L"], col["K"], col["binder"], col["binder_se"], col["chi_prime"],
                           col["chi_prime_se"], col["abs_m"], col["abs_m_se"])


def _crossings(sims: dict, s: dict) -> list[dict]:
    """Binder crossing of each pair of successive sizes on the overlap of their K ranges."""
    sizes = sorted(sims)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lo, hi = max(sims[a][0][0], sims[b][0][0]), min(sims[a][0][-1], sims[b][0][-1])
        grid = np.linspace(lo, hi, s["grid_points"])
        k, se = fs.binder_crossing(sims[a][1], sims[a][0], a, sims[b][1], sims[b][0], b, grid, s["blocks"])
        error, z = versus_exact(k, se, fss.K_CRITICAL)
        out.append({"L1": a, "L2": b, "K_cross": k, "se": se, "error": error, "z": z})
    return out


def _peaks(L: int, Ks, runs, s: dict) -> dict:
    """K and height of the χ and C maxima on the reweighted curve (jackknife errors)."""
    grid = np.linspace(Ks[0], Ks[-1], s["grid_points"])
    i_chi, i_c = fs.OBSERVABLES.index("chi"), fs.OBSERVABLES.index("specific_heat")

    def estimate(sub):
        curves = fs.reweighted(sub, Ks, L, grid)
        return np.array([*fs.peak(grid, curves[:, i_chi]), *fs.peak(grid, curves[:, i_c])])

    v, se = jackknife_blocks(runs, estimate, s["blocks"])
    keys = ("K_chi_max", "chi_max", "K_C_max", "C_max")
    edge = [bool(np.isclose(v[0], grid[[0, -1]]).any()), bool(np.isclose(v[2], grid[[0, -1]]).any())]
    se[:2] = np.nan if edge[0] else se[:2]  # an edge is not a maximum: no error bar for it
    se[2:] = np.nan if edge[1] else se[2:]
    return {**{k: float(x) for k, x in zip(keys, v)}, **{f"{k}_se": float(x) for k, x in zip(keys, se)},
            "chi_peak_at_edge": edge[0], "C_peak_at_edge": edge[1],
            "min_ess": float(fs.reweighted_ess(runs, Ks, grid).min())}


def _free_energy_check(sims: dict, blocks: int) -> list[dict]:
    """Multi-histogram ln Z(K_last) − ln Z(K_first) per L against Kaufman (periodic L×L), jackknife se."""
    rows = []
    for L, (Ks, runs) in sims.items():
        v, se = jackknife_blocks(runs, lambda sub: multi_histogram(Ks, [r["u"] for r in sub]).log_z[-1:], blocks)
        exact = log_partition_kaufman(L, float(Ks[-1])) - log_partition_kaufman(L, float(Ks[0]))
        error, z = versus_exact(float(v[0]), float(se[0]), exact)
        rows.append({"L": L, "K_from": float(Ks[0]), "K_to": float(Ks[-1]), "value": float(v[0]),
                     "se": float(se[0]), "exact": exact, "error": error, "z": z})
    return rows


def _posterior_rows(dt, nuts: dict | None) -> dict:
    """Per exponent: mean, sd, z against the exact value, relative error and (VI) the sd relative to NUTS."""
    post = dt["posterior"]
    out = {}
    for p, exact in fss.EXACT.items():
        mean, sd = float(post[p].mean()), float(post[p].std())
        out[p] = {"mean": mean, "sd": sd, "exact": exact, "z": (mean - exact) / sd if sd > 0 else None,
                  "relative_error": (mean - exact) / exact,
                  "sd_over_nuts": sd / nuts[p]["sd"] if nuts and nuts[p]["sd"] > 0 else None}
    return out


def _report(summary: dict, fits: dict) -> Report:
    report = Report("Criticality: finite-size scaling of the 2D Ising transition",
                    "Wolff chains on periodic L×L lattices around K_c; errors by the block jackknife; "
                    "Ferrenberg–Swendsen reweighting between simulated couplings; a Bayesian scaling fit "
                    "(NUTS and mean-field ADVI) against the exact exponents.")
    extra = [f"Binder crossing L = {c['L1']}/{c['L2']}: {c['K_cross']:.5f} is {c['z']:.1f} se from K_c"
             for c in summary["binder_crossings"] if c["z"] is not None and abs(c["z"]) > 4]
    extra += [f"reweighted peak of L = {L} lies on the edge of the K range (not a maximum)"
              for L, p in summary["peaks"].items() if p["chi_peak_at_edge"] or p["C_peak_at_edge"]]
    extra += [f"multi-histogram ln Z difference at L = {r['L']} is {r['z']:.1f} se from Kaufman"
              for r in summary["free_energy"] if r["z"] is not None and abs(r["z"]) > 4]
    summary["warnings"] = report.check(fits, extra=extra)
    _sections(report, summary)
    return report


def _sections(report: Report, summary: dict) -> None:
    rows = [[r["L"], fmt(r["K"], 5)] + [pm_fmt(r[o], r[f"{o}_se"]) for o in ("abs_m", "chi_prime", "chi",
                                                                             "specific_heat", "binder")]
            for r in summary["observables"]]
    report.section("Observables per (L, K)").table(["L", "K", "⟨|m|⟩", "χ′ = N⟨m²⟩", "χ", "C", "U₄"], rows)
    report.section("Multi-histogram free energy vs Kaufman", "ln Z(K_to) − ln Z(K_from) from Ferrenberg–Swendsen "
                   "reweighting (jackknife se) against the exact periodic-lattice value.").table(
        ["L", "K range", "FS ± se", "exact", "error / se"],
        [[r["L"], f"{r['K_from']:.4f} → {r['K_to']:.4f}", pm_fmt(r["value"], r["se"]), fmt(r["exact"], 8),
          fmt(r["z"], 3)] for r in summary["free_energy"]])
    report.section("Binder crossings", f"Exact K_c = {fss.K_CRITICAL:.7f}.").table(
        ["sizes", "K× ± se", "error", "error / se"],
        [[f"{c['L1']}/{c['L2']}", pm_fmt(c["K_cross"], c["se"]), fmt(c["error"]), fmt(c["z"], 3)]
         for c in summary["binder_crossings"]])
    report.section("Peaks of χ and C (reweighted)", "2D Ising: χ_max ∝ L^{7/4}, C_max ∝ ln L (α = 0).").table(
        ["L", "K at χ max", "χ_max", "K at C max", "C_max", "min reweighting ESS"],
        [[L, pm_fmt(p["K_chi_max"], p["K_chi_max_se"]), pm_fmt(p["chi_max"], p["chi_max_se"]),
          pm_fmt(p["K_C_max"], p["K_C_max_se"]), pm_fmt(p["C_max"], p["C_max_se"]), fmt(p["min_ess"], 4)]
         for L, p in summary["peaks"].items()])
    rows = []
    for p, exact in fss.EXACT.items():
        rows.append([p, fmt(exact, 7)] + [f"{fmt(q[p]['mean'], 5)} ± {fmt(q[p]['sd'], 3)} (z {fmt(q[p]['z'], 2)}, "
                                          f"{100 * q[p]['relative_error']:+.2f} %"
                                          + (f", sd {fmt(q[p]['sd_over_nuts'], 2)} × NUTS"
                                             if q[p]["sd_over_nuts"] is not None else "") + ")"
                                          for q in summary["fss_posterior"].values()])
    report.section("Bayesian finite-size-scaling posterior vs exact",
                   "Posterior mean ± sd, z = (mean − exact)/sd and the relative error. Targets of the issue: "
                   "K_c within 4 sd and 0.5 %, γ/ν within 4 sd and 5 %. The posterior is strongly correlated (K_c "
                   "with the scaling-function coefficients, ν with the slopes): mean-field ADVI finds the same "
                   "centre but its sds are several times too small (the mean-field family cannot hold the "
                   "correlations; 'sd × NUTS'), full-rank ADVI recovers most of the width. VI is compared only "
                   "where it converged (see Warnings).").table(
        ["parameter", "exact"] + list(summary["fss_posterior"]), rows)
