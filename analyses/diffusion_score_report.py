"""Report sections and figures of the learned score in ``physml run diffusion`` (computations in
``analyses/diffusion_score.py``).

Self-checks listed under Warnings: a NUTS posterior mean off the conjugate one by more than 4.4 MCSE (rms over
the weights), an ADVI fit that did not converge (then not compared), an exact-score bound more than 4 se below
the exact −ln p (it must lie above, up to KL(p_1‖N(0, I))), and non-finite generated samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import fmt, pm_fmt, save_figure_atomic
from .report import Report


def warnings(learned: dict) -> list[str]:
    out = []
    for m, rec in learned["posterior"]["methods"].items():
        if rec["converged"] is False:
            out.append(f"**{m}** (score weights) did not converge: not compared")
        if rec["rms_z_mcse"] is not None and rec["rms_z_mcse"] > 4.4:
            out.append(f"**{m}** (score weights): rms (mean − exact)/MCSE = {rec['rms_z_mcse']:.2f} > 4.4")
    for r in learned["bound"]["records"]:
        if "exact score" in r["estimator"] and r["z"] is not None and r["z"] < -4:
            out.append(f"**{r['estimator']}** lies {-r['z']:.1f} se below the exact −ln p")
    for r in learned["generation"]["rows"]:
        if r["finite"] < learned["generation"]["particles"]:
            out.append(f"**learned score, {r['score']}**: {learned['generation']['particles'] - r['finite']} "
                       "generated samples diverged (dropped)")
    return out


def add_sections(report: Report, learned: dict) -> None:
    post, gen, bound = learned["posterior"], learned["generation"], learned["bound"]
    sec = report.section("Learning the score: denoising score matching as Bayesian linear regression")
    sec.add(f"Score linear in {post['weights']} whitened random-Fourier-feature weights ({post['features']} "
            f"features of (x, t) + x, per output coordinate), fitted to {post['rows']} DSM rows (λ(t) = σ_t²: "
            "residual σ_t s_w(x_t, t) + ε). Likelihood: the residuals taken as N(0, τ²) with τ² inferred "
            "(a pseudo-likelihood — the residuals are neither Gaussian nor homoscedastic — so the width is the "
            "loss surface's at temperature τ², not a calibrated error of the true score). Prior: Zellner-type "
            f"g-prior w | τ² ~ N(0, τ² v₀ I) in the whitened basis. Exact τ² = "
            f"{pm_fmt(post['tau2_exact']['mean'], post['tau2_exact']['sd'])} (mean ± sd).")
    rows = []
    for m, r in post["methods"].items():
        if r["converged"] is False:
            rows.append([m, "not converged", "—", "—", "—", "—", fmt(r["wall_time_s"], 3)])
            continue
        fe = next((f for f in r["free_energy"] if f["kind"] == "upper_bound"), None)
        rows.append([m, fmt(r["max_abs_error_sd_units"], 3), fmt(r["rms_z_mcse"], 3) if r["rms_z_mcse"] else "—",
                     f"{fmt(r['sd_ratio_median'], 3)} [{fmt(r['sd_ratio_range'][0], 3)}, "
                     f"{fmt(r['sd_ratio_range'][1], 3)}]", pm_fmt(r["tau2_mean"], r["tau2_mcse"]),
                     f"{fmt(fe['value'], 6)} (gap {fe['error']:+.4f})" if fe else "—", fmt(r["wall_time_s"], 3)])
    sec.table(["method", "max abs(mean − exact)/sd", "rms (mean − exact)/MCSE", "sd ratio median [min, max]",
               "τ²", "−ELBO vs exact −ln p(y)", "wall s"], rows)
    sec.add(f"Exact (conjugate NIG) −ln p(DSM targets) = {fmt(post['exact_free_energy'], 6)}; the ADVI −ELBO is an "
            "upper bound, its gap the KL of the mean-field q to the posterior. The model is written on its "
            "sufficient statistics (projection of y on the design, residual sum of squares): same posterior.")
    _generation(report, gen)
    _density(report, learned["density"])
    _sweep(report, learned["sweep"])
    _bound(report, bound)


def _generation(report: Report, gen: dict) -> None:
    sec = report.section("Generated samples with posterior uncertainty (reverse SDE)")
    b, fl = gen["band"], gen["floor"]
    rows = [[r["score"], fmt(r["wasserstein"]), fmt(r["energy"]), fmt(min(r["occupancy"]), 3),
             fmt(max(r["occupancy"]), 3)] for r in gen["rows"][:2]]
    rows.append([f"posterior draws ({gen['draws']}): mean [5 %, 95 %]",
                 f"{fmt(b['wasserstein']['mean'])} [{fmt(b['wasserstein']['lo'])}, {fmt(b['wasserstein']['hi'])}]",
                 f"{fmt(b['energy']['mean'])} [{fmt(b['energy']['lo'])}, {fmt(b['energy']['hi'])}]",
                 fmt(min(gen["occupancy_band"]["lo"]), 3), fmt(max(gen["occupancy_band"]["hi"]), 3)])
    rows.append(["data vs data (floor)", fmt(fl["wasserstein"]), fmt(fl["energy"]), "—", "—"])
    sec.table(["score", "W1 to data", "energy distance", "min mode occupancy", "max mode occupancy"], rows)
    sec.add(f"{gen['particles']} samples, {gen['steps']} Euler–Maruyama steps, the same start noise for every "
            f"score. Mode occupancy: fraction of samples nearest each mixture mean (data: "
            f"{fmt(min(gen['data_weights']), 3)}–{fmt(max(gen['data_weights']), 3)}).")


def _density(report: Report, dens: dict) -> None:
    sec = report.section("Where the learned score is wrong: error vs ln p_t(x)")
    for b in dens["bins"]:
        sec.table([f"t = {b['t']:g}: ln p_t bin (median)"] + [fmt(v, 3) for v in b["log_p_bin_centre"]],
                  [["mean ‖s − ∇ln p_t‖² (posterior mean)"] + [fmt(v, 3) for v in b["score_error"]],
                   ["posterior variance of s (20 draws)"] + [fmt(v, 3) for v in b["posterior_var"]]])
    sec.add("Points half from p_t, half uniform on a box around the data; bins are sextiles of ln p_t. The error "
            "grows where the data are sparse; the posterior variance grows there too but stays far below the "
            "error (the features, not the weights, limit the fit, and τ² is a pseudo-likelihood scale).")


def _sweep(report: Report, sweep: dict) -> None:
    ex = sweep["exact"]
    rows = [[r["features"], r["points"], pm_fmt(r["wasserstein"], r["se"])] for r in sweep["rows"]]
    rows.append(["exact score (floor)", "—", pm_fmt(ex["wasserstein"], ex["se"])])
    report.section("Quality vs number of features and training points").table(
        ["random features", "training points", "W1 to data (mean ± se)"], rows).add(
        f"Posterior-mean score, {sweep['repeats']} repeats (new features, training pairs, noise); the exact "
        "score from the same noise gives the floor (its W1 is the two-sample noise plus discretisation).")


def _bound(report: Report, bound: dict) -> None:
    kl, gap = bound["prior_kl"], bound["score_error_gap"]
    rows = [[r["estimator"], pm_fmt(r["value"], r["se"]), r["kind"], f"{r['error']:+.4f}",
             f"{r['z']:+.2f}" if r["z"] is not None else "—"] for r in bound["records"]]
    rows.append(["exact −(1/n) Σ ln p_0(x_i)", fmt(bound["exact_neg_log_p"], 6), "exact", "0", "—"])
    report.section("The diffusion bound (denoising loss with weighting g² = β) vs the exact −ln p").table(
        ["estimator (nats per point)", "value ± se", "kind", "value − exact", "z"], rows).add(
        f"{bound['points']} held-out points, {bound['times']} draws of (t, ε) each. For the exact score the "
        f"expected gap is KL(p_1‖N(0,I)) = {fmt(kl['value'], 3)}; a learned score adds "
        f"½∫β E_pt‖s − ∇ln p_t‖² dt = {pm_fmt(gap['value'], gap['se'])} (computed directly with the exact "
        "score); the learned − exact bound on the same (t, ε) draws: "
        + ", ".join(f"{k} {pm_fmt(v['value'], v['se'])}" for k, v in bound["paired_gap"].items())
        + " (se over the draws and the points, added in quadrature). The bound is on the reverse-SDE model; the "
        "probability-flow row is another model's (the ODE with the same learned score) exact −ln p, its excess over "
        "the data's an estimate of KL(p_data‖p_model).")


def figures(fig_dir: Path, fp, learned: dict, samples: dict) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    panels = list(samples.items())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4))
    for ax, (name, x) in zip(np.atleast_1d(axes), panels):
        if fp.data.dim == 1:
            ax.hist(x[:, 0], bins=60, density=True, color="grey")
        else:
            ax.plot(x[:, 0], x[:, 1], ".", ms=1, alpha=0.5)
            ax.plot(fp.data.means[:, 0], fp.data.means[:, 1], "r+", ms=6)
            ax.set_aspect("equal")
        ax.set_title(name)
    paths.append(save_figure_atomic(fig, fig_dir / "learned_samples.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, b in enumerate(learned["density"]["bins"]):
        axes[0].semilogy(b["log_p_bin_centre"], b["score_error"], "o-", color=f"C{k}", label=f"error, t={b['t']:g}")
        axes[0].semilogy(b["log_p_bin_centre"], b["posterior_var"], "x--", color=f"C{k}",
                         label=f"posterior variance, t={b['t']:g}")
    axes[0].set_xlabel("ln p_t(x)")
    axes[0].legend(fontsize=6)
    sw = learned["sweep"]
    feats = [r for r in sw["rows"] if r["points"] == sw["rows"][0]["points"]]
    axes[1].errorbar([r["features"] for r in feats], [r["wasserstein"] for r in feats],
                     yerr=[2 * r["se"] for r in feats], fmt="o-", label="posterior-mean score")
    axes[1].axhline(sw["exact"]["wasserstein"], color="k", lw=0.8, label="exact score (floor)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("random features")
    axes[1].set_ylabel("W1 to data")
    axes[1].legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "learned_score_error.png"))
    return paths
