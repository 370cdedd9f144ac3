r"""``physml run denoise``: Ising-prior image denoising by Gibbs/Metropolis, mean field, HS + NUTS, HS + ADVI.

.. math:: P(s \mid y) \propto e^{K\sum_{\langle ij\rangle} s_i s_j + \sum_i h_i s_i}, \qquad
          \ln p(y) = \sum_i a_i + \ln Z(K, h) - \ln Z(K, 0),

so each method's −ln Z(K, h) gives the evidence −ln p(y) (:class:`EvidenceScale`). Every method returns
the marginal map P(s_i = +1 | y) ± se (:class:`MethodFit`), compared with enumeration (≤ 20 pixels) or the
Gibbs sampler's map; against enumeration z_i = |P_i − P_i,exact| / se_i with se_i floored at
sqrt(P_i,exact (1 − P_i,exact) / ESS_i), the se of ESS_i draws of a Bernoulli(P_i) pixel, because the
MCSE from the draws alone is optimistic at near-deterministic pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..inference.fit import fit
from ..inference.spins.hubbard_stratonovich import rb_marginals_from_spins
from ..inference.spins.coupling_ais import annealed_importance_sampling
from ..inference.spins.coupling_ti import coupling_scale_ti
from ..inference.spins.mean_field import mean_field
from ..inference.records import FreeEnergy, diagnostics, free_energies
from ..models import continuous_ising as ci
from ..models import denoise as dn
from .common import Progress, save_datatree_atomic, save_figure_atomic
from .compare import versus_exact
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes
from .warnings import fit_diagnostics, free_energy_warnings

DEFAULTS = {
    "image": "shapes", "size": 32, "K": 0.5, "mu": 1.0, "sigma": 1.0, "noise": "gaussian", "flip_p": 0.1,
    "boundary": "periodic", "margin": ci.DEFAULT_MARGIN,
    "draws": 0, "chains": 0, "ti_rungs": 0, "ti_draws": 0, "advi_steps": 0,  # 0: size from quick / full mode
}
ALL_METHODS = ("heat_bath", "checkerboard", "mean_field", "hs_nuts", "hs_advi")
SPIN_SAMPLERS = ("heat_bath", "checkerboard")
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


def _ess_map(draws: np.ndarray) -> np.ndarray:
    """ArviZ ESS of the mean per site for draws shaped (chain, draw, site); 1 where it is undefined."""
    import arviz_stats as azs

    ess = np.asarray(azs.ess(draws, method="mean", chain_axis=0, draw_axis=1), dtype=float)
    return np.where(np.isfinite(ess) & (ess > 0), ess, 1.0)


@dataclass
class EvidenceScale:
    """ln p(y) = Σ_i a_i + ln Z(K, h) − ln Z(K, 0): the posterior's −ln Z(K, h) on the evidence scale."""

    const: float
    log_z_prior: float
    prior_se: float
    prior_source: str
    prior_record: FreeEnergy | None
    exact: dict | None

    def neg_log_evidence(self, f_post: float, se: float) -> tuple[float, float]:
        """−ln p(y) from F_post = −ln Z(K, h) (and its se) and the prior's ln Z."""
        return -(self.const - f_post - self.log_z_prior), math.hypot(se, self.prior_se)

    def row(self, method: str, estimator: str, kind: str, f_post: float, se: float, note: str = "") -> dict:
        v, se = self.neg_log_evidence(f_post, se)
        return {"method": method, "estimator": estimator, "kind": kind, "value": v, "se": se, "note": note}


@dataclass
class MethodFit:
    """One method's marginal map P(s_i = +1 | y) ± se, its draws of ⟨s_i⟩ (None for mean field), the
    diagnostics for summary.json and for the Warnings, and its evidence rows."""

    p_up: np.ndarray
    p_se: np.ndarray
    spin_draws: np.ndarray | None
    diagnostics: dict
    checked: dict
    evidence: list[dict]


