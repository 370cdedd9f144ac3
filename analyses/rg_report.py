"""Report sections of ``physml run rg``: the un-blocked check, the flow K → K′, fixed points and exponents, the
couplings under repeated blocking, and scale invariance (U₄ of the block magnetisation per level)."""

from __future__ import annotations

from ..models.block_spin_rg import COUPLINGS
from .common import fmt, pm_fmt
from .report import Report


def sections(report: Report, summary: dict) -> None:
    method = summary["settings"]["methods"][0]
    _check(report, summary)
    _flow(report, summary)
    _fixed_points(report, summary)
    _levels(report, summary, method)
    _scale_invariance(report, summary)


def _z(entry: dict) -> str:
    return f"{pm_fmt(entry['mean'], entry['sd'])} (z {fmt(entry['z'], 2)})"


def _error(entry: dict) -> str:
    if entry["error"] is None or entry["error"] != entry["error"]:  # no crossing in the window: NaN
        return "—"
    return f"{fmt(entry['error'], 3)} (z {fmt(entry['z'], 3)}, {100 * entry['error'] / entry['exact']:+.2f} %)"


def _check(report: Report, summary: dict) -> None:
    rows = summary["unblocked_check"]  # three couplings: the first method only
    zs = [abs(v["z"]) for r in rows for v in r.values() if isinstance(v, dict) and v["z"] is not None]
    report.section(
        "Check: the estimator on un-blocked samples",
        "Level 0 (no blocking): the nearest-neighbour conditional is exact, so K_nn must be the K that generated "
        "the configurations and K_nnn = K_plaquette = 0. z = (posterior mean − exact) / sd with sd = max(posterior "
        "sd, jackknife se over blocks of configurations) (the three-coupling pseudo-posterior is too narrow); "
        f"largest |z| over {len(zs)} checks: {fmt(max(zs), 3)} (pass: < 4).").table(
        ["L", "K", "method", "K_nn (alone)", "K_nn (3 couplings)", "K_nnn", "K_plaquette"],
        [[r["L"], fmt(r["K"], 5), r["method"]] + [_z(r[k]) if k in r else "—" for k in
                                                   ("K_nn_1", "K_nn_3", "K_nnn_3", "K_plaquette_3")] for r in rows])


def _flow(report: Report, summary: dict) -> None:
    methods = summary["settings"]["methods"]
    rows = [r for r in summary["couplings"] if r["level"] == 1]
    sec = report.section(
        "RG flow K → K′ (one blocking)",
        "Posterior mean ± sd (max of the posterior sd and the jackknife se) of the renormalised couplings of "
        "the once-blocked configurations. 'jk/sd': the "
        "jackknife se over blocks of configurations divided by the NUTS pseudo-posterior sd (≈ 1 when the "
        "draws are independent and the pseudo-posterior is honest; the flow widens the draws by it where > 1).")
    sec.table(["b", "L", "K"] + [f"K′ alone ({m})" for m in methods]
              + ["jk/sd", "K_nn′ (3)", "K_nnn′ (3)", "K_plaquette′ (3)"],
              [[r["b"], r["L"], fmt(r["K"], 5)] + [pm_fmt(r[f"K_nn_1_{m}"], r[f"K_nn_1_{m}_sd"]) for m in methods]
               + [fmt(r["K_nn_1_jk_se"] / r[f"K_nn_1_{methods[0]}_post_sd"], 3)]
               + [pm_fmt(r[f"{c}_3_{methods[0]}"], r[f"{c}_3_{methods[0]}_sd"]) for c in COUPLINGS]
               for r in rows])


