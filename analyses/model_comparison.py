r"""Several models of the same data compared: Bayes factors from the evidence, PSIS-LOO from the NUTS fits.

Bayes factors (:mod:`.consensus`): per model the exact :math:`F = -\ln p(y)` where it is given, else the
consensus of its unflagged estimators; :math:`\ln \mathrm{BF}_{a:b} = F_b - F_a \pm \sqrt{\mathrm{se}_a^2 +
\mathrm{se}_b^2}`, flagged if either side is.

Predictive accuracy: PSIS-LOO-CV, :math:`\widehat{\mathrm{elpd}}_\mathrm{loo} = \sum_i \ln p(y_i \mid
y_{-i})` (Vehtari, Gelman & Gabry 2017), from each model's NUTS fit (its pointwise ``log_likelihood``
group) by ``arviz_stats.loo`` / ``arviz_stats.compare`` (ranks, elpd differences with their se, stacking
weights).  WAIC is not offered: ArviZ 1.x dropped it for PSIS-LOO, whose Pareto k̂ says when it fails.
The combined report (``report.md``, ``summary.json``) lies in ``out``, each model's own report in
``out/NAME/``.
"""

from __future__ import annotations

from pathlib import Path

import arviz_stats as azs
import xarray as xr

from ..inference.evidence.importance_sampling import KHAT_RELIABLE
from .common import fmt, markdown_table, pm_fmt
from .consensus import Consensus, bayes_factor_table, bayes_factors, model_evidence
from .report import Report

LOO_METHOD = "nuts"


def evidence_of(summary: dict):
    """The :class:`~.consensus.Evidence` of one model's summary (exact where given, else its consensus)."""
    comparison = summary["comparison"]
    consensus = comparison.get("free_energy_consensus")
    consensus = Consensus(**{**consensus, "used": tuple(consensus["used"])}) if consensus else None
    exact = summary["reference"]["free_energy"]
    if consensus is None and exact is None:
        consensus = Consensus(None, None, None, None, 0, None, None, (), "unreliable: no estimate")
    return model_evidence(consensus, exact)


def loo_rows(fits: dict[str, xr.DataTree]) -> tuple[list[dict], str | None]:
    """PSIS-LOO of every model's NUTS fit and ``arviz_stats.compare``'s ranking (rows, best first), or
    ``([], reason)`` where it cannot be computed."""
    if len(fits) < 2:
        return [], "LOO compares two or more models fitted by NUTS"
    names = {name: list(dt["log_likelihood"].data_vars) if "log_likelihood" in dt.children else [] for name, dt in fits.items()}
    if any(len(v) != 1 for v in names.values()):
        return [], f"LOO needs one pointwise log-likelihood variable per model, got {names}"
    loo = {name: azs.loo(dt) for name, dt in fits.items()}
    table = azs.compare(fits, round_to="none")
    rows = []
    for name, row in table.iterrows():
        k = loo[name].pareto_k
        rows.append({"model": name, "rank": int(row["rank"]), "elpd_loo": float(row["elpd"]), "se": float(row["se"]),
                     "p_loo": float(row["p"]), "elpd_diff": float(row["elpd_diff"]), "dse": float(row["dse"]),
                     "weight": float(row["weight"]), "max_pareto_k": float(k.max()),
                     "n_bad_k": int((k > loo[name].good_k).sum()), "good_k": float(loo[name].good_k)})
    return rows, None


def loo_table(rows: list[dict]) -> str:
    return markdown_table(["rank", "model", "elpd_loo ± se", "p_loo", "elpd_diff ± dse", "stacking weight", "max k̂"],
                          [[r["rank"], r["model"], pm_fmt(r["elpd_loo"], r["se"]), fmt(r["p_loo"], 3),
                            pm_fmt(r["elpd_diff"], r["dse"]) if r["dse"] > 0 else fmt(r["elpd_diff"]),
                            fmt(r["weight"], 3), fmt(r["max_pareto_k"], 3)] for r in rows])


