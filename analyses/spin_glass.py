r"""``physml run spin_glass``: the Sherrington–Kirkpatrick model by enumeration, parallel tempering and theory.

.. math:: P(s) \propto e^{\beta\sum_{i<j} J_{ij}s_is_j + \beta h\sum_i s_i}, \quad J_{ij}\sim\mathcal N(0, 1/N),

What it fits: parallel tempering (heat bath in each replica, adapted ladder from β = 0) on one sample against
enumeration (−ln Z by stepping stone and BAR, ⟨−βH⟩/N, ⟨|m|⟩); the overlap distribution P(q) of two
independent PT chains at several T against the exact P(q) (Walsh–Hadamard, :mod:`physml.models.sk`); the
quenched average E_J ln Z / N over samples at T > 1 for growing N against the annealed
:math:`\ln 2 + \beta^2/4` (and its finite-N form); the replica-symmetric solution with its negative
zero-temperature entropy −1/(2π); the ground-state energy e₀ extrapolated in N^(−2/3) against Parisi's −0.7633
(:mod:`.spin_glass_ground_state`); the Binder ratio and q_EA(T) over N (:mod:`.spin_glass_order`); naive mean
field vs TAP vs MCMC magnetisations in a field (:mod:`.spin_glass_tap`). What it plots: P(q) exact vs PT; the
annealed convergence in 1/N; the e₀ extrapolation; g(T) and q_EA(T); MF / TAP / PT against exact ⟨s_i⟩.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..inference.fit import fit
from ..inference.records import diagnostics, free_energies
from ..models import sk
from .common import Progress, fmt, pm_fmt, save_datatree_atomic, save_figure_atomic
from .compare import versus_exact
from .report import Report
from .settings import check_memory, check_methods, merge_settings
from .spin_glass_ground_state import ground_state_figure, ground_state_section, ground_state_study, \
    ground_state_warnings
from .spin_glass_order import order_figure, order_section, order_study, order_warnings
from .spin_glass_tap import tap_figure, tap_section, tap_study, tap_warnings

DEFAULTS = {"n": 14, "T": 0.5, "h": 0.0, "sample_seed": 0, "draws": 0, "chains": 4, "n_replicas": 10,
            "instances": 0, "n_max_annealed": 0, "e0_samples": 0, "order_samples": 0, "tap_n": 0, "tap_h": 0.3}
METHODS = ("parallel_tempering",)
Q_TEMPERATURES = (0.4, 0.7, 1.0, 1.5)
ANNEALED_TEMPERATURES = (1.5, 2.0)


def _validate(settings: dict, methods, data) -> dict:
    if data:
        raise ValueError("the spin_glass analysis takes no data file (data must be empty)")
    s = merge_settings(DEFAULTS, settings)
    if not (2 <= s["n"] <= 20):
        raise ValueError(f"setting n must be in [2, 20] (enumeration), got {s['n']}")
    sk.SKSpec(n=s["n"], T=float(s["T"]), h=float(s["h"]), sample_seed=s["sample_seed"])
    for key, lo in (("draws", 0), ("chains", 2), ("n_replicas", 2), ("instances", 0), ("e0_samples", 0),
                    ("order_samples", 0)):
        if s[key] < lo:
            raise ValueError(f"setting {key} must be >= {lo}, got {s[key]}")
    if s["n_max_annealed"] and not (6 <= s["n_max_annealed"] <= 20):
        raise ValueError(f"setting n_max_annealed must be 0 (default) or in [6, 20], got {s['n_max_annealed']}")
    if s["e0_samples"] == 1 or s["order_samples"] == 1:
        raise ValueError("settings e0_samples and order_samples must be 0 (default) or >= 2")
    if s["tap_n"] and not (4 <= s["tap_n"] <= 20):
        raise ValueError(f"setting tap_n must be 0 (default) or in [4, 20] (enumeration), got {s['tap_n']}")
    sk.SKSpec(n=max(s["tap_n"], 2), h=float(s["tap_h"]))
    check_methods(list(methods or METHODS), allowed=METHODS)
    return s


def _sizes(s: dict, quick: bool) -> dict:
    n_max = s["n_max_annealed"] or (10 if quick else 16)
    return {"draws": s["draws"] or (600 if quick else 2000), "instances": s["instances"] or (6 if quick else 24),
            "annealed_sizes": list(range(4, n_max + 1, 2)),
            "e0_sizes": [16, 24, 32, 48] if quick else [32, 48, 64, 96, 128],
            "e0_samples": s["e0_samples"] or (8 if quick else 32),
            "order_sizes": [8, 16] if quick else [16, 32, 64], "order_samples": s["order_samples"] or (6 if quick else 24),
            "order_sweeps": 300 if quick else 1000, "tap_n": s["tap_n"] or (10 if quick else 16),
            "tap_sweeps": 2000 if quick else 20000}


def _pt(spec: sk.SKSpec, s: dict, draws: int, seed: int):
    return fit(sk.sk_model(spec), "parallel_tempering", draws=draws, tune=max(200, draws // 2), chains=s["chains"],
               seed=seed, n_replicas=s["n_replicas"], free_energy=())


def _versus_enumeration(spec: sk.SKSpec, s: dict, draws: int, seed: int, out_dir: Path) -> tuple[dict, object]:
    """PT on one sample against enumeration: free energies, ⟨ℓ⟩/N, ⟨|m|⟩."""
    import arviz_stats as azs

    exact = sk.enumerate_sk(sk.sk_couplings(spec))
    dt = _pt(spec, s, draws, seed)
    save_datatree_atomic(dt, out_dir / "parallel_tempering.nc")
    rows = []
    for r in free_energies(dt):
        err, z = versus_exact(r.value, r.se, -exact["log_z"])
        rows.append({"estimator": r.estimator, "value": r.value, "se": r.se, "error": err, "z": z, "note": r.note})
    e = dt.posterior["reduced_energy"].values
    e_mcse = float(azs.mcse(e, method="mean"))
    e_err, e_z = versus_exact(float(e.mean()), e_mcse, -exact["log_weight_per_spin"])
    d = diagnostics(dt)
    keep = ("round_trips", "round_trip_time_sweeps", "min_swap_acceptance", "max_swap_acceptance", "max_rhat")
    return {"exact_free_energy": -exact["log_z"], "free_energy": rows,
            "reduced_energy": {"value": float(e.mean()), "mcse": e_mcse, "exact": -exact["log_weight_per_spin"],
                               "error": e_err, "z": e_z},
            "ladder": [float(b) for b in dt["ladder"]["beta"].values],
            "swap_acceptance": [float(a) for a in dt["ladder"]["swap_acceptance"].values],
            "diagnostics": {k: d.get(k) for k in keep}}, dt


def _overlaps(dt) -> np.ndarray:
    """q = s^a·s^b / N between chains (0, 1), (2, 3), … at the same draw (independent replicas)."""
    spins = dt.posterior["spins"].values.astype(float)
    pairs = [(a, a + 1) for a in range(0, spins.shape[0] - 1, 2)]
    return np.stack([np.mean(spins[a] * spins[b], axis=-1) for a, b in pairs])


def _overlap_distributions(s: dict, draws: int, seed: int) -> list[dict]:
    import arviz_stats as azs

    out = []
    for i, T in enumerate(Q_TEMPERATURES):
        spec = sk.SKSpec(n=s["n"], T=T, h=0.0, sample_seed=s["sample_seed"])
        exact = sk.enumerate_sk(sk.sk_couplings(spec))
        q = _overlaps(_pt(spec, s, draws, seed + 100 + i))
        q2_exact = float(exact["p_q"] @ exact["q"] ** 2)
        q4_exact = float(exact["p_q"] @ exact["q"] ** 4)
        q2, q2_mcse = float((q ** 2).mean()), float(azs.mcse(q ** 2, method="mean"))
        edges = np.concatenate([exact["q"] - 1.0 / s["n"], [1.0 + 1.0 / s["n"]]])
        hist = np.histogram(q.ravel(), bins=edges)[0] / q.size
        out.append({"T": T, "q": exact["q"].tolist(), "p_q_exact": exact["p_q"].tolist(), "p_q_pt": hist.tolist(),
                    "q2_exact": q2_exact, "q2": q2, "q2_mcse": q2_mcse, "chi_sg_exact": s["n"] * q2_exact,
                    "binder_exact": 0.5 * (3.0 - q4_exact / q2_exact ** 2),
                    "q2_z": versus_exact(q2, q2_mcse, q2_exact)[1], "rs_q": sk.replica_symmetric(T)["q"]})
    return out


def _annealed(s: dict, size: dict) -> list[dict]:
    """E_J ln Z / N over ``instances`` samples per N at T > 1 against the annealed values."""
    out = []
    for T in ANNEALED_TEMPERATURES:
        beta = 1.0 / T
        for n in size["annealed_sizes"]:
            vals = np.array([sk.enumerate_sk(sk.sk_couplings(sk.SKSpec(n=n, T=T, sample_seed=1000 * n + k)))["log_z"]
                             for k in range(size["instances"])]) / n
            out.append({"T": T, "n": n, "mean": float(vals.mean()), "se": float(vals.std(ddof=1) / math.sqrt(vals.size)),
                        "annealed_finite_n": sk.annealed_log_partition_finite(n, beta),
                        "annealed_limit": sk.annealed_log_partition_per_spin(beta)})
    return out


def _replica_symmetric() -> list[dict]:
    rows = [{"T": T, **sk.replica_symmetric(T)} for T in (1.5, 1.0, 0.7, 0.5, 0.3, 0.1, 0.03, 0.01)]
    return rows


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s = _validate(settings, methods, data)
    size = _sizes(s, quick)
    check_memory({"enumeration": 2 ** max(s["n"], max(size["annealed_sizes"])) * 8 * 6})
    out_dir, log, t_start = Path(out_dir), Progress("spin_glass", progress), time.perf_counter()
    spec = sk.SKSpec(n=s["n"], T=float(s["T"]), h=float(s["h"]), sample_seed=s["sample_seed"])
    log("parallel tempering vs enumeration")
    versus, dt = _versus_enumeration(spec, s, size["draws"], seed, out_dir)
    log("overlap distributions")
    overlaps = _overlap_distributions(s, size["draws"], seed)
    log("annealed limit")
    annealed = _annealed(s, size)
    rs = _replica_symmetric()
    log("ground states")
    e0 = ground_state_study(size["e0_sizes"], size["e0_samples"], seed)
    log("order parameter and Binder ratio")
    order = order_study(size["order_sizes"], size["order_samples"], seed, sweeps=size["order_sweeps"])
    log("mean field vs TAP vs MCMC")
    taps = tap_study(size["tap_n"], float(s["tap_h"]), s["sample_seed"], size["tap_sweeps"], seed)
    report = Report("Sherrington–Kirkpatrick spin glass",
                    f"One sample at N = {spec.n}, T = {spec.T}, h = {spec.h} (coupling seed {spec.sample_seed}); "
                    "parallel tempering (heat bath per replica) against exact enumeration.")
    warnings = report.check({"parallel_tempering": dt}, exact_free_energy=versus["exact_free_energy"],
                            extra=_extra_warnings(versus, overlaps) + ground_state_warnings(e0)
                            + order_warnings(order) + tap_warnings(taps))
    fig_dir = out_dir / "figures"
    figs = _figures(fig_dir, overlaps, annealed) + [ground_state_figure(fig_dir, e0), order_figure(fig_dir, order),
                                                     tap_figure(fig_dir, taps)]
    summary = {"model": "spin_glass", "settings": {**s, **size, "quick": quick, "seed": seed},
               "versus_enumeration": versus, "overlaps": overlaps, "annealed": annealed,
               "replica_symmetric": rs, "ground_state": e0, "order": order, "tap": taps, "warnings": warnings}
    _sections(report, summary)
    log("done")
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _extra_warnings(versus: dict, overlaps: list[dict]) -> list[str]:
    out = []
    if versus["reduced_energy"]["z"] is not None and abs(versus["reduced_energy"]["z"]) > 4:
        out.append(f"**PT ⟨−βH⟩/N** off the exact value by {versus['reduced_energy']['z']:+.1f} MCSE")
    out += [f"**PT ⟨q²⟩ at T = {o['T']}** off the exact value by {o['q2_z']:+.1f} MCSE" for o in overlaps
            if o["q2_z"] is not None and abs(o["q2_z"]) > 4]
    return out


def _sections(report: Report, summary: dict) -> None:
    v = summary["versus_enumeration"]
    sec = report.section("Parallel tempering against enumeration")
    sec.table(["estimator", "−ln Z", "exact", "error", "z", "note"],
              [[r["estimator"], pm_fmt(r["value"], r["se"]), fmt(v["exact_free_energy"]), fmt(r["error"], 3),
                fmt(r["z"], 2), r["note"]] for r in v["free_energy"]])
    e = v["reduced_energy"]
    sec.add(f"⟨−βH⟩/N = {pm_fmt(e['value'], e['mcse'])} against exact {fmt(e['exact'])} (z = {fmt(e['z'], 2)}). "
            f"Ladder (constant-acceptance adapted): β = {', '.join(fmt(b, 3) for b in v['ladder'])}; swap acceptance "
            f"{', '.join(fmt(a, 2) for a in v['swap_acceptance'])}; round trips {v['diagnostics']['round_trips']}, "
            f"round-trip time {fmt(v['diagnostics']['round_trip_time_sweeps'], 3)} sweeps.")
    report.section("Overlap distribution P(q) (two independent PT chains)").table(
        ["T", "⟨q²⟩ exact", "⟨q²⟩ PT", "z", "χ_SG = N⟨q²⟩ (exact)", "Binder g (exact)", "RS q_EA (N → ∞)"],
        [[o["T"], fmt(o["q2_exact"]), pm_fmt(o["q2"], o["q2_mcse"]), fmt(o["q2_z"], 2), fmt(o["chi_sg_exact"]),
          fmt(o["binder_exact"]), fmt(o["rs_q"])]
         for o in summary["overlaps"]]).add(
        "Above T = 1 P(q) is centred at 0 with width ~N^{-1/2}; below it broadens towards ±q_EA with weight at "
        "small |q| (Parisi), where RS predicts single peaks at ±q_EA.")
    report.section("Annealed limit above T = 1 (E_J ln Z / N over samples)").table(
        ["T", "N", "E_J ln Z/N", "annealed (finite N)", "ln 2 + β²/4"],
        [[a["T"], a["n"], pm_fmt(a["mean"], a["se"]), fmt(a["annealed_finite_n"]), fmt(a["annealed_limit"])]
         for a in summary["annealed"]])
    report.section("Replica-symmetric solution (SK 1975)").table(
        ["T", "q", "−βf", "u", "s"], [[r["T"], fmt(r["q"]), fmt(r["minus_beta_f"]), fmt(r["energy"]),
                                       fmt(r["entropy"])] for r in summary["replica_symmetric"]]).add(
        f"As T → 0 the RS entropy tends to −1/(2π) = {fmt(sk.RS_ZERO_T_ENTROPY)} < 0 and the energy to "
        f"−√(2/π) = {fmt(sk.RS_ZERO_T_ENERGY)}, below Parisi's e₀ = {sk.PARISI_GROUND_STATE_ENERGY}: RS fails.")
    ground_state_section(report, summary["ground_state"])
    order_section(report, summary["order"])
    tap_section(report, summary["tap"])


def _figures(fig_dir: Path, overlaps: list[dict], annealed: list[dict]) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(overlaps), figsize=(3.2 * len(overlaps), 3), sharey=True)
    for ax, o in zip(np.atleast_1d(axes), overlaps):
        q = np.asarray(o["q"])
        ax.bar(q, o["p_q_exact"], width=1.6 / len(q), alpha=0.5, label="exact")
        ax.plot(q, o["p_q_pt"], "o", ms=3, color="k", label="PT")
        ax.set_title(f"T = {o['T']}")
        ax.set_xlabel("q")
    np.atleast_1d(axes)[0].legend()
    paths = [save_figure_atomic(fig, fig_dir / "overlap_distribution.png")]
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for T in ANNEALED_TEMPERATURES:
        rows = [a for a in annealed if a["T"] == T]
        x = [1.0 / a["n"] for a in rows]
        ax.errorbar(x, [a["mean"] for a in rows], [a["se"] for a in rows], fmt="o", label=f"T = {T}: E_J ln Z/N")
        ax.plot(x, [a["annealed_finite_n"] for a in rows], "--", label=f"T = {T}: annealed, finite N")
        ax.axhline(rows[0]["annealed_limit"], color="grey", lw=0.8)
    ax.set_xlabel("1/N")
    ax.legend(fontsize=7)
    paths.append(save_figure_atomic(fig, fig_dir / "annealed_convergence.png"))
    plt.close(fig)
    return paths
