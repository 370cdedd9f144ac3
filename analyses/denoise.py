"""``physml run denoise``: Ising-prior image denoising by Gibbs/Metropolis, mean field, HS + NUTS, HS + ADVI."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..inference.fit import fit
from ..inference.spins.hubbard_stratonovich import rb_marginals_from_spins
from ..inference.spins.free_energy import annealed_importance_sampling, thermodynamic_integration
from ..inference.spins.mean_field import mean_field
from ..inference.records import FreeEnergy, diagnostics, free_energies
from ..models import continuous_ising as ci
from ..models import denoise as dn
from .common import (Progress, markdown_table, pm_fmt, save_datatree_atomic, save_figure_atomic,
                     write_json_atomic, write_text_atomic)
from .settings import check_memory, merge_settings, resolve_sizes
from .warnings import collect_warnings, fit_diagnostics, free_energy_warnings, warnings_markdown

DEFAULTS = {
    "image": "shapes", "size": 32, "K": 0.5, "mu": 1.0, "sigma": 1.0, "noise": "gaussian", "flip_p": 0.1,
    "boundary": "periodic", "margin": ci.DEFAULT_MARGIN,
    "draws": 0, "chains": 0, "ti_rungs": 0, "ti_draws": 0, "advi_steps": 0,  # 0: size from quick / full mode
}
ALL_METHODS = ("heat_bath", "checkerboard", "mean_field", "hs_nuts", "hs_advi")
LABELS = {"heat_bath": "Gibbs (heat bath)", "checkerboard": "Metropolis (checkerboard)",
          "mean_field": "naive mean field (CAVI)", "hs_nuts": "HS + NUTS", "hs_advi": "HS + mean-field ADVI"}
BRIDGE_MAX_PIXELS = 256  # bridge sampling's MVN proposal is not trusted beyond this dimension


def _sizes(s: dict, quick: bool) -> dict:
    q = {"draws": 300, "chains": 2, "ti_rungs": 9, "ti_draws": 150, "advi_steps": 300}
    f = {"draws": 1000, "chains": 2, "ti_rungs": 17, "ti_draws": 400, "advi_steps": 1000}
    return resolve_sizes(s, q if quick else f)


def _check_memory(size: dict, n_pixels: int) -> None:
    """Spin draws, Rao-Blackwellised marginals and HS draws are each (chains, draws, pixels)."""
    check_memory({"draws × chains × pixels": size["draws"] * size["chains"] * (4 * n_pixels + 16),
                  "size (pixels)": 32 * n_pixels, "ti_rungs × ti_draws": size["ti_rungs"] * size["ti_draws"] * 8,
                  "advi_steps": size["advi_steps"] * 8})


def _data(s: dict, data: str | None, seed: int, size: dict) -> dn.DenoiseData:
    spec = dn.DenoiseSpec(K=float(s["K"]), mu=float(s["mu"]), sigma=float(s["sigma"]), noise=s["noise"],
                          flip_p=float(s["flip_p"]), boundary=s["boundary"])
    if data:
        truth, name = dn.load_image(data), Path(data).name
        _check_memory(size, truth.size)
    else:
        _check_memory(size, 16 if s["image"] == "tiny" else max(s["size"], 0) ** 2)  # before drawing it
        truth, name = dn.builtin_image(s["image"], s["size"]), f"{s['image']} {s['size']}x{s['size']}"
        if s["image"] == "tiny":
            name = "tiny 4x4"
    return dn.make_observation(truth, spec, seed=seed, name=name)


def _mcse_map(draws: np.ndarray) -> np.ndarray:
    """ArviZ MCSE of the mean per site for draws shaped (chain, draw, site)."""
    import arviz_stats as azs

    return np.asarray(azs.mcse(draws, method="mean", chain_axis=0, draw_axis=1))


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s = merge_settings(DEFAULTS, settings)
    if not (isinstance(s["margin"], (int, float)) and s["margin"] > 0):
        raise ValueError(f"setting margin must be > 0, got {s['margin']!r}")
    size = _sizes(s, quick)
    methods = list(methods) if methods else list(ALL_METHODS)
    for m in methods:
        if m not in ALL_METHODS:
            raise ValueError(f"method must be one of {list(ALL_METHODS)}, got {m!r}")
    d = _data(s, data, seed, size)
    hs_spec = ci.HSSpec(margin=float(s["margin"]))
    out_dir = Path(out_dir)
    log = Progress("denoise", progress)
    t_start = time.perf_counter()
    post = dn.posterior_couplings(d)
    n = d.n_pixels
    const = dn.likelihood_constant(d)

    # ---------------------------------------------------------------- references
    log("references")
    log_z_prior, prior_source = dn.log_partition_prior(d)
    prior_se, prior_record = 0.0, None
    if log_z_prior is None:
        prior_record = thermodynamic_integration(dn.prior_couplings(d), n_rungs=size["ti_rungs"],
                                                 draws=size["ti_draws"], sampler="swendsen_wang", seed=seed + 300)
        log_z_prior, prior_se, prior_source = -prior_record.value, prior_record.se, "spin TI (Swendsen-Wang)"
    exact = dn.exact_posterior(d) if n <= 20 else None
    ref_map, ref_source = (exact["p_up"], "enumeration") if exact else (None, None)
    evidence = []  # rows: method, estimator, kind, -ln p(y), se
    if exact:
        evidence.append({"method": "exact", "estimator": "enumeration", "kind": "exact",
                         "value": -exact["log_evidence"], "se": 0.0})

    def neg_log_evidence(f_post: float, se: float) -> tuple[float, float]:
        """−ln p(y) from F_post = −ln Z(K, h) (and its se) and the prior's ln Z."""
        return -(const - f_post - log_z_prior), math.hypot(se, prior_se)

    fits: dict = {}
    maps: dict = {}
    fit_diags: dict = {}  # label -> diagnostics, for the Warnings section
    for i, m in enumerate(methods):
        log(f"fit {m}")
        t0 = time.perf_counter()
        row: dict = {"label": LABELS[m]}
        if m in ("heat_bath", "checkerboard"):
            model = dn.spin_posterior_model(d)
            dt = fit(model, m, draws=size["draws"], tune=max(100, size["draws"] // 5), chains=size["chains"],
                     seed=seed + i, free_energy=(), record_spins=True)
            spins = dt["posterior"]["spins"].transpose("chain", "draw", "site").values
            rb = rb_marginals_from_spins(post, spins)  # E[s_i | s_-i] = tanh(local field)
            p_up, p_se = 0.5 * (1 + rb.mean(axis=(0, 1))), 0.5 * _mcse_map(rb)
            row["diagnostics"] = {k: v for k, v in diagnostics(dt).items() if k in ("max_rhat", "min_ess_bulk")}
            fit_diags[m] = fit_diagnostics(dt)
            save_datatree_atomic(dt, out_dir / f"{m}.nc")
            if m == "heat_bath":
                fe = thermodynamic_integration(post, n_rungs=size["ti_rungs"], draws=size["ti_draws"],
                                               sampler="heat_bath", seed=seed + 100)
            else:
                fe = annealed_importance_sampling(post, n_temps=max(100, size["ti_draws"]), n_runs=16,
                                                  sampler="checkerboard", seed=seed + 200)
            v, se = neg_log_evidence(fe.value, fe.se)
            evidence.append({"method": m, "estimator": fe.estimator, "kind": "estimate", "value": v, "se": se,
                             "note": fe.note})
        elif m == "mean_field":
            mf = mean_field(post, init=np.tanh(post.field))
            p_up, p_se = 0.5 * (1 + mf.magnetisation), np.zeros(n)
            row["diagnostics"] = {"converged": mf.converged, "n_iter": mf.n_iter}
            fit_diags[m] = {"converged": mf.converged, "stop_reason": f"{mf.n_iter} iterations"}
            v, se = neg_log_evidence(mf.free_energy, 0.0)
            evidence.append({"method": m, "estimator": "mean_field", "kind": "upper_bound" if prior_se == 0 else
                             "estimate", "value": v, "se": se, "note": "F_MF(posterior) + exact ln Z_prior"})
        else:
            model = dn.hs_posterior_model(d, hs_spec)
            if m == "hs_nuts":
                fe_names = ("bridge",) if n <= BRIDGE_MAX_PIXELS else ()
                dt = fit(model, "nuts", draws=size["draws"], tune=size["draws"], chains=size["chains"],
                         seed=seed + i, free_energy=fe_names)
            else:
                # Laplace start, then a capped number of steps: at ~10^3 dimensions the stopping rule
                # needs far more steps than a report can afford; an unconverged fit is flagged below.
                dt = fit(model, "advi", draws=size["draws"], seed=seed + i, free_energy=(), n_mc=16, n_eval=500,
                         max_steps=size["advi_steps"])
            summ = ci.spin_summary(model, dt, abs_magnetisation=False)
            p_up = 0.5 * (1 + summ["spin_mean"]["mean"])
            p_se = 0.5 * summ["spin_mean"]["mcse"]
            diag = diagnostics(dt)
            row["diagnostics"] = {k: diag[k] for k in ("max_rhat", "min_ess_bulk", "divergences", "converged",
                                                       "pareto_k") if k in diag}
            fit_diags[m] = fit_diagnostics(dt)
            save_datatree_atomic(dt, out_dir / f"{m}.nc")
            for rec in free_energies(dt):
                v, se = neg_log_evidence(rec.value, rec.se)
                kind = rec.kind if prior_se == 0 else "estimate"
                evidence.append({"method": m, "estimator": rec.estimator, "kind": kind, "value": v, "se": se,
                                 "note": rec.note})
        row["wall_time_s"] = time.perf_counter() - t0
        maps[m] = (p_up.reshape(d.shape), p_se.reshape(d.shape))
        fits[m] = row

    # reference marginals: enumeration, else the Gibbs sampler (exact in the limit)
    if ref_map is None:
        ref_name = next((m for m in ("heat_bath", "checkerboard", "hs_nuts") if m in maps), None)
        if ref_name is not None:
            ref_map, ref_source = maps[ref_name][0], f"MCMC ({ref_name})"
    noisy_err = float(np.mean(np.sign(d.y + (d.y == 0)) != d.truth)) if d.truth is not None else None
    for m, (p, se) in maps.items():
        r = fits[m]
        if d.truth is not None:
            r["pixel_error"] = float(np.mean(np.where(p > 0.5, 1, -1) != d.truth))
            r["expected_pixel_error"] = float(np.mean(np.where(d.truth > 0, 1 - p, p)))
        if ref_map is not None:
            diff = np.abs(p - ref_map)
            r["max_abs_diff_vs_reference"] = float(diff.max())
            r["mean_abs_diff_vs_reference"] = float(diff.mean())
            r["disagreeing_pixels"] = int(np.sum((p > 0.5) != (ref_map > 0.5)))
            if np.any(se > 0):
                r["max_z_vs_reference"] = float(np.max(diff / np.where(se > 0, se, np.inf))) \
                    if ref_source == "enumeration" else None
        r["total_variance"] = float(np.sum(1 - (2 * p - 1) ** 2))
    ex = -exact["log_evidence"] if exact else None
    for e in evidence:
        e["error"] = e["value"] - ex if ex is not None else None
        e["z"] = e["error"] / e["se"] if ex is not None and e["se"] > 0 else None
    warnings = _warnings(evidence, ex, fit_diags, prior_record)

    log("figures")
    figs = _figures(out_dir / "figures", d, maps, ref_map)
    summary = {
        "model": "denoise",
        "settings": {**s, **size, "methods": methods, "quick": quick, "seed": seed, "data": data},
        "image": {"name": d.name, "shape": list(d.shape), "noisy_pixel_error": noisy_err,
                  "field_abs_mean": float(np.mean(np.abs(post.field)))},
        "reference": {"marginals": ref_source, "log_z_prior": log_z_prior, "log_z_prior_se": prior_se,
                      "log_z_prior_source": prior_source, "likelihood_constant": const,
                      "exact_log_evidence": exact["log_evidence"] if exact else None,
                      "exact_expected_pixel_error": exact.get("expected_pixel_error") if exact else None},
        "fits": fits,
        "evidence": evidence,
        "warnings": warnings,
        "hs_shift": ci.hs_shift(post, hs_spec),
        "figures": [str(p.relative_to(out_dir)) for p in figs],
        "wall_time_s": time.perf_counter() - t_start,
    }
    write_json_atomic(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "report.md", _report(summary, d))
    log("done")
    return summary


def _warnings(evidence: list[dict], exact_value, fit_diags: dict, prior_record: FreeEnergy | None) -> list[str]:
    """Every fit's diagnostics; every evidence estimate (spin TI/AIS, mean field, HS records, all on the
    −ln p(y) scale) against the enumerated evidence; the self-check of the prior's TI ln Z."""
    records = [(e["method"], FreeEnergy(e["value"], e["se"], e["kind"], e["estimator"], note=e.get("note", "")))
               for e in evidence if e["kind"] != "exact"]
    prior = free_energy_warnings("prior ln Z(K, 0)", prior_record) if prior_record is not None else []
    return collect_warnings(exact_free_energy=exact_value, records=records, diagnostics=fit_diags, extra=prior)


def _figures(fig_dir: Path, d: dn.DenoiseData, maps: dict, ref_map) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    n_panels = 2 + len(maps)
    fig, axes = plt.subplots(1, n_panels, figsize=(2.4 * n_panels, 2.8))
    panels = [("clean", d.truth if d.truth is not None else np.zeros(d.shape), -1, 1),
              ("noisy y", d.y, None, None)]
    panels += [(LABELS[m], p, 0, 1) for m, (p, _) in maps.items()]
    for ax, (title, img, lo, hi) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, cmap="gray_r", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle("posterior marginals P(s_i = +1 | y) (black = +1)", fontsize=9)
    paths.append(save_figure_atomic(fig, fig_dir / "marginals.png"))
    if ref_map is not None and maps:
        fig, axes = plt.subplots(1, len(maps), figsize=(2.4 * len(maps), 2.8))
        for ax, (m, (p, _)) in zip(np.atleast_1d(axes), maps.items()):
            im_ = ax.imshow(np.abs(p - ref_map), cmap="magma", vmin=0, vmax=0.5, interpolation="nearest")
            ax.set_title(LABELS[m], fontsize=8)
            ax.set_xticks([]), ax.set_yticks([])
        fig.colorbar(im_, ax=np.atleast_1d(axes).tolist(), shrink=0.7)
        fig.suptitle("|P_method − P_reference| per pixel", fontsize=9)
        paths.append(save_figure_atomic(fig, fig_dir / "disagreement.png"))
    return paths


def _report(summary: dict, d: dn.DenoiseData) -> str:
    sp = d.spec
    ref = summary["reference"]
    noise = (f"y_i ~ N(μ s_i, σ²), μ = {sp.mu:g}, σ = {sp.sigma:g}, field h_i = μ y_i/σ²" if sp.noise == "gaussian"
             else f"binary symmetric channel, flip p = {sp.flip_p:g}, field h_i = ½ ln((1−p)/p) y_i")
    lines = [f"# Ising-prior denoising: {d.name}, K = {sp.K:g} ({sp.boundary})", "",
             f"Prior P(s) ∝ exp(K Σ⟨ij⟩ s_i s_j); {noise}. The posterior is an Ising model in that field. "
             f"ln p(y) = Σ_i a_i + ln Z(K, h) − ln Z(K, 0); ln Z(K, 0) = {ref['log_z_prior']:.6f} "
             f"({ref['log_z_prior_source']}). Reference marginals: {ref['marginals']}. "
             f"HS shift c = {summary['hs_shift']:.4g}.", ""]
    lines += [warnings_markdown(summary["warnings"]), "## Marginal maps", "",
              f"Noisy image (sign of y) pixel error: {summary['image']['noisy_pixel_error']}", ""]
    rows = []
    for m, r in summary["fits"].items():
        rows.append([r["label"], r.get("pixel_error"), r.get("expected_pixel_error"),
                     r.get("max_abs_diff_vs_reference"), r.get("mean_abs_diff_vs_reference"),
                     r.get("disagreeing_pixels"), r.get("total_variance"), r["wall_time_s"]])
    lines.append(markdown_table(["method", "pixel error (MPM)", "E[pixel error]", "max |ΔP| vs ref",
                                 "mean |ΔP| vs ref", "pixels on other side of ½", "Σ Var(s_i)", "time (s)"], rows))
    lines += ["", "Σ Var(s_i) = Σ (1 − ⟨s_i⟩²): mean field is over-confident (smaller than the MCMC value).", "",
              "## Evidence −ln p(y) (nats)", ""]
    lines.append(markdown_table(["method", "estimator", "kind", "−ln p(y)", "error vs exact", "z"],
                                [[e["method"], e["estimator"], e["kind"], pm_fmt(e["value"], e["se"]) if e["se"] else f"{e['value']:.3f}",
                                  e.get("error"), e.get("z")] for e in summary["evidence"]]))
    lines += ["", "Mean field and ADVI give −ELBO, an upper bound on −ln p(y) (when ln Z_prior is exact). "
                  "Spin TI integrates ⟨Σ K s_i s_j⟩ over the coupling scale; AIS anneals along it.", "",
              "## Figures", ""]
    lines += [f"![{p}]({p})" for p in summary["figures"]]
    return "\n".join(lines) + "\n"
