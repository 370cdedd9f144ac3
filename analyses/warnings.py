r"""The **Warnings** section of every report: one rule set, one implementation.

A number is listed as a reason for distrust when

- its free-energy record's note starts with ``unreliable:`` (the estimator detected its own failure)
  or ``undefined:`` (it refused to give a number: the evidence of an improper prior is undefined);
- it is more than 4 se from the exact value: :math:`|\hat F - F| > 4\,\mathrm{se}` for kind ``estimate``;
  for a bound, the wrong side by more than 4 se (:math:`\hat F_\mathrm{upper} < F - 4\,\mathrm{se}`,
  :math:`\hat F_\mathrm{lower} > F + 4\,\mathrm{se}`; the gap on the right side of a bound is the
  approximation's error, e.g. KL(q‖p) for −ELBO, and is shown in the free-energy table instead);
- its fit did not converge (``converged`` false: VI, naive mean field, belief propagation);
- :math:`\hat R > 1.01` (Vehtari et al. 2021);
- its bulk or tail ESS is below 100 per chain (ArviZ's rule of thumb, 400 for 4 chains);
- its sampler reported divergent transitions;
- the variational fit's Pareto :math:`\hat k > 0.7` as an importance proposal (Yao et al. 2018).

A record with se = 0 is a deterministic approximation (mean field, Bethe): its distance from the exact
value is that approximation's error, not Monte Carlo error, so only a bound on the wrong side of the
exact value (beyond float rounding) is a warning.

The records are read from the groups every fit DataTree carries (``diagnostics``, ``free_energy``;
see :mod:`physml.inference.records`); results that are not fit DataTrees (spin TI/AIS, mean-field and
Bethe free energies, RBM AIS) are passed as labelled :class:`~physml.inference.FreeEnergy` records or
plain diagnostics dicts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

import xarray as xr

from ..inference import FreeEnergy, diagnostics as read_diagnostics, free_energies
from ..inference.evidence.importance_sampling import KHAT_RELIABLE
from .common import fmt, pm_fmt
from .compare import versus_exact

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
ESS_DEFAULT_CHAINS = 4  # when the number of chains is unknown: ArviZ's 400 (100 per chain for 4 chains)
Z_MAX = 4.0
UNRELIABLE_PREFIX = "unreliable:"
UNDEFINED_PREFIX = "undefined:"
ROUNDING = 1e-9  # relative float tolerance for a deterministic (se = 0) bound

CHECKED = (f"checked: `{UNRELIABLE_PREFIX}` self-checks of every free-energy record; every estimate against "
           f"the exact value (within {Z_MAX:g} se) where one exists; convergence of every VI / mean-field / BP "
           f"fit; R-hat ≤ {RHAT_MAX}; bulk and tail ESS ≥ {ESS_PER_CHAIN_MIN} per chain; no divergences; "
           f"Pareto k̂ ≤ {KHAT_RELIABLE}")


def _finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def diagnostic_warnings(label: str, diag: Mapping) -> list[str]:
    """Warnings from one fit's scalar diagnostics (``converged``, ``stop_reason``, ``max_rhat``,
    ``min_ess_bulk``, ``min_ess_tail``, ``divergences``, ``pareto_k``; absent keys are not checked).

    ``diag["n_chains"]`` (4 if absent) sets the ESS floor, 100 per chain.
    """
    out = []
    if "converged" in diag and not diag["converged"]:
        out.append(f"**{label} did NOT converge** ({diag.get('stop_reason') or 'no stop reason recorded'}): "
                   "its numbers are optimisation error, not the approximating family's error")
    rhat = diag.get("max_rhat")
    if _finite(rhat) and rhat > RHAT_MAX:
        out.append(f"{label}: R-hat {rhat:.3f} > {RHAT_MAX} (chains disagree)")
    chains = diag.get("n_chains") or ESS_DEFAULT_CHAINS
    floor = ESS_PER_CHAIN_MIN * int(chains)
    for key, kind in (("min_ess_bulk", "bulk"), ("min_ess_tail", "tail")):
        ess = diag.get(key)
        if _finite(ess) and ess < floor:
            out.append(f"{label}: {kind} ESS {ess:.0f} < {floor} ({ESS_PER_CHAIN_MIN} per chain × {chains} chains)")
    div = diag.get("divergences")
    if _finite(div) and div > 0:
        out.append(f"{label}: {int(div)} divergent transitions (the sampler missed part of the posterior)")
    k = diag.get("pareto_k")
    if _finite(k) and k > KHAT_RELIABLE:
        out.append(f"**{label} cannot be trusted as an importance proposal**: Pareto k̂ = {k:.2f} > {KHAT_RELIABLE} "
                   "(Yao et al. 2018), so q misses mass that p has; its importance-sampling evidence is unreliable")
    return out


def free_energy_warnings(label: str, record: FreeEnergy, exact: float | None = None) -> list[str]:
    """Warnings about one free-energy record: its own ``unreliable:`` note, and its distance from
    ``exact`` in se units (see the module docstring for bounds and se = 0)."""
    name = f"{label} / {record.estimator}"
    out = []
    if record.note.startswith((UNRELIABLE_PREFIX, UNDEFINED_PREFIX)):
        out.append(f"{name}: {record.note}")
    if exact is None or not math.isfinite(exact) or not math.isfinite(record.value) or record.kind == "exact":
        return out
    se = record.se if math.isfinite(record.se) else float("nan")
    if record.kind == "estimate" and not math.isfinite(se):
        out.append(f"{name}: no finite se ({record.value:.6g}), so it cannot be checked against the exact "
                   f"value {fmt(exact, 7)}")
        return out
    error, z = versus_exact(record.value, se, exact)
    slack = (Z_MAX * se if se > 0 else 0.0) + ROUNDING * max(1.0, abs(exact))
    shown = f"F = {pm_fmt(record.value, se)} against the exact {fmt(exact, 7)}"
    if record.kind == "upper_bound" and error < -slack:
        out.append(f"**{name}: upper bound below the exact value** ({shown}, {fmt(error, 3)} nats"
                   + (f", {z:.1f} se)" if se > 0 else ")"))
    elif record.kind == "lower_bound" and error > slack:
        out.append(f"**{name}: lower bound above the exact value** ({shown}, {fmt(error, 3)} nats"
                   + (f", {z:.1f} se)" if se > 0 else ")"))
    elif record.kind == "estimate" and se > 0 and abs(error) > Z_MAX * se:
        out.append(f"**{name}: {z:+.1f} se from the exact value** ({shown}, error "
                   f"{fmt(error, 3)} nats): its error bar is optimistic or the estimate is biased")
    return out


def fit_diagnostics(dt: xr.DataTree) -> dict:
    """A fit's ``diagnostics`` group as a dict, with ``n_chains`` (from its posterior) if the group lacks it."""
    diag = read_diagnostics(dt)
    if "n_chains" not in diag and "posterior" in dt.children and "chain" in dt["posterior"].sizes:
        diag["n_chains"] = int(dt["posterior"].sizes["chain"])
    return diag