def _fixed_points(report: Report, summary: dict) -> None:
    fps = summary["fixed_point"] + summary["nn_crossing_three_couplings"]
    rows = [[f["b"], f["L"], f["method"], "K_nn alone" if f["couplings"] == 1 else "K_nn of 3",
             pm_fmt(f["K_star"]["mean"], f["K_star"]["sd"]),
             _error(f["K_star"]),
             pm_fmt(f["lambda"]["mean"], f["lambda"]["sd"]), _z(f["y_t"]), _z(f["nu"]),
             fmt(f["max_jackknife_ratio"], 3)] for f in fps]
    report.section(
        "Fixed point K* and the thermal exponent",
        "A quadratic K′(K) fitted to every posterior draw (widened by the jackknife ratio where > 1); K* is its "
        "crossing of K′ = K, λ = dK′/dK at K*, y_t = ln λ / ln b, ν = 1/y_t. Exact: K_c = 0.4406868, y_t = ν = 1. "
        "The one-coupling truncation projects the blocked Hamiltonian onto K_nn alone, so its K* is an "
        "approximation of K_c whose error below is systematic (the posterior sd is the statistical part only). "
        "Row 'K_nn of 3': the diagonal crossing of the nearest-neighbour coupling when K_nnn and K_plaquette are "
        "fitted too — not a fixed point of the three-coupling flow (that needs simulations with K_nnn, "
        "K_plaquette ≠ 0, not done here); it shows how much of K′ the truncation loads onto K_nn.").table(
        ["b", "L", "method", "flow of", "K* ± sd", "K* − K_c", "λ", "y_t", "ν", "max jk/sd"], rows)


def _levels(report: Report, summary: dict, method: str) -> None:
    centre = min(summary["K_grid"], key=lambda k: abs(k - summary["settings"]["K_center"]))
    rows = [r for r in summary["couplings"] if abs(r["K"] - centre) < 1e-12]
    steps = []
    for b, L in sorted({(r["b"], r["L"]) for r in rows}):
        k2 = [r[f"K_nnn_3_{method}"] for r in sorted(rows, key=lambda r: r["level"]) if r["b"] == b and r["L"] == L]
        steps.append(f"b = {b}, L = {L}: K_nnn changes by " + ", ".join(f"{y - x:+.3f}" for x, y in zip(k2, k2[1:]))
                     + " per blocking")
    report.section(
        f"Repeated blocking at K = {centre:.5f}",
        f"Couplings ({method}) of the configurations blocked 0, 1, 2, … times. Level 0 is the nearest-neighbour "
        "model (K_nnn = K_plaquette = 0 by construction); blocking generates a next-nearest coupling; whether it "
        "then shrinks or settles to a fixed-point value is read off the rows (the last level is a small lattice: "
        "finite-size effects grow there). " + "; ".join(steps) + ".").table(
        ["b", "L", "level", "side", "K_nn alone"] + [f"{c} (3)" for c in COUPLINGS],
        [[r["b"], r["L"], r["level"], r["side"], pm_fmt(r[f"K_nn_1_{method}"], r[f"K_nn_1_{method}_sd"])]
         + [pm_fmt(r[f"{c}_3_{method}"], r[f"{c}_3_{method}_sd"]) for c in COUPLINGS] for r in rows])


def _scale_invariance(report: Report, summary: dict) -> None:
    points = summary["scale_invariance"]
    pairs = sorted({(p["b"], p["L"]) for p in points})
    rows = []
    for b, L in pairs:
        for K in summary["K_grid"]:
            at = sorted((p for p in points if p["b"] == b and p["L"] == L and p["K"] == K), key=lambda p: p["level"])
            drift = (at[-1]["G1"] - at[0]["G1"]) / (at[-1]["G1_se"] ** 2 + at[0]["G1_se"] ** 2) ** 0.5
            rows.append([b, L, fmt(K, 5)] + [pm_fmt(p["G1"], p["G1_se"]) for p in at] + [fmt(drift, 3)]
                        + [pm_fmt(at[-1]["binder"], at[-1]["binder_se"])])
    depth = max(len(r) for r in rows) - 5
    rows = [r[:-2] + [""] * (depth + 5 - len(r)) + r[-2:] for r in rows]
    report.section(
        "Scale invariance: the nearest-neighbour correlation at every scale",
        "G(1) = ⟨s_I s_J⟩ of neighbouring block spins after 0, 1, … blockings (jackknife se over blocks of "
        "configurations). At the fixed point the blocked system looks the same at every scale, so G(1) stays put "
        "(up to the approach to the fixed point and the finite blocked lattice); below K_c it flows towards 0 "
        "(disorder), above towards 1 (order). 'drift': (last − level 0) / se. The U₄ of the whole-lattice block "
        "magnetisation is nearly the same at every level for every K (majority rule keeps the total "
        "magnetisation), so it is listed once (last level) and is not a test of scale invariance. Figure "
        "scale_invariance.png: G(r) per level and G(1) against level.").table(
        ["b", "L", "K"] + [f"G(1), level {i}" for i in range(depth)] + ["drift / se", "U₄ (last level)"], rows)
