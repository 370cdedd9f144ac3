"""Report and figures of ``physml run diffusion`` (the computations are in ``analyses/diffusion.py``).

Self-checks listed under Warnings: a Fokker–Planck order outside [1.8, 2.2] (the Chang–Cooper flux is second
order), a particle histogram further from p_t than 3× its multinomial noise, generated samples further from
the data than the two-sample floor + 4 combined se at the largest step count, and a probability-flow
likelihood error above the target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inference.diffusion import reverse_euler_maruyama
from .common import fmt, pm_fmt, save_figure_atomic
from .report import Report


def _warnings(summary: dict, target: float) -> list[str]:
    out, fw = [], summary["forward"]
    for t, order, l1 in zip(fw["times"], fw["fp_order"], np.array(fw["fp_l1"]).T):
        if t > 0 and np.isfinite(order) and l1[-1] > 1e-12 and not 1.8 <= order <= 2.2:
            out.append(f"**Fokker–Planck** at t = {t:g}: observed order {order:.2f}, expected 2")
    for t, l1, noise in zip(fw["times"], fw["particle_l1"], fw["particle_l1_noise"]):
        if l1 > 3 * noise:
            out.append(f"**particles** at t = {t:g}: histogram L¹ {l1:.4f} > 3 × its noise {noise:.4f}")
    gen = summary["generation"]
    fl = gen["floor"]
    for m, rec in gen["methods"].items():
        last = rec["distances"][-1]
        bound = fl["wasserstein"] + 4 * np.hypot(fl["wasserstein_se"], last["wasserstein_se"])
        if last["wasserstein"] > bound:
            out.append(f"**{m}** at {gen['steps'][-1]} steps: W1 {last['wasserstein']:.4f} above the two-sample "
                       f"floor {fl['wasserstein']:.4f} + 4 se ({bound:.4f})")
    lik = summary["likelihood"]
    if not lik["mean_abs_error"] < target:
        out.append(f"**likelihood**: mean |error| {lik['mean_abs_error']:.4f} nats/point ≥ target {target}")
    return out


def build_report(summary: dict, target: float, *, fits=None, extra=()) -> Report:
    data, fw, gen, lik = summary["data"], summary["forward"], summary["generation"], summary["likelihood"]
    s = summary["settings"]
    report = Report(f"Diffusion (VP-SDE) on {data['source']} (d = {data['dim']}, {data['components']} components)",
                    f"dx = −½β(t)x dt + √β(t) dW, β(t) = {s['beta_min']:g} + ({s['beta_max']:g} − {s['beta_min']:g})t "
                    "on [0, 1]; p_t is a Gaussian mixture in closed form (means α m_k, variances α²s_k² + σ²), so "
                    "density, score and its divergence are exact. Generation uses the exact score.")
    report.check(fits, extra=_warnings(summary, target) + list(extra))
    sec = report.section("Forward process: closed form vs Fokker–Planck vs particles (first coordinate)")
    sec.table(["cells"] + [f"L¹ at t={t:g}" for t in fw["times"]],
              [[n] + list(row) for n, row in zip(fw["fp_cells"], fw["fp_l1"])] + [["order"] + fw["fp_order"]])
    sec.add("Finite volume with Chang–Cooper (Scharfetter–Gummel) fluxes, exact in time (expm_multiply): "
            "conservative and positivity-preserving; L¹ = Σ|cell mass − exact cell mass|.")
    sec.table(["t", "particle L¹ (80 cells)", "multinomial noise E L¹", "KL(p_t‖N(0,I)) (nats)",
               "−dKL/dt = ½β E‖∇ln p_t + x‖²"],
              [[t, pl, nz, pm_fmt(k["value"], k["error"]) + f" ({k['kind']})", pm_fmt(e["value"], e["error"])]
               for t, pl, nz, k, e in zip(fw["times"], fw["particle_l1"], fw["particle_l1_noise"],
                                          fw["kl_to_prior"], fw["entropy_production"])])
    sec.add(f"{fw['particles']} Euler–Maruyama particles, h = 1e-3.")
    _generation_section(report, gen, data)
    report.section("Likelihood through the probability-flow ODE").table(
        ["points", "RK4 steps", "mean abs error (nats)", "max abs error", "mean error", "model −ln p / point",
         "exact −ln p / point"],
        [[lik["points"], lik["steps"], lik["mean_abs_error"], lik["max_abs_error"],
          pm_fmt(lik["mean_error"], lik["mean_error_se"]), lik["model_neg_log_p"],
          pm_fmt(lik["exact_neg_log_p"], lik["exact_neg_log_p_se"])]]).add(
        f"Target: mean abs error < {target} nats/point. The model's prior is N(0, I), not p_1; their gap "
        f"KL(p_1‖N(0,I)) = {fmt(lik['prior_kl']['value'])} ({lik['prior_kl']['kind']}) bounds what the exact "
        "score cannot remove; the rest is RK4 error.")
    return report


def _generation_section(report: Report, gen: dict, data: dict) -> None:
    fl = gen["floor"]
    sec = report.section("Time reversal with the exact score: generated vs data")
    for m, rec in gen["methods"].items():
        rows = [[k, pm_fmt(d["wasserstein"], d["wasserstein_se"]), pm_fmt(d["energy"], d["energy_se"]),
                 pm_fmt(e, se)] for k, d, e, se in zip(gen["steps"], rec["distances"], rec["second_moment_error"],
                                                      rec["second_moment_se"])]
        rows.append(["data vs data (floor)", pm_fmt(fl["wasserstein"], fl["wasserstein_se"]),
                     pm_fmt(fl["energy"], fl["energy_se"]), "0"])
        sec.add(f"**{m}** ({gen['particles']} samples, {gen['repeats']} repeats; weak order of the E‖x‖² error: "
                f"{fmt(rec['weak_order'], 3) if rec['weak_order'] is not None else 'not resolved'}"
                f" from steps {rec['order_from_steps']}"
                + (f"; pathwise order against 4× the steps: {fmt(rec['pathwise_order'], 3)})" if "pathwise_order" in rec
                   else ")"))
        header = ["steps", "W1 (mean over coords)", "energy distance", "E‖x‖² − exact"]
        if "pathwise_error" in rec:
            header.append("mean ‖x − x_ref‖")
            rows = [row + [e] for row, e in zip(rows, rec["pathwise_error"])] + [rows[-1] + ["—"]]
        sec.table(header, rows)
    sec.add(f"Exact E‖x‖² = {data['second_moment']:.5f}. Distances per coordinate (SciPy), mean ± se over repeats; "
            "the floor is the same distance between two independent data samples of the same size.")


def figures(fig_dir: Path, fp, forward: dict, generation: dict, likelihood: dict, seed: int) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    fw = forward["summary"]
    fig, axes = plt.subplots(1, len(fw["times"]), figsize=(3 * len(fw["times"]), 3), sharey=False)
    grid, coarse = forward["grid"], forward["coarse"]
    for ax, t, ex, num, part in zip(np.atleast_1d(axes), fw["times"], forward["exact_masses"], forward["fp_masses"],
                                    forward["particle_masses"]):
        ax.stairs(part / coarse.width, coarse.edges, color="grey", label="particles")
        ax.plot(grid.centres, ex / grid.width, "k-", lw=1, label="exact")
        stride = max(1, grid.n_cells // 80)
        ax.plot(grid.centres[::stride], num[::stride] / grid.width, "r.", ms=3, label="Fokker–Planck")
        ax.set_title(f"t = {t:g}")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "forward_densities.png"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].loglog(fw["fp_cells"], fw["fp_l1"], "o-")
    axes[0].set_xlabel("cells")
    axes[0].set_ylabel("L¹ error")
    axes[0].legend([f"t={t:g}" for t in fw["times"]], fontsize=7)
    axes[1].semilogy(fw["times"], [max(k["value"], 1e-12) for k in fw["kl_to_prior"]], "o-", label="KL(p_t‖N)")
    axes[1].semilogy(fw["times"], [max(e["value"], 1e-12) for e in fw["entropy_production"]], "s--",
                     label="−dKL/dt")
    axes[1].set_xlabel("t")
    axes[1].legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "fp_convergence_kl.png"))
    paths.append(_samples_figure(plt, fig_dir, fp, generation, seed))
    paths.append(_distance_figure(plt, fig_dir, generation))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(likelihood["exact"], likelihood["model"], ".", ms=3)
    lims = [likelihood["exact"].min(), likelihood["exact"].max()]
    ax.plot(lims, lims, "k-", lw=0.5)
    ax.set_xlabel("exact ln p_0(x)")
    ax.set_ylabel("probability-flow ln p(x)")
    paths.append(save_figure_atomic(fig, fig_dir / "likelihood.png"))
    return paths


def _samples_figure(plt, fig_dir: Path, fp, generation: dict, seed: int) -> Path:
    """Generated vs data samples (scatter in 2-D, histograms in 1-D) and 8 reverse-SDE trajectories."""
    rng = np.random.default_rng(seed)
    samples = generation["samples"]
    data = fp.data.sample(next(iter(samples.values())).shape[0], rng)
    times, paths = reverse_euler_maruyama(rng.standard_normal((8, fp.data.dim)), fp.score, fp.schedule, 200, rng,
                                          snapshots=200)
    fig, axes = plt.subplots(1, len(samples) + 2, figsize=(3.6 * (len(samples) + 2), 3.4))
    panels = [("data", data)] + list(samples.items())
    for ax, (name, x) in zip(axes, panels):
        if fp.data.dim == 1:
            ax.hist(x[:, 0], bins=60, density=True, color="grey")
        else:
            ax.plot(x[:, 0], x[:, 1], ".", ms=1, alpha=0.5)
            ax.set_aspect("equal")
        ax.set_title(name)
    ax = axes[-1]
    if fp.data.dim == 1:
        ax.plot(times, paths[:, :, 0], lw=0.5)
        ax.set_xlabel("t (reverse: 1 → 0)")
        ax.invert_xaxis()
    else:
        for i in range(paths.shape[1]):
            ax.plot(paths[:, i, 0], paths[:, i, 1], lw=0.4)
        ax.plot(paths[-1, :, 0], paths[-1, :, 1], "k.", ms=3)
        ax.set_aspect("equal")
    ax.set_title("reverse-SDE trajectories")
    return save_figure_atomic(fig, fig_dir / "generated.png")


def _distance_figure(plt, fig_dir: Path, generation: dict) -> Path:
    s = generation["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for m, rec in s["methods"].items():
        axes[0].errorbar(s["steps"], [d["wasserstein"] for d in rec["distances"]],
                         yerr=[2 * d["wasserstein_se"] for d in rec["distances"]], fmt="o-", label=m)
        axes[1].errorbar(s["steps"], np.abs(rec["second_moment_error"]), yerr=2 * np.array(rec["second_moment_se"]),
                         fmt="o-", label=m)
    fl = s["floor"]
    axes[0].axhspan(fl["wasserstein"] - 2 * fl["wasserstein_se"], fl["wasserstein"] + 2 * fl["wasserstein_se"],
                    color="grey", alpha=0.3, label="two-sample floor")
    for ax, label in zip(axes, ("W1 generated vs data", "abs(E‖x‖² − exact)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("steps")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    return save_figure_atomic(fig, fig_dir / "distances.png")