@dataclass
class Job:
    """What every method's fit needs: the data, the posterior couplings, run sizes, the run's seed, the
    evidence scale, the HS settings and the output folder."""

    d: dn.DenoiseData
    post: object
    size: dict
    seed: int
    scale: EvidenceScale
    hs_spec: ci.HSSpec
    out_dir: Path


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, methods = _validate(settings, methods, quick)
    d = _data(s, data, seed, size)
    hs_spec = ci.HSSpec(margin=float(s["margin"]))
    out_dir, log, t_start = Path(out_dir), Progress("denoise", progress), time.perf_counter()
    post = dn.posterior_couplings(d)
    log("references")
    scale = _references(d, size, seed)
    job = Job(d, post, size, seed, scale, hs_spec, out_dir)
    evidence = [{"method": "exact", "estimator": "enumeration", "kind": "exact",
                 "value": -scale.exact["log_evidence"], "se": 0.0}] if scale.exact else []
    fits, results = {}, {}
    for i, m in enumerate(methods):
        log(f"fit {m}")
        t0 = time.perf_counter()
        if m in SPIN_SAMPLERS:
            results[m] = _fit_spin_sampler(job, m, seed + i)
        elif m == "mean_field":
            results[m] = _fit_mean_field(job)
        else:
            results[m] = _fit_hs(job, m, seed + i)
        fits[m] = {"label": LABELS[m], "diagnostics": results[m].diagnostics, "wall_time_s": time.perf_counter() - t0}
        evidence += results[m].evidence
    ref_map, ref_source = _reference_map(d, scale, results)
    for m, r in results.items():
        fits[m].update(_map_comparison(d, r, ref_map, ref_source))
    ex = -scale.exact["log_evidence"] if scale.exact else None
    for e in evidence:
        e["error"], e["z"] = versus_exact(e["value"], e["se"], ex)
    report = _report(d, scale, ci.hs_shift(post, hs_spec))
    warnings = _check(report, evidence, ex, {m: r.checked for m, r in results.items()}, scale.prior_record)
    log("figures")
    figs = _figures(out_dir / "figures", d, {m: (r.p_up.reshape(d.shape), r.p_se.reshape(d.shape))
                                             for m, r in results.items()}, ref_map)
    summary = {
        "model": "denoise",
        "settings": {**s, **size, "methods": methods, "quick": quick, "seed": seed, "data": data},
        "image": {"name": d.name, "shape": list(d.shape), "noisy_pixel_error": _noisy_pixel_error(d),
                  "field_abs_mean": float(np.mean(np.abs(post.field)))},
        "reference": {"marginals": ref_source, "log_z_prior": scale.log_z_prior, "log_z_prior_se": scale.prior_se,
                      "log_z_prior_source": scale.prior_source, "likelihood_constant": scale.const,
                      "exact_log_evidence": scale.exact["log_evidence"] if scale.exact else None,
                      "exact_expected_pixel_error": scale.exact.get("expected_pixel_error") if scale.exact else None},
        "fits": fits,
        "evidence": evidence,
        "warnings": warnings,
        "hs_shift": ci.hs_shift(post, hs_spec),
    }
    log("done")
    return _report_sections(report, summary).save(out_dir, summary, figures=figs, started=t_start)


def _validate(settings: dict, methods: list[str] | None, quick: bool) -> tuple[dict, dict, list[str]]:
    s = merge_settings(DEFAULTS, settings)
    if not (isinstance(s["margin"], (int, float)) and s["margin"] > 0):
        raise ValueError(f"setting margin must be > 0, got {s['margin']!r}")
    size = _sizes(s, quick)
    return s, size, check_methods(list(methods) if methods else list(ALL_METHODS), allowed=ALL_METHODS)


def _references(d: dn.DenoiseData, size: dict, seed: int) -> EvidenceScale:
    """The prior's ln Z(K, 0) (exact, else spin TI) and, for at most 20 pixels, the enumerated posterior."""
    log_z_prior, prior_source = dn.log_partition_prior(d)
    prior_se, prior_record = 0.0, None
    if log_z_prior is None:
        prior_record = coupling_scale_ti(dn.prior_couplings(d), n_rungs=size["ti_rungs"],
                                                 draws=size["ti_draws"], sampler="swendsen_wang", seed=seed + 300)
        log_z_prior, prior_se, prior_source = -prior_record.value, prior_record.se, "spin TI (Swendsen-Wang)"
    exact = dn.exact_posterior(d) if d.n_pixels <= 20 else None
    return EvidenceScale(dn.likelihood_constant(d), log_z_prior, prior_se, prior_source, prior_record, exact)


