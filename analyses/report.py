r"""One report builder for every model's analysis (``report.md``).

A report is

    # title
    intro paragraphs
    ## Warnings                      every reason for distrust, collected from the records (analyses/warnings.py)
    ## section …                     added in order by the model's analysis: free energy against the exact
                                     value, posterior against the reference, diagnostics, figures, its own

Every estimate F̂ ± se of a quantity with an exact value F is shown with its error and z-score,

    error = F̂ − F,        z = (F̂ − F) / se   (se > 0; otherwise no z),

computed by :func:`~physml.analyses.compare.versus_exact`, the one place that formula lives.

In here: :class:`Section` (a heading and its blocks of markdown), :class:`Report` (title, intro, the
Warnings section from :func:`~physml.analyses.warnings.collect_warnings`, sections, and builders for the
standard ones: :meth:`Report.free_energy`, :meth:`Report.posterior`, :meth:`Report.diagnostics`,
:meth:`Report.figures`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from .common import fmt, markdown_table, pm_fmt, write_json_atomic, write_text_atomic
from .compare import sandwich_text, versus_exact
from .warnings import collect_warnings, warnings_markdown

VI_GAP = "KL(q‖p) = F_VI − F_exact"
FREE_ENERGY_NOTE = ("`upper_bound` rows are −ELBO: by ln p(y) = ELBO + KL(q‖p) their gap to the exact value is "
                    "the KL divergence of the variational approximation. `error / se` within ±4 means the "
                    "estimate agrees with the exact value within its Monte Carlo error.")


@dataclass
class Section:
    """One ``##`` section: a heading and blocks of markdown (paragraphs, tables, figures) in order."""

    heading: str
    blocks: list[str] = field(default_factory=list)
    level: int = 2

    def add(self, *blocks: str | None) -> Section:
        """Append paragraphs (``None`` and empty strings are skipped)."""
        self.blocks += [b for b in blocks if b]
        return self

    def table(self, header: list[str], rows: list[list]) -> Section:
        return self.add(markdown_table(header, rows))

    def figure(self, path, alt: str | None = None) -> Section:
        return self.add(f"![{alt or path}]({path})")

    def markdown(self) -> str:
        return "\n\n".join([f"{'#' * self.level} {self.heading}", *self.blocks]) + "\n"


