"""Fit one PyMC model with several methods and write the comparison report.

Shared by every Bayesian model in physml: fits each method through
:func:`physml.inference.fit`, compares posteriors and free energies with the
model's :class:`~physml.models.reference.Reference`, and writes ``METHOD.nc``,
``summary.json``, ``figures/*.png`` and ``report.md`` atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from ..inference import METHODS, fit
from ..models.reference import Reference
from . import figures
from .common import Progress, markdown_table, pm_fmt, fmt, save_datatree_atomic, write_json_atomic, write_text_atomic
from .compare import fit_record, free_energy_comparison, posterior_comparison, sandwich_text
from .warnings import collect_warnings, warnings_markdown


@dataclass
class MethodPlan:
    """How to run one method: sizes, method options and free-energy estimators."""

    method: str
    draws: int
    tune: int
    chains: int
    options: dict = field(default_factory=dict)
    free_energy: tuple[str, ...] | None = None
    free_energy_options: dict = field(default_factory=dict)


def run_and_report(*, model_name: str, title: str, intro: str, model, reference: Reference | None,
                   plans: list[MethodPlan], var_names: list[str], settings: dict, out_dir: Path,
                   seed: int, progress: bool, notes: list[str] | None = None,
                   extra_section: Callable[[dict], tuple[str, dict]] | None = None) -> dict:
    """Fit every plan, compare with ``reference`` and write the report files into ``out_dir``.

    ``extra_section(fits) -> (markdown, summary_dict)`` adds a model-specific section (e.g. the
    exact mean-field optimum of a conjugate model) to ``report.md`` and ``summary.json``.
    """
    out_dir = Path(out_dir)
    say = Progress(model_name, progress)
    fits = {}
    for i, plan in enumerate(plans, 1):
        if plan.method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {plan.method!r}")
        say(f"[{i}/{len(plans)}] fitting {plan.method} (draws={plan.draws}, chains={plan.chains})")
        dt = fit(model, plan.method, draws=plan.draws, tune=plan.tune, chains=plan.chains, seed=seed,
                 progress=False, free_energy=plan.free_energy, free_energy_options=plan.free_energy_options,
                 **plan.options)
        fits[plan.method] = dt
        say(f"[{i}/{len(plans)}] {plan.method} done in {dt.attrs['physml_wall_time_s']:.1f} s")
    exact = reference.free_energy if reference is not None else None
    comparison = posterior_comparison(fits, reference, var_names)
    fe_rows = free_energy_comparison(fits, exact)

    fig_dir = out_dir / "figures"
    trees = dict(fits)
    if reference is not None and reference.posterior is not None:
        trees = {"reference": reference.posterior, **fits}
    figs = {}
    say("drawing figures")
    figs["forest"] = figures.forest(trees, var_names, fig_dir / "forest.png")
    figs["densities"] = figures.densities(trees, var_names, fig_dir / "densities.png")
    histories = {m: dt["vi_history"]["neg_elbo"].values for m, dt in fits.items() if "vi_history" in dt.children}
    if histories:
        figs["elbo"] = figures.elbo_traces(histories, exact, fig_dir / "elbo.png")
    if fe_rows:
        figs["free_energy"] = figures.free_energy_bars(fe_rows, exact, fig_dir / "free_energy.png")

    for method, dt in fits.items():
        save_datatree_atomic(dt, out_dir / f"{method}.nc")
    summary = {
        "model": model_name,
        "settings": settings,
        "reference": {
            "source": reference.source if reference is not None else None,
            "free_energy": exact,
            "posterior": reference.summary() if reference is not None else {},
        },
        "fits": {m: fit_record(dt, comparison.get(m)) for m, dt in fits.items()},
        "comparison": {"posterior": comparison, "free_energy": fe_rows},
        "warnings": collect_warnings(fits, exact_free_energy=exact),
    }
    extra_md = ""
    if extra_section is not None:
        extra_md, extra_summary = extra_section(fits)
        summary.update(extra_summary)
    write_json_atomic(out_dir / "summary.json", summary)
    report = _report_markdown(title, intro, summary["warnings"], fits, reference, comparison, fe_rows, figs, out_dir,
                              notes or [])
    if extra_md:
        report = report.replace("\n## Diagnostics\n", f"\n{extra_md}\n## Diagnostics\n", 1)
    write_text_atomic(out_dir / "report.md", report)
    say("wrote report.md")  # out_dir is a scratch folder; the CLI names the final one
    return summary


def _report_markdown(title, intro, warnings, fits, reference, comparison, fe_rows, figs, out_dir, notes) -> str:
    lines = [f"# {title}", "", intro, "", warnings_markdown(warnings), "## Free energy −ln Z (nats)", ""]
    if reference is not None and reference.free_energy is not None:
        lines += [f"Exact: **{reference.free_energy:.4f}** ({reference.source}).", ""]
    else:
        lines += ["No closed-form evidence for this model: estimates are compared with each other.", ""]
    rows = []
    for r in fe_rows:
        z = r.get("error_in_se")
        rows.append([r["method"], r["estimator"], r["kind"], pm_fmt(r["value"], r["se"]),
                     fmt(r.get("error")), fmt(z, 3), fmt(r.get("kl_gap")), fmt(r.get("pareto_k"), 3),
                     sandwich_text(r), fmt(r.get("wall_time_s"), 3)])
    lines += [markdown_table(["method", "estimator", "kind", "F ± se", "F − F_exact", "error / se",
                              "KL(q‖p) = F_VI − F_exact", "Pareto k̂", "BDMC sandwich", "time (s)"], rows), ""]
    lines += ["`upper_bound` rows are −ELBO: by ln p(y) = ELBO + KL(q‖p) their gap to the exact value is "
              "the KL divergence of the variational approximation. `error / se` within ±4 means the "
              "estimate agrees with the exact value within its Monte Carlo error.", ""]
    if "free_energy" in figs:
        lines += [f"![free energies]({figs['free_energy'].relative_to(out_dir)})", ""]

    lines += ["## Posterior against the reference", ""]
    if reference is not None:
        lines += [f"Reference: {reference.source}.", ""]
    header = ["parameter", "reference mean ± sd"] + [f"{m}: mean (err/MCSE), sd ratio" for m in fits]
    labels = list(next(iter(comparison.values()))["posterior"]) if comparison else []
    ref = reference.summary() if reference is not None else {}
    rows = []
    for label in labels:
        r = ref.get(label)
        row = [label, "—" if r is None else f"{fmt(r['mean'])} ± {fmt(r['sd'], 3)}"]
        for m in fits:
            c = comparison[m]["posterior"].get(label)
            if c is None:
                row.append("—")
            elif "sd_ratio" in c:
                row.append(f"{fmt(c['mean'])} ({fmt(c['error_in_mcse'], 2)}), {fmt(c['sd_ratio'], 3)}")
            else:
                row.append(f"{pm_fmt(c['mean'], c['mcse_mean'])}, sd {fmt(c['sd'], 3)}")
        rows.append(row)
    lines += [markdown_table(header, rows), ""]
    lines += ["Each cell: posterior mean (its error in MCSE units; within ±4 is agreement), and sd / reference sd "
              "(mean-field VI below 1 on a correlated posterior is the family's known shrinkage).", ""]
    dist_rows = [[m, fmt(c["wasserstein"], 3)] for m, c in comparison.items()]
    lines += [markdown_table(["method", "Wasserstein-1 to reference (mean over marginals, 500-draw subsamples)"], dist_rows), ""]
    lines += ["## Diagnostics", ""]
    from ..inference import diagnostics, fit_info

    keys = ["max_rhat", "min_ess_bulk", "divergences", "converged", "n_steps", "stop_reason", "pareto_k"]
    rows = [[m, fmt(fit_info(dt)["wall_time_s"], 3)] + [fmt(diagnostics(dt).get(k)) for k in keys] for m, dt in fits.items()]
    lines += [markdown_table(["method", "time (s)"] + keys, rows), ""]
    for name, caption in (("forest", "Forest plot: every method beside the reference"),
                          ("densities", "Marginal densities"), ("elbo", "−ELBO traces with the exact free energy")):
        if name in figs:
            lines += [f"### {caption}", "", f"![{name}]({figs[name].relative_to(out_dir)})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)
