r"""A model's free energy from several estimators without an exact value, and Bayes factors between models.

The **consensus** of the k unflagged estimates :math:`F_i \pm s_i` (kind ``estimate``, finite se > 0, no
``unreliable:`` / ``undefined:`` note) is their inverse-variance weighted mean

.. math:: \bar F = \frac{\sum_i w_i F_i}{\sum_i w_i}, \quad w_i = s_i^{-2}, \quad
          \mathrm{se}_0 = \Big(\sum_i w_i\Big)^{-1/2},

checked for consistency by :math:`\chi^2 = \sum_i w_i (F_i - \bar F)^2` on k − 1 degrees of freedom. Its se
is :math:`\mathrm{se}_0 \max(1, S)` with the Birge ratio :math:`S = \sqrt{\chi^2/(k-1)}` (the Particle Data
Group's scale factor: estimates that scatter more than their error bars widen the consensus's), and the
consensus flags itself ``unreliable:`` when :math:`P(\chi^2_{k-1} \ge \chi^2) <` ``CONSISTENCY_P`` (at
least one estimate is biased or has an optimistic se). A consensus of one estimate is that estimate (its
own self-checks only: the note says nothing cross-checks it).

Every estimate is shown against the consensus in units of the sd of the difference: an estimate in the
consensus is part of it, :math:`\mathrm{Var}(F_i - \bar F) = s_i^2 - \mathrm{se}_0^2` (independent
estimates), one outside it is not, :math:`s_i^2 + \mathrm{se}^2`.

The **Bayes factor** of model a over model b from their free energies :math:`F = -\ln p(y)`:

.. math:: \ln \mathrm{BF}_{a:b} = \ln p(y \mid a) - \ln p(y \mid b) = F_b - F_a, \qquad
          \mathrm{se} = \sqrt{\mathrm{se}_a^2 + \mathrm{se}_b^2}

(independent fits), from each model's consensus (or its exact value where it has one); flagged when
either side is flagged or missing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

from scipy import stats

from .common import fmt, markdown_table, pm_fmt
from .warnings import UNDEFINED_PREFIX, UNRELIABLE_PREFIX

#: the consensus flags itself when its estimates disagree at this χ² tail probability or below
CONSISTENCY_P = 1e-3


@dataclass(frozen=True)
class Consensus:
    """The inverse-variance weighted consensus of a model's unflagged free-energy estimates (nats)."""

    value: float | None
    se: float | None
    se_ivw: float | None
    chi2: float | None
    dof: int
    birge_ratio: float | None
    p_value: float | None
    used: tuple[str, ...]
    note: str

    @property
    def flagged(self) -> bool:
        return self.value is None or self.note.startswith((UNRELIABLE_PREFIX, UNDEFINED_PREFIX))

    def to_dict(self) -> dict:
        return {**asdict(self), "used": list(self.used)}


def row_label(row: dict) -> str:
    """``method / estimator`` of a free-energy row."""
    return f"{row['method']} / {row['estimator']}" if row.get("method") else row["estimator"]


def is_usable(row: dict) -> bool:
    """An unflagged estimate with a finite value and a finite se > 0 (bounds and exact rows are not estimates)."""
    se, value = row.get("se"), row.get("value")
    return (row.get("kind") == "estimate" and not str(row.get("note", "")).startswith((UNRELIABLE_PREFIX, UNDEFINED_PREFIX))
            and value is not None and math.isfinite(value) and se is not None and math.isfinite(se) and se > 0)


def consensus_free_energy(rows: list[dict]) -> Consensus:
    """The consensus of ``rows`` (free-energy rows: ``value``, ``se``, ``kind``, ``note``, ``estimator``,
    optional ``method``); see the module docstring."""
    used = [r for r in rows if is_usable(r)]
    labels = tuple(row_label(r) for r in used)
    if not used:
        return Consensus(None, None, None, None, 0, None, None, (), "unreliable: no unflagged estimate to combine")
    weights = [1.0 / r["se"] ** 2 for r in used]
    total = sum(weights)
    value = sum(w * r["value"] for w, r in zip(weights, used)) / total
    se_ivw = total ** -0.5
    dof = len(used) - 1
    chi2 = sum(w * (r["value"] - value) ** 2 for w, r in zip(weights, used))
    if dof == 0:
        return Consensus(value, se_ivw, se_ivw, chi2, 0, None, None, labels,
                         f"one unflagged estimate ({labels[0]}): no other estimator cross-checks it")
    birge = math.sqrt(chi2 / dof)
    p = float(stats.chi2.sf(chi2, dof))
    note = (f"inverse-variance weighted mean of {len(used)} estimates, χ² = {chi2:.3g} on {dof} dof "
            f"(p = {p:.3g}), se × {max(1.0, birge):.3g} (Birge ratio)")
    if p < CONSISTENCY_P:
        note = f"unreliable: the estimates disagree beyond their error bars ({note})"
    return Consensus(value, se_ivw * max(1.0, birge), se_ivw, chi2, dof, birge, p, labels, note)