class Report:
    """The report of one analysis: ``Report(title, *intro)``, then :meth:`check` (what the Warnings
    section looks at), then sections in the order they appear."""

    def __init__(self, title: str, *intro: str):
        self.title, self.intro = title, [p for p in intro if p]
        self.warnings: list[str] = []
        self.warnings_note = ""
        self.sections: list[Section] = []

    def check(self, fits: Mapping[str, xr.DataTree] | None = None, *, exact_free_energy: float | None = None,
              records: Iterable = (), diagnostics: Mapping[str, Mapping] | None = None, extra: Iterable[str] = (),
              note: str = "") -> list[str]:
        """Collect the Warnings from fits, records and diagnostics (:func:`collect_warnings`'s arguments);
        ``note`` is printed above them. Returns the list (it also goes into ``summary.json``)."""
        self.warnings = collect_warnings(fits, exact_free_energy=exact_free_energy, records=records,
                                         diagnostics=diagnostics, extra=extra)
        self.warnings_note = note
        return self.warnings

    def section(self, heading: str, *blocks: str | None, level: int = 2) -> Section:
        sec = Section(heading, level=level).add(*blocks)
        self.sections.append(sec)
        return sec

    def free_energy(self, rows: list[dict], exact: float | None, *, heading: str = "Free energy −ln Z (nats)",
                    value: str = "−ln Z", before: Iterable[str] = (), after: Iterable[str] = ()) -> Section:
        """Every free-energy row (``value``, ``se``, ``kind``, ``estimator``; optional ``method``,
        ``kl_gap``, ``pareto_k``, ``sandwich_lower/upper``, ``wall_time_s``) with its error and z against
        ``exact``; optional columns appear where some row has them."""
        return self.section(heading, *before, free_energy_table(rows, exact, value), *after)

    def posterior(self, comparison: dict, reference_summary: dict, methods: Iterable[str], *,
                  heading: str = "Posterior against the reference", before: Iterable[str] = (),
                  after: Iterable[str] = ()) -> Section:
        """Per parameter: the reference mean ± sd and each method's mean (error in MCSE units), sd ratio;
        then each method's Wasserstein-1 distance to the reference
        (:func:`~physml.analyses.compare.posterior_comparison`'s output)."""
        methods = list(methods)
        labels = list(next(iter(comparison.values()))["posterior"]) if comparison else []
        rows = [[label, _reference_cell(reference_summary.get(label))]
                + [_posterior_cell(comparison[m]["posterior"].get(label)) for m in methods] for label in labels]
        sec = self.section(heading, *before)
        sec.table(["parameter", "reference mean ± sd"] + [f"{m}: mean (err/MCSE), sd ratio" for m in methods], rows)
        sec.add("Each cell: posterior mean (its error in MCSE units; within ±4 is agreement), and sd / reference "
                "sd (mean-field VI below 1 on a correlated posterior is the family's known shrinkage).")
        sec.table(["method", "Wasserstein-1 to reference (summed over the marginals, 500-draw subsamples)"],
                  [[m, fmt(c["wasserstein"], 3)] for m, c in comparison.items()])
        return sec.add(*after)

    def diagnostics(self, table: Mapping[str, Mapping], keys: list[str], *, heading: str = "Diagnostics") -> Section:
        """One row per fit: ``wall_time_s`` and the scalar diagnostics ``keys`` of ``table[fit]``."""
        rows = [[m, fmt(d.get("wall_time_s"), 3)] + [fmt(d.get(k)) for k in keys] for m, d in table.items()]
        return self.section(heading).table(["method", "time (s)"] + keys, rows)

    def figures(self, figures: Iterable[tuple[str, str | Path]], *, heading: str = "Figures") -> Section:
        """``(caption, relative path)`` pairs; an empty caption shows the path."""
        sec = self.section(heading)
        for caption, path in figures:
            sec.figure(path, caption or None)
        return sec

    def markdown(self) -> str:
        head = "\n\n".join([f"# {self.title}", *self.intro]) + "\n"
        parts = [head, warnings_markdown(self.warnings, note=self.warnings_note)]
        return "\n".join(parts + [s.markdown() for s in self.sections])

    def write(self, path: Path) -> Path:
        return write_text_atomic(path, self.markdown())

    def save(self, out_dir: Path, summary: dict, *, figures: Iterable[Path] | None = None,
             started: float | None = None) -> dict:
        """Write ``summary.json`` and ``report.md`` into ``out_dir``; with ``figures``, first list them (paths
        relative to ``out_dir``) in the summary and in a last Figures section; with ``started``
        (``time.perf_counter()`` at the start), record the run's ``wall_time_s``. Returns the summary."""
        out_dir = Path(out_dir)
        if figures is not None:
            summary["figures"] = [str(Path(p).relative_to(out_dir)) for p in figures]
            self.figures(("", p) for p in summary["figures"])
        if started is not None:
            summary["wall_time_s"] = time.perf_counter() - started
        write_json_atomic(out_dir / "summary.json", summary)
        self.write(out_dir / "report.md")
        return summary


def free_energy_table(rows: list[dict], exact: float | None, value: str = "−ln Z") -> str:
    """The free-energy table (see :meth:`Report.free_energy`); deterministic values (se = 0) to 10 digits."""
    def has(key):
        return any(r.get(key) is not None for r in rows)

    lead = ["method"] if has("method") else []
    trailing = [(name, cell) for key, name, cell in _OPTIONAL_COLUMNS if has(key)]
    header = lead + ["estimator", "kind", f"{value} ± se", "error vs exact", "error / se"] + [n for n, _ in trailing]
    body = []
    for r in rows:
        se = r.get("se")
        error, z = versus_exact(r["value"], se, exact)
        shown = pm_fmt(r["value"], se) if _positive(se) else fmt(r["value"], 10)
        body.append([r.get(k, "") for k in lead] + [r["estimator"], r["kind"], shown, fmt(error), fmt(z, 3)]
                    + [cell(r) for _, cell in trailing])
    return markdown_table(header, body)


_OPTIONAL_COLUMNS = [("kl_gap", VI_GAP, lambda r: fmt(r.get("kl_gap"))),
                     ("pareto_k", "Pareto k̂", lambda r: fmt(r.get("pareto_k"), 3)),
                     ("sandwich_lower", "BDMC sandwich", sandwich_text),
                     ("wall_time_s", "time (s)", lambda r: fmt(r.get("wall_time_s"), 3))]


def _positive(x) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def _reference_cell(r: dict | None) -> str:
    return "—" if r is None else f"{fmt(r['mean'])} ± {fmt(r['sd'], 3)}"


def _posterior_cell(c: dict | None) -> str:
    if c is None:
        return "—"
    if "sd_ratio" in c:
        return f"{fmt(c['mean'])} ({fmt(c['error_in_mcse'], 2)}), {fmt(c['sd_ratio'], 3)}"
    return f"{pm_fmt(c['mean'], c['mcse_mean'])}, sd {fmt(c['sd'], 3)}"