def _fit_spin_sampler(job: Job, m: str, seed: int) -> MethodFit:
    """Gibbs / Metropolis on the spins, Rao–Blackwellised marginals E[s_i | s_-i] = tanh(local field);
    the evidence by spin TI (heat bath) or AIS (checkerboard) along the coupling scale."""
    size = job.size
    dt = fit(dn.spin_posterior_model(job.d), m, draws=size["draws"], tune=max(100, size["draws"] // 5),
             chains=size["chains"], seed=seed, free_energy=(), record_spins=True)
    rb = rb_marginals_from_spins(job.post, dt["posterior"]["spins"].transpose("chain", "draw", "site").values)
    diag = {k: v for k, v in diagnostics(dt).items() if k in ("max_rhat", "min_ess_bulk")}
    checked = fit_diagnostics(dt)
    save_datatree_atomic(dt, job.out_dir / f"{m}.nc")
    if m == "heat_bath":
        fe = coupling_scale_ti(job.post, n_rungs=size["ti_rungs"], draws=size["ti_draws"],
                                       sampler="heat_bath", seed=job.seed + 100)
    else:
        fe = annealed_importance_sampling(job.post, n_temps=max(100, size["ti_draws"]), n_runs=16,
                                          sampler="checkerboard", seed=job.seed + 200)
    return MethodFit(0.5 * (1 + rb.mean(axis=(0, 1))), 0.5 * _mcse_map(rb), rb, diag, checked,
                     [job.scale.row(m, fe.estimator, "estimate", fe.value, fe.se, fe.note)])


def _fit_mean_field(job: Job) -> MethodFit:
    """Naive mean field (CAVI) from m = tanh(h); its −ELBO with the exact prior ln Z bounds −ln p(y)."""
    mf = mean_field(job.post, init=np.tanh(job.post.field))
    kind = "upper_bound" if job.scale.prior_se == 0 else "estimate"
    return MethodFit(0.5 * (1 + mf.magnetisation), np.zeros(job.d.n_pixels), None,
                     {"converged": mf.converged, "n_iter": mf.n_iter},
                     {"converged": mf.converged, "stop_reason": f"{mf.n_iter} iterations"},
                     [job.scale.row("mean_field", "mean_field", kind, mf.free_energy, 0.0,
                                    "F_MF(posterior) + exact ln Z_prior")])


def _fit_hs(job: Job, m: str, seed: int) -> MethodFit:
    """Hubbard–Stratonovich model in x, fit by NUTS (evidence by bridge sampling up to
    BRIDGE_MAX_PIXELS) or mean-field ADVI (−ELBO); marginals Rao–Blackwellised, tanh(x + h)."""
    size = job.size
    model = dn.hs_posterior_model(job.d, job.hs_spec)
    if m == "hs_nuts":
        fe_names = ("bridge",) if job.d.n_pixels <= BRIDGE_MAX_PIXELS else ()
        dt = fit(model, "nuts", draws=size["draws"], tune=size["draws"], chains=size["chains"], seed=seed,
                 free_energy=fe_names)
    else:
        # Laplace start, then a capped number of steps: at ~10^3 dimensions the stopping rule
        # needs far more steps than a report can afford; an unconverged fit is flagged below.
        dt = fit(model, "advi", draws=size["draws"], seed=seed, free_energy=(), n_mc=16, n_eval=500,
                 max_steps=size["advi_steps"])
    summ = ci.spin_summary(model, dt, abs_magnetisation=False)
    spin_draws = None
    if job.scale.exact:  # the per-site ESS for the floor on the se against enumeration
        spin_draws = ci.spin_observables(model, dt, abs_magnetisation=False)["spin_mean"].values
    diag = diagnostics(dt)
    keep = {k: diag[k] for k in ("max_rhat", "min_ess_bulk", "divergences", "converged", "pareto_k") if k in diag}
    checked = fit_diagnostics(dt)
    save_datatree_atomic(dt, job.out_dir / f"{m}.nc")
    kind = (lambda rec: rec.kind if job.scale.prior_se == 0 else "estimate")
    rows = [job.scale.row(m, rec.estimator, kind(rec), rec.value, rec.se, rec.note) for rec in free_energies(dt)]
    return MethodFit(0.5 * (1 + summ["spin_mean"]["mean"]), 0.5 * summ["spin_mean"]["mcse"], spin_draws, keep,
                     checked, rows)


def _reference_map(d: dn.DenoiseData, scale: EvidenceScale, results: dict) -> tuple[np.ndarray | None, str | None]:
    """Reference marginals P(s_i = +1 | y): enumeration, else a sampler's (exact in the limit)."""
    if scale.exact:
        return scale.exact["p_up"], "enumeration"
    ref_name = next((m for m in ("heat_bath", "checkerboard", "hs_nuts") if m in results), None)
    if ref_name is None:
        return None, None
    return results[ref_name].p_up.reshape(d.shape), f"MCMC ({ref_name})"


def _map_comparison(d: dn.DenoiseData, r: MethodFit, ref_map, ref_source) -> dict:
    """Pixel errors against the clean image, distances from the reference marginals and
    max_i |P_i − P_ref,i| / se_i against enumeration, with se_i floored at sqrt(p_i(1 − p_i)/ESS_i)
    (p_i exact; ESS_i of the method's draws of ⟨s_i⟩): the MCSE from the draws alone is optimistic at
    near-deterministic pixels, where few draws visit the minority value."""
    p, se, out = r.p_up.reshape(d.shape), r.p_se.reshape(d.shape), {}
    if d.truth is not None:
        out["pixel_error"] = float(np.mean(np.where(p > 0.5, 1, -1) != d.truth))
        out["expected_pixel_error"] = float(np.mean(np.where(d.truth > 0, 1 - p, p)))
    if ref_map is not None:
        diff = np.abs(p - ref_map)
        out["max_abs_diff_vs_reference"] = float(diff.max())
        out["mean_abs_diff_vs_reference"] = float(diff.mean())
        out["disagreeing_pixels"] = int(np.sum((p > 0.5) != (ref_map > 0.5)))
        if np.any(se > 0):
            out["max_z_vs_reference"] = None
            if ref_source == "enumeration":
                floor = np.sqrt(ref_map * (1 - ref_map) / _ess_map(r.spin_draws).reshape(d.shape))
                se = np.maximum(se, floor)
                out["max_z_vs_reference"] = float(np.max(diff / np.where(se > 0, se, np.inf)))
    out["total_variance"] = float(np.sum(1 - (2 * p - 1) ** 2))
    return out


def _noisy_pixel_error(d: dn.DenoiseData) -> float | None:
    """Pixel error of sign(y) against the clean image."""
    return float(np.mean(np.sign(d.y + (d.y == 0)) != d.truth)) if d.truth is not None else None


def _check(report: Report, evidence: list[dict], exact_value, fit_diags: dict,
           prior_record: FreeEnergy | None) -> list[str]:
    """Every fit's diagnostics; every evidence estimate (spin TI/AIS, mean field, HS records, all on the
    −ln p(y) scale) against the enumerated evidence; the self-check of the prior's TI ln Z."""
    records = [(e["method"], FreeEnergy(e["value"], e["se"], e["kind"], e["estimator"], note=e.get("note", "")))
               for e in evidence if e["kind"] != "exact"]
    prior = free_energy_warnings("prior ln Z(K, 0)", prior_record) if prior_record is not None else []
    return report.check(exact_free_energy=exact_value, records=records, diagnostics=fit_diags, extra=prior)


def _figures(fig_dir: Path, d: dn.DenoiseData, maps: dict, ref_map) -> list[Path]:
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


def _report(d: dn.DenoiseData, scale: EvidenceScale, hs_shift: float) -> Report:
    sp = d.spec
    noise = (f"y_i ~ N(μ s_i, σ²), μ = {sp.mu:g}, σ = {sp.sigma:g}, field h_i = μ y_i/σ²" if sp.noise == "gaussian"
             else f"binary symmetric channel, flip p = {sp.flip_p:g}, field h_i = ½ ln((1−p)/p) y_i")
    return Report(f"Ising-prior denoising: {d.name}, K = {sp.K:g} ({sp.boundary})",
                  f"Prior P(s) ∝ exp(K Σ⟨ij⟩ s_i s_j); {noise}. The posterior is an Ising model in that field. "
                  f"ln p(y) = Σ_i a_i + ln Z(K, h) − ln Z(K, 0); ln Z(K, 0) = {scale.log_z_prior:.6f} "
                  f"({scale.prior_source}). HS shift c = {hs_shift:.4g}.")


def _report_sections(report: Report, summary: dict) -> Report:
    """Marginal maps against the reference, the evidence against the enumerated value, figures."""
    rows = [[r["label"], r.get("pixel_error"), r.get("expected_pixel_error"), r.get("max_abs_diff_vs_reference"),
             r.get("mean_abs_diff_vs_reference"), r.get("disagreeing_pixels"), r.get("max_z_vs_reference"),
             r.get("total_variance"), r["wall_time_s"]] for r in summary["fits"].values()]
    report.section("Marginal maps", f"Noisy image (sign of y) pixel error: {summary['image']['noisy_pixel_error']}",
                   f"Reference marginals: {summary['reference']['marginals']}.").table(
        ["method", "pixel error (MPM)", "E[pixel error]", "max |ΔP| vs ref", "mean |ΔP| vs ref",
         "pixels on other side of ½", "max z vs enumeration", "Σ Var(s_i)", "time (s)"], rows).add(
        "Σ Var(s_i) = Σ (1 − ⟨s_i⟩²): mean field is over-confident (smaller than the MCMC value). "
        "z_i = |P_i − P_i,exact| / se_i with se_i floored at sqrt(p_i(1 − p_i)/ESS_i).")
    ex = summary["reference"]["exact_log_evidence"]
    report.free_energy(summary["evidence"], None if ex is None else -ex, heading="Evidence −ln p(y) (nats)",
                       value="−ln p(y)", after=[
                           "Mean field and ADVI give −ELBO, an upper bound on −ln p(y) (when ln Z_prior is exact). "
                           "Spin TI integrates ⟨Σ K s_i s_j⟩ over the coupling scale; AIS anneals along it."])
    return report