def versus_consensus(rows: list[dict], consensus: Consensus) -> list[dict]:
    """``rows`` with ``in_consensus``, ``vs_consensus`` (F − F̄) and ``vs_consensus_in_se`` (see the module)."""
    out = []
    for r in rows:
        row = {**r, "in_consensus": row_label(r) in consensus.used, "vs_consensus": None, "vs_consensus_in_se": None}
        if consensus.value is not None and r.get("value") is not None and math.isfinite(r["value"]):
            row["vs_consensus"] = r["value"] - consensus.value
            se = r.get("se")
            if se is not None and math.isfinite(se) and se > 0:
                var = se ** 2 - consensus.se_ivw ** 2 if row["in_consensus"] else se ** 2 + consensus.se ** 2
                row["vs_consensus_in_se"] = row["vs_consensus"] / math.sqrt(var) if var > 0 else None
        out.append(row)
    return out


def consensus_table(rows: list[dict]) -> str:
    """Every free-energy row against the consensus (rows from :func:`versus_consensus`)."""
    body = [[r.get("method", ""), r["estimator"], r["kind"],
             pm_fmt(r["value"], r["se"]) if r.get("se") and math.isfinite(r["se"]) else fmt(r["value"], 10),
             "yes" if r["in_consensus"] else "no", fmt(r["vs_consensus"]), fmt(r["vs_consensus_in_se"], 3),
             fmt(r.get("wall_time_s"), 3)] for r in rows]
    return markdown_table(["method", "estimator", "kind", "−ln p(y) ± se", "in consensus",
                           "F − consensus", "(F − consensus) / se", "time (s)"], body)


def consensus_lines(consensus: Consensus) -> list[str]:
    """The paragraphs a report shows above the consensus table."""
    if consensus.value is None:
        return ["No unflagged estimate: **no consensus**, so nothing here can be checked."]
    head = f"Consensus (inverse-variance weighted, unflagged estimates): **{pm_fmt(consensus.value, consensus.se)}** nats"
    return [f"{head} from {', '.join(consensus.used)}; {consensus.note}.",
            "`(F − consensus) / se` is the difference in units of its own sd (√(se² − se_consensus²) for an estimate "
            "inside the consensus, √(se² + se_consensus²) for one outside): within ±4 is agreement. "
            "Flagged (`unreliable:`) estimates and bounds are not in the consensus; for −ELBO (an upper bound) "
            "F − consensus estimates KL(q‖p) ≥ 0."]


@dataclass(frozen=True)
class Evidence:
    """What a Bayes factor uses for one model: −ln p(y) ± se, where it came from, and whether it is flagged."""

    value: float | None
    se: float | None
    source: str
    flagged: bool


def model_evidence(consensus: Consensus, exact: float | None) -> Evidence:
    """The exact −ln p(y) where known, else the consensus of the unflagged estimators."""
    if exact is not None:
        return Evidence(exact, 0.0, "exact", False)
    return Evidence(consensus.value, consensus.se, "consensus", consensus.flagged)


def bayes_factors(evidence: dict[str, Evidence]) -> list[dict]:
    """One row per pair (a before b): ln BF_{a:b} = F_b − F_a ± √(se_a² + se_b²), flagged if a side is."""
    rows = []
    for a, b in itertools.combinations(evidence, 2):
        ea, eb = evidence[a], evidence[b]
        row = {"a": a, "b": b, "flagged": ea.flagged or eb.flagged, "sources": [ea.source, eb.source],
               "ln_bf": None, "se": None}
        if ea.value is not None and eb.value is not None:
            row["ln_bf"] = eb.value - ea.value
            row["se"] = math.hypot(ea.se, eb.se)
        rows.append(row)
    return rows


def bayes_factor_table(rows: list[dict]) -> str:
    """The Bayes-factor table of a comparison report."""
    body = [[f"{r['a']} : {r['b']}", pm_fmt(r["ln_bf"], r["se"]) if r["se"] else fmt(r["ln_bf"]),
             fmt(math.exp(r["ln_bf"]) if r["ln_bf"] is not None and abs(r["ln_bf"]) < 700 else None, 3),
             _favours(r), " / ".join(r["sources"]), "**yes**" if r["flagged"] else "no"] for r in rows]
    return markdown_table(["models a : b", "ln BF = F_b − F_a ± se", "BF", "favours", "from", "flagged"], body)


def _favours(row: dict) -> str:
    if row["ln_bf"] is None:
        return "—"
    if row["se"] and abs(row["ln_bf"]) < 2 * row["se"]:
        return "neither (|ln BF| < 2 se)"
    return row["a"] if row["ln_bf"] > 0 else row["b"]


def consensus_warnings(rows: list[dict], consensus: Consensus, z_max: float = 4.0) -> list[str]:
    """Warnings lines: a flagged consensus, every estimate more than ``z_max`` sd from it, and every bound on
    the wrong side of it by more than ``z_max`` sd (−ELBO above the consensus is its KL gap, not an error)."""
    out = [f"free-energy consensus: {consensus.note}"] if consensus.flagged else []
    for r in rows:
        z = r.get("vs_consensus_in_se")
        wrong = {"estimate": z is not None and abs(z) > z_max, "upper_bound": z is not None and z < -z_max,
                 "lower_bound": z is not None and z > z_max}.get(r.get("kind"), False)
        if wrong:
            what = "the consensus of the other estimators" if r["kind"] == "estimate" else f"the consensus ({r['kind']} on the wrong side)"
            out.append(f"**{row_label(r)}: {z:+.1f} se from {what}** "
                       f"(F = {pm_fmt(r['value'], r['se'])}, consensus {pm_fmt(consensus.value, consensus.se)})")
    return out