def comparison_warnings(summaries: dict[str, dict], bf_rows: list[dict], loo: list[dict]) -> list[str]:
    out = [f"{name}: {w}" for name, s in summaries.items() for w in s["warnings"]]
    out += [f"**Bayes factor {r['a']} : {r['b']} is flagged**: the evidence of a side is flagged or missing"
            for r in bf_rows if r["flagged"]]
    out += [f"{r['model']}: PSIS-LOO has {r['n_bad_k']} observations with Pareto k̂ > {r['good_k']:.2f} "
            f"(max {r['max_pareto_k']:.2f}): its elpd is unreliable" for r in loo if r["n_bad_k"]]
    return out


def write_comparison(summaries: dict[str, dict], fits: dict[str, xr.DataTree], out_dir: Path) -> dict:
    """The combined report of several models (each already reported in ``out_dir/NAME``); returns its summary.

    ``fits``: {model: its NUTS fit} for LOO (models without one are left out of LOO)."""
    evidence = {name: evidence_of(s) for name, s in summaries.items()}
    bf_rows = bayes_factors(evidence)
    loo, loo_reason = loo_rows(fits)
    report = Report("Model comparison", "Several PyMC models of the same data compared by their evidence "
                    "(Bayes factors from the free-energy estimators) and by PSIS-LOO predictive accuracy. "
                    "Each model's own report: " + ", ".join(f"[{n}]({n}/report.md)" for n in summaries) + ".")
    warnings = report.check(extra=comparison_warnings(summaries, bf_rows, loo))
    report.section("Evidence per model", markdown_table(
        ["model", "−ln p(y) ± se (nats)", "from", "flagged"],
        [[n, pm_fmt(e.value, e.se) if e.se else fmt(e.value), e.source, "**yes**" if e.flagged else "no"]
         for n, e in evidence.items()]),
        "`consensus`: the inverse-variance weighted mean of the model's unflagged estimates (its own report "
        "shows each against it); `exact`: the value given as `reference`.")
    report.section("Bayes factors", "ln BF_a:b = ln p(y | a) − ln p(y | b) = F_b − F_a, se = √(se_a² + se_b²) "
                   "(independent fits); positive favours a. Flagged when either side's evidence is flagged.",
                   bayes_factor_table(bf_rows))
    report.section("PSIS-LOO (arviz_stats.compare on the NUTS fits)",
                   loo_table(loo) if loo else f"Not computed: {loo_reason}.",
                   "elpd_loo = Σ_i ln p(y_i | y_−i); elpd_diff against the best model with its se (dse); "
                   f"k̂ above {KHAT_RELIABLE} (or ArviZ's sample-size threshold) makes an observation's term "
                   "unreliable. WAIC is not shown: ArviZ 1.x replaced it by PSIS-LOO.")
    summary = {"models": {n: {"report": f"{n}/report.md", "free_energy": {"value": e.value, "se": e.se,
                                                                          "source": e.source, "flagged": e.flagged}}
                          for n, e in evidence.items()},
               "bayes_factors": bf_rows, "loo": loo, "loo_note": loo_reason, "warnings": warnings}
    report.save(out_dir, summary)
    return summary


def comparison_text(summary: dict, out_dir: Path | None) -> str:
    """What :func:`physml.compare` prints for several models: evidence, Bayes factors, LOO ranking."""
    lines = ["model evidence (−ln p(y), nats):"]
    for name, m in summary["models"].items():
        fe = m["free_energy"]
        lines.append(f"  {name:12s} {pm_fmt(fe['value'], fe['se']) if fe['se'] else fmt(fe['value'])}"
                     f"  ({fe['source']}{', FLAGGED' if fe['flagged'] else ''})")
    lines.append("Bayes factors (ln BF_a:b = F_b − F_a; > 0 favours a):")
    for r in summary["bayes_factors"]:
        shown = pm_fmt(r["ln_bf"], r["se"]) if r["se"] else fmt(r["ln_bf"])
        lines.append(f"  {r['a']} : {r['b']}  ln BF = {shown}{'  FLAGGED' if r['flagged'] else ''}")
    if summary["loo"]:
        lines.append("PSIS-LOO (best first): " + "; ".join(
            f"{r['model']} elpd {pm_fmt(r['elpd_loo'], r['se'])}" for r in summary["loo"]))
    if summary["warnings"]:
        lines.append(f"{len(summary['warnings'])} warnings (see the report)")
    if out_dir is not None:
        lines.append(f"report: {Path(out_dir) / 'report.md'}")
    return "\n".join(lines)