def collect_warnings(fits: Mapping[str, xr.DataTree] | None = None, *, exact_free_energy: float | None = None,
                     records: Iterable[tuple[str, FreeEnergy]] = (), diagnostics: Mapping[str, Mapping] | None = None,
                     extra: Iterable[str] = ()) -> list[str]:
    """Every warning of one report, in order: fits, plain diagnostics, plain records, ``extra``.

    ``fits``: {label: fit DataTree}; its diagnostics are checked and its free-energy records compared
    with ``exact_free_energy``. ``records``: (label, FreeEnergy) pairs not stored in a fit (or a fit's
    records converted to the report's scale), also compared with ``exact_free_energy``.
    ``diagnostics``: {label: diagnostics dict} of fits whose DataTree is not kept or does not exist
    (mean field, belief propagation; :func:`fit_diagnostics` of a DataTree). ``extra``: lines the report
    adds as they are (e.g. :func:`free_energy_warnings` against another exact value).
    """
    out = []
    for label, dt in (fits or {}).items():
        out += diagnostic_warnings(label, fit_diagnostics(dt))
        out += [w for rec in free_energies(dt) for w in free_energy_warnings(label, rec, exact_free_energy)]
    for label, diag in (diagnostics or {}).items():
        out += diagnostic_warnings(label, diag)
    for label, rec in records:
        out += free_energy_warnings(label, rec, exact_free_energy)
    return out + list(extra)


def warnings_markdown(lines: list[str], note: str = "") -> str:
    """The report's ``## Warnings`` section: one bullet per warning, or "none" with what was checked."""
    body = [f"- {w}" for w in lines] if lines else [f"- none ({CHECKED})"]
    return "\n".join(["## Warnings", "", *([note, ""] if note else []), *body, ""])
