"""Fit one PyMC model with several methods and write the comparison report.

Free energy F = −ln p(y) = −ln ∫ p(y | θ) p(θ) dθ against the model's exact value (error, error / se), the
posterior against the reference draws (mean error in MCSE units, sd ratio, Wasserstein-1), diagnostics.

Shared by every Bayesian model in physml (the analysis of a new PyMC model is its ``MethodPlan`` list and a
:func:`run_and_report` call: ``regression.py`` is the example): fits each method through
:func:`physml.inference.fit`, compares posteriors and free energies with the
model's :class:`~physml.models.reference.Reference`, and writes ``METHOD.nc``,
``summary.json``, ``figures/*.png`` and ``report.md`` atomically.

Without an exact free energy the free-energy table shows every estimate against the consensus of the
unflagged ones (:mod:`.consensus`: inverse-variance weighted, its χ² consistency check and Birge-scaled
se), and ``summary.json`` carries it as ``comparison.free_energy_consensus``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from ..inference import diagnostics, fit, fit_info
from ..models.reference import Reference
from . import figures
from .common import Progress, save_datatree_atomic
from .compare import fit_record, free_energy_comparison, posterior_comparison
from .consensus import consensus_free_energy, consensus_lines, consensus_table, consensus_warnings, versus_consensus
from .report import FREE_ENERGY_NOTE, Report
from .settings import check_methods


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
                   extra_section: Callable[[dict, Report], dict] | None = None,
                   extra_warnings: Callable[[dict], list[str]] | None = None) -> dict:
    """Fit every plan, compare with ``reference`` and write the report files into ``out_dir``.

    ``extra_section(fits, report) -> summary_dict`` adds a model-specific section to the report (before
    the diagnostics; e.g. the exact mean-field optimum of a conjugate model) and keys to ``summary.json``.
    ``extra_warnings(fits) -> lines`` adds lines to the Warnings (e.g. about a reference run).
    """
    check_methods([p.method for p in plans], model)
    out_dir = Path(out_dir)
    say = Progress(model_name, progress)
    fits = fit_plans(model, plans, seed, say)
    exact = reference.free_energy if reference is not None else None
    comparison = posterior_comparison(fits, reference, var_names)
    fe_rows = free_energy_comparison(fits, exact)
    consensus = consensus_free_energy(fe_rows) if exact is None else None
    extra = list(extra_warnings(fits)) if extra_warnings is not None else []
    if consensus is not None:
        fe_rows = versus_consensus(fe_rows, consensus)
        extra += consensus_warnings(fe_rows, consensus)
    say("drawing figures")
    figs = _figures(fits, reference, var_names, exact, fe_rows, out_dir / "figures")
    for method, dt in fits.items():
        save_datatree_atomic(dt, out_dir / f"{method}.nc")
    ref_summary = reference.summary() if reference is not None else {}
    report = Report(title, intro)
    summary = {
        "model": model_name,
        "settings": settings,
        "reference": {"source": reference.source if reference is not None else None, "free_energy": exact,
                      "posterior": ref_summary},
        "fits": {m: fit_record(dt, comparison.get(m)) for m, dt in fits.items()},
        "comparison": {"posterior": comparison, "free_energy": fe_rows},
        "warnings": report.check(fits, exact_free_energy=exact, extra=extra),
    }
    source = reference.source if reference is not None else None
    figure_line = _figure_line("free energies", figs.get("free_energy"), out_dir)
    if consensus is None:
        report.free_energy(fe_rows, exact, before=[f"Exact: **{exact:.4f}** ({source})."],
                           after=[FREE_ENERGY_NOTE, figure_line])
    else:
        summary["comparison"]["free_energy_consensus"] = consensus.to_dict()
        report.section("Free energy −ln p(y) (nats)", "No exact evidence for this model: every estimate is "
                       "compared with the consensus of the others.", *consensus_lines(consensus),
                       consensus_table(fe_rows), figure_line)
    report.posterior(comparison, ref_summary, fits, before=[f"Reference: {source}." if reference is not None else ""])
    if extra_section is not None:
        summary.update(extra_section(fits, report))
    report.diagnostics({m: {**diagnostics(dt), "wall_time_s": fit_info(dt)["wall_time_s"]} for m, dt in fits.items()},
                       DIAGNOSTIC_KEYS)
    for name, caption in FIGURE_CAPTIONS:
        if name in figs:
            report.section(caption, level=3).figure(figs[name].relative_to(out_dir), name)
    if notes:
        report.section("Notes", "\n".join(f"- {n}" for n in notes))
    report.save(out_dir, summary)
    say("wrote report.md")  # out_dir is a scratch folder; the CLI names the final one
    return summary


DIAGNOSTIC_KEYS = ["max_rhat", "min_ess_bulk", "divergences", "converged", "n_steps", "stop_reason", "pareto_k"]
FIGURE_CAPTIONS = (("forest", "Forest plot: every method beside the reference"), ("densities", "Marginal densities"),
                   ("elbo", "−ELBO traces with the exact free energy"))


def fit_plans(model, plans: list[MethodPlan], seed: int, say: Progress) -> dict:
    """{method: fit DataTree} of every plan, in order, all from ``seed``."""
    fits = {}
    for i, plan in enumerate(plans, 1):
        say(f"[{i}/{len(plans)}] fitting {plan.method} (draws={plan.draws}, chains={plan.chains})")
        dt = fit(model, plan.method, draws=plan.draws, tune=plan.tune, chains=plan.chains, seed=seed,
                 progress=False, free_energy=plan.free_energy, free_energy_options=plan.free_energy_options,
                 **plan.options)
        fits[plan.method] = dt
        say(f"[{i}/{len(plans)}] {plan.method} done in {dt.attrs['physml_wall_time_s']:.1f} s")
    return fits


def _figures(fits: dict, reference: Reference | None, var_names: list[str], exact, fe_rows: list[dict],
             fig_dir: Path) -> dict:
    """Forest and density plots beside the reference draws, −ELBO traces, free-energy bars."""
    trees = dict(fits)
    if reference is not None and reference.posterior is not None:
        trees = {"reference": reference.posterior, **fits}
    figs = {"forest": figures.forest(trees, var_names, fig_dir / "forest.png"),
            "densities": figures.densities(trees, var_names, fig_dir / "densities.png")}
    histories = {m: dt["vi_history"]["neg_elbo"].values for m, dt in fits.items() if "vi_history" in dt.children}
    if histories:
        figs["elbo"] = figures.elbo_traces(histories, exact, fig_dir / "elbo.png")
    if fe_rows:
        figs["free_energy"] = figures.free_energy_bars(fe_rows, exact, fig_dir / "free_energy.png")
    return figs


def _figure_line(alt: str, path: Path | None, out_dir: Path) -> str:
    return f"![{alt}]({path.relative_to(out_dir)})" if path is not None else ""
