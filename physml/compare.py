r"""``physml.compare``: the comparison report of the built-in models, for any PyMC model with observed data.

One model::

    summary = physml.compare(model, methods=("nuts", "advi", "fullrank_advi", "smc"), out="results/mine")

fits each method, estimates the free energy F = −ln p(data) (nats) by every estimator (``free_energy``,
default bridge sampling, TI and AIS after NUTS; VI adds −ELBO and PSIS-IS, SMC its own) and writes
``report.md``, ``summary.json``, ``METHOD.nc`` and ``figures/`` into ``out``, exactly as ``physml run
regression`` does (:func:`physml.analyses.bayes_report.run_and_report`).  ``reference``: None (the
posterior reference is a NUTS long run and every free energy is compared with the inverse-variance
weighted consensus of the unflagged estimates), an exact −ln p(data), a
:class:`~physml.models.reference.Reference`, or a DataTree of reference draws.

Several models (a dict ``{name: model}`` or a list) are each reported in ``out/NAME/``, and ``out``
gets the comparison: Bayes factors ln BF_a:b = F_b − F_a ± √(se_a² + se_b²) from each model's consensus
(its exact value where given), and PSIS-LOO (``arviz_stats.compare``) of the NUTS fits.

The results are built in a hidden scratch folder next to ``out`` and moved onto it by renames, so an
interrupted call leaves the old results or the new ones, never a mix.  Bad arguments raise ``ValueError``
naming the argument before anything is fitted or written.  This module imports only the standard library
at import time (``python -m physml`` starts fast); the analyses are imported on the first call.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_METHODS = ("nuts", "advi", "fullrank_advi", "smc")
SEED_MAX = 2**32 - 1
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")  # a model's name is a folder name


@dataclass
class ComparisonPlan:
    """Checked arguments of :func:`compare`: the models by name and what to run on each."""

    models: dict
    plans: dict
    references: dict
    var_names: list | None
    seed: int
    settings: dict = field(default_factory=dict)

    def run(self, out_dir: Path, progress: bool) -> dict:
        """Fit and report every model into ``out_dir`` (one model) or ``out_dir/NAME`` (several)."""
        from physml.analyses import user_model

        out_dir = Path(out_dir)
        single = len(self.models) == 1
        summaries = {}
        for name, model in self.models.items():
            settings = {**self.settings, "sizes": {p.method: {"draws": p.draws, "tune": p.tune, "chains": p.chains}
                                                   for p in self.plans[name]}}
            summaries[name] = user_model.run(model, out_dir if single else out_dir / name, name=name,
                                             plans=self.plans[name], reference=self.references[name],
                                             var_names=self.var_names, seed=self.seed, progress=progress,
                                             settings=settings)
        if single:
            return next(iter(summaries.values()))
        return self._compare(summaries, out_dir)

    def _compare(self, summaries: dict, out_dir: Path) -> dict:
        import xarray as xr

        from physml.analyses.model_comparison import LOO_METHOD, write_comparison

        fits = {}
        for name in summaries:
            path = out_dir / name / f"{LOO_METHOD}.nc"
            if path.is_file():
                with xr.open_datatree(path) as dt:
                    fits[name] = dt.load()
        combined = write_comparison(summaries, fits, out_dir)
        return {**combined, "model_summaries": summaries}


def named_models(models) -> dict:
    """``models`` (a model, a list, or a dict {name: model}) as {name: model}, each checked."""
    from physml.analyses.user_model import check_model

    if isinstance(models, dict):
        named = dict(models)
    elif isinstance(models, (list, tuple)):
        named = {f"model_{i}": m for i, m in enumerate(models, 1)}
    else:
        named = {"model": models}
    if not named:
        raise ValueError("models must be a pymc.Model, a list of them or a dict {name: model}; got none")
    for name, model in named.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ValueError(f"models: a model's name is a folder name (letters, digits, _ and -), got {name!r}")
        check_model(model, "models" if len(named) == 1 else f"models[{name!r}]")
    return named


def references_by_model(reference, names: list[str]) -> dict:
    """One checked reference per model: for several models None or a dict {name: reference}."""
    from physml.analyses.user_model import check_reference

    if len(names) > 1 and reference is not None:
        if not isinstance(reference, dict) or not set(reference) <= set(names):
            raise ValueError(f"reference for several models must be None or a dict keyed by the model names "
                             f"{names}, got {reference!r}")
        return {n: check_reference(reference.get(n), f"reference[{n!r}]") for n in names}
    return {n: check_reference(reference) for n in names}


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    return seed


def prepare(models, methods=DEFAULT_METHODS, *, free_energy=None, reference=None, quick: bool = False,
            seed: int = 0, var_names=None) -> ComparisonPlan:
    """Check every argument of :func:`compare` (ValueError naming it) without fitting or writing anything."""
    from physml.analyses.user_model import free_energy_names, method_plans

    named = named_models(models)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods must name one or more distinct methods, got {methods!r}")
    names = free_energy_names(free_energy)
    plans = {n: method_plans(m, methods, bool(quick), names) for n, m in named.items()}
    settings = {"methods": methods, "free_energy": list(names), "quick": bool(quick), "seed": check_seed(seed)}
    return ComparisonPlan(named, plans, references_by_model(reference, list(named)),
                          list(var_names) if var_names is not None else None, seed, settings)


def compare(models, methods=DEFAULT_METHODS, *, free_energy=None, reference=None, out=None, quick: bool = False,
            seed: int = 0, progress: bool = True, var_names=None) -> dict:
    """Fit one or several PyMC models with ``methods``, compare, write the report into ``out``; return its summary.

    models : a ``pm.Model`` with observed data, a list of them, or a dict {name: model} (names become
        folder names).
    methods : registered method names (default nuts, advi, fullrank_advi, smc).
    free_energy : an estimator name or a tuple of names run after NUTS (default ("bridge", "ti", "ais")).
    reference : None, an exact −ln p(data) in nats, a ``Reference``, or a DataTree of reference draws
        (several models: a dict {name: reference}).
    out : the report folder, replaced as a whole (a new or empty folder, or an earlier report's; None: a
        temporary folder, deleted afterwards; the summary is still returned).
    quick : short runs (smoke tests, tutorials). seed : integer in 0..2**32-1. progress : progress lines on
        stderr, and the result printed on stdout.
    var_names : the parameters the posterior table and figures show (default: free variables and
        deterministics).

    Returns the report's summary (one model) or the comparison summary with ``model_summaries`` (several).
    """
    from physml.analyses.common import replace_folder, scratch_path

    plan = prepare(models, methods, free_energy=free_energy, reference=reference, quick=quick, seed=seed,
                   var_names=var_names)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="physml-compare-") as tmp:
            summary = plan.run(Path(tmp) / "report", progress)
        return _show(summary, None, progress)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").is_file():
        raise ValueError(f"out {out} is a folder with other files (no summary.json of an earlier report): the report "
                         "replaces its folder, so give a new or empty folder, or an earlier report's")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_path(out.parent, out.name.replace(".", "_"))
    try:
        summary = plan.run(scratch, progress)
        replace_folder(scratch, out)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _show(summary, out, progress)


def summary_text(summary: dict, out: Path | None) -> str:
    """The lines :func:`compare` prints: one model's free energy and warnings, or the model comparison."""
    from physml.analyses.common import pm_fmt
    from physml.analyses.model_comparison import comparison_text

    if "bayes_factors" in summary:
        return comparison_text(summary, out)
    consensus = summary["comparison"].get("free_energy_consensus")
    exact = summary["reference"]["free_energy"]
    if exact is not None:
        line = f"{summary['model']}: −ln p(y) = {exact:.6g} (exact, given)"
    elif consensus and consensus["value"] is not None:
        line = (f"{summary['model']}: −ln p(y) = {pm_fmt(consensus['value'], consensus['se'])} nats, consensus of "
                f"{', '.join(consensus['used'])}{'  FLAGGED' if consensus['note'].startswith('unreliable:') else ''}")
    else:
        line = f"{summary['model']}: no unflagged free-energy estimate"
    lines = [line, f"{len(summary['warnings'])} warnings (see the report)" if summary["warnings"] else "no warnings"]
    return "\n".join(lines + ([f"report: {out / 'report.md'}"] if out is not None else []))


def _show(summary: dict, out: Path | None, progress: bool) -> dict:
    if progress:
        print(summary_text(summary, out), file=sys.stdout, flush=True)
    return summary
