r"""``physml run hopfield``: zero-temperature retrieval in the Hopfield network against Amit–Gutfreund–Sompolinsky.

.. math:: J = \tfrac1N\sum_{\mu\le P}\xi^\mu\xi^{\mu\top}\ (J_{ii}=0),\quad \alpha = P/N,\quad
          m = \tfrac1N\,\xi^1\cdot s^\ast,

where :math:`s^\ast` is the fixed point of asynchronous T = 0 dynamics started at the pattern
(:func:`~physml.inference.spins.dense_heat_bath.zero_temperature_descent`).

What it measures, per size N and pattern set (patterns nested in α: the first P of one set, so J grows by
rank-k updates): the retrieval overlap m(α) of ``retrievals`` patterns, mean ± se over sets, against the
AGS replica-symmetric curve :func:`~physml.models.hopfield.ags_retrieval_overlap`; the fraction of runs
that retrieve (m ≥ ``threshold``), its half-way crossing α_c(N) (linear interpolation; se by bootstrap
over pattern sets) and the extrapolation α_c(N) = α_c(∞) + a N^{−1/2} (weighted least squares, se by the
same bootstrap) against 0.138; basins of attraction (retrieval probability vs initial overlap) and the
energies of the spurious symmetric 3-mixtures vs the patterns' at the largest N; the T–α phase diagram: the
RS retrieval boundary T_M(α) (:func:`~physml.models.hopfield.ags_retrieval_temperature`) with heat-bath
overlaps (:class:`~physml.inference.spins.dense_heat_bath.DenseHeatBathKernel`) at (α, T) points beside the
finite-T RS overlap. Figures in :mod:`.hopfield_figures`.

Sizes: N = 250, 500, 1000 and 12 pattern sets by default (≈ 1 min on 2 shared cores); ``--quick`` N = 200, 400,
800 and 6 sets (≈ 15 s); more with ``--set sizes=250,500,1000,2000 --set sets=16``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..inference.spins.dense_heat_bath import DenseHeatBathKernel, descend_many, zero_temperature_descent
from ..inference.spins.kernel import with_ghost
from ..models import hopfield as hop
from .common import Progress, fmt, pm_fmt
from .report import Report
from .settings import check_memory, check_methods, merge_settings

DEFAULTS = {"sizes": "250,500,1000", "sets": 0, "retrievals": 4, "alpha_min": 0.02, "alpha_max": 0.25,
            "alpha_step": 0.01, "threshold": 0.9, "bootstrap": 400}
METHODS = ("zero_temperature",)
QUICK_SIZES = "200,400,800"
BASIN_ALPHAS = (0.05, 0.1)
BASIN_OVERLAPS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8)
MIXTURE_ALPHA = 0.01  # symmetric 3-mixtures are stable only below α ≈ 0.03 (AGS 1985)
MAX_SWEEPS = 200
PHASE_ALPHAS = (0.02, 0.05, 0.1)
PHASE_TEMPERATURES = (0.2, 0.4, 0.6, 0.8)
PHASE_SWEEPS = (20, 40)  # burn-in, measured


def parse_sizes(text: str) -> list[int]:
    """``--set sizes=250,500,1000``: at least 2 distinct integers in [50, 8000], ascending."""
    parts = [t.strip() for t in str(text).split(",") if t.strip()]
    if not all(t.isdigit() for t in parts):
        raise ValueError(f"setting sizes must be comma-separated integers, got {text!r}")
    sizes = sorted(set(map(int, parts)))
    if len(sizes) >= 2 and 50 <= sizes[0] and sizes[-1] <= 8000:
        return sizes
    raise ValueError(f"setting sizes needs at least 2 distinct sizes in [50, 8000], got {text!r}")


def _validate(settings: dict, methods, data, quick: bool) -> tuple[dict, list[int], np.ndarray]:
    if data:
        raise ValueError("the hopfield analysis takes no data file (data must be empty)")
    s = merge_settings(DEFAULTS, settings)
    sizes = parse_sizes(s["sizes"] if "sizes" in settings or not quick else QUICK_SIZES)
    for key, lo in (("sets", 0), ("retrievals", 1), ("bootstrap", 50)):
        if s[key] < lo:
            raise ValueError(f"setting {key} must be >= {lo}, got {s[key]}")
    if not (0.005 <= s["alpha_min"] < s["alpha_max"] <= 0.5):
        raise ValueError(f"settings alpha_min, alpha_max must satisfy 0.005 <= alpha_min < alpha_max <= 0.5, "
                         f"got {s['alpha_min']}, {s['alpha_max']}")
    if not (0.001 <= s["alpha_step"] <= s["alpha_max"] - s["alpha_min"]):
        raise ValueError(f"setting alpha_step must be in [0.001, alpha_max - alpha_min], got {s['alpha_step']}")
    if not (0.5 < s["threshold"] < 1.0):
        raise ValueError(f"setting threshold must be in (0.5, 1), got {s['threshold']}")
    if s["sets"] == 0:
        s["sets"] = 6 if quick else 12
    alphas = np.round(np.arange(s["alpha_min"], s["alpha_max"] + 1e-9, s["alpha_step"]), 6)
    smallest_p = int(round(alphas[0] * sizes[0]))
    if s["retrievals"] > smallest_p:
        raise ValueError(f"setting retrievals must be <= the smallest P = round(alpha_min·N) = {smallest_p}, "
                         f"got {s['retrievals']}")
    check_methods(list(methods or METHODS), allowed=METHODS)
    return s, sizes, alphas


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _retrieval_set(n: int, alphas: np.ndarray, retrievals: int, seed: int) -> np.ndarray:
    """Final overlaps (alpha, retrieval) for one nested pattern set: J grows pattern block by block."""
    counts = np.round(alphas * n).astype(int)
    xi = hop.random_patterns(n, int(counts.max()), _rng(seed, n, 0))
    rng = _rng(seed, n, 1)
    J, used, out = np.zeros((n, n)), 0, np.empty((len(alphas), retrievals))
    for a, p in enumerate(counts):
        block = xi[used:p].astype(float)
        J += block.T @ block / n
        np.fill_diagonal(J, 0.0)
        used = p
        finals = descend_many(J, xi[:retrievals], rng, max_sweeps=MAX_SWEEPS)[0].astype(float)
        out[a] = np.einsum("ri,ri->r", finals, xi[:retrievals]) / n
    return out


def retrieval_sweep(sizes: list[int], alphas: np.ndarray, s: dict, seed: int, log) -> dict[int, np.ndarray]:
    """Final overlaps shaped (set, alpha, retrieval) per N."""
    out = {}
    for n in sizes:
        log(f"retrieval N = {n}")
        out[n] = np.stack([_retrieval_set(n, alphas, s["retrievals"], seed + 7919 * k) for k in range(s["sets"])])
    return out


def crossing(alphas: np.ndarray, fraction: np.ndarray) -> float:
    """First α where the retrieving fraction falls through 1/2 (linear interpolation); NaN if it never does."""
    below = np.nonzero(fraction < 0.5)[0]
    if below.size == 0 or below[0] == 0:
        return math.nan
    i = below[0]
    f0, f1 = fraction[i - 1], fraction[i]
    return float(alphas[i - 1] + (f0 - 0.5) / (f0 - f1) * (alphas[i] - alphas[i - 1]))


def extrapolate(sizes, values, ses) -> tuple[float, float]:
    """(α_c(∞), slope) of the weighted fit α_c(N) = α_c(∞) + a N^{−1/2}."""
    x = np.asarray(sizes, float) ** -0.5
    w = 1.0 / np.maximum(np.asarray(ses, float), 1e-4)
    coef = np.polyfit(x, np.asarray(values, float), 1, w=w)
    return float(coef[1]), float(coef[0])


def capacity(sweeps: dict[int, np.ndarray], alphas: np.ndarray, s: dict, seed: int) -> dict:
    """α_c(N) from the retrieving fraction and its N^{−1/2} extrapolation, both with bootstrap se over sets."""
    sizes = sorted(sweeps)
    success = {n: (sweeps[n] >= s["threshold"]).mean(axis=2) for n in sizes}  # (set, alpha)
    point = [crossing(alphas, success[n].mean(axis=0)) for n in sizes]
    rng = _rng(seed, 99)
    boot = np.array([[crossing(alphas, success[n][rng.integers(0, len(success[n]), len(success[n]))].mean(axis=0))
                      for n in sizes] for _ in range(s["bootstrap"])])
    ses = np.array([np.std(col[np.isfinite(col)], ddof=1) if np.isfinite(col).sum() > 1 else math.nan
                    for col in boot.T])
    ok = np.all(np.isfinite(boot), axis=1)
    fits = np.array([extrapolate(sizes, b, ses) for b in boot[ok]]) if ok.sum() > 10 else np.full((1, 2), np.nan)
    finite = all(math.isfinite(v) for v in point)
    alpha_inf, slope = extrapolate(sizes, point, ses) if finite else (math.nan, math.nan)
    alpha_inf_se = float(np.std(fits[:, 0], ddof=1)) if len(fits) > 1 else math.nan
    return {"sizes": sizes, "alpha_c_n": point, "alpha_c_n_se": ses.tolist(),
            "fraction_retrieving": {n: success[n].mean(axis=0).tolist() for n in sizes},
            "alpha_c_extrapolated": alpha_inf, "alpha_c_extrapolated_se": alpha_inf_se, "slope": slope,
            "bootstrap_failures": int((~ok).sum()), "bootstrap": int(s["bootstrap"]),
            "relative_error_vs_0138": (alpha_inf - hop.AGS_CAPACITY_PUBLISHED) / hop.AGS_CAPACITY_PUBLISHED}


def basins(n: int, s: dict, seed: int) -> list[dict]:
    """Retrieval probability from initial overlap m0 (exactly N(1−m0)/2 pattern bits flipped)."""
    rows = []
    for ia, alpha in enumerate(BASIN_ALPHAS):
        hits = {m0: [] for m0 in BASIN_OVERLAPS}
        for k in range(s["sets"]):
            xi = hop.random_patterns(n, max(3, round(alpha * n)), _rng(seed, n, 2, ia, k))
            J, rng = hop.hebbian_couplings(xi), _rng(seed, n, 3, ia, k)
            targets = xi[:s["retrievals"]]
            for m0 in BASIN_OVERLAPS:
                starts = targets.copy()
                for row in starts:
                    row[rng.choice(n, int(round(n * (1 - m0) / 2)), replace=False)] *= -1
                finals = descend_many(J, starts, rng, max_sweeps=MAX_SWEEPS)[0].astype(float)
                hits[m0] += list(np.einsum("ri,ri->r", finals, targets) / n >= s["threshold"])
        rows += [{"alpha": alpha, "m0": m0, "p_retrieve": float(np.mean(h)), "trials": len(h)} for m0, h in hits.items()]
    return rows


def mixtures(n: int, s: dict, seed: int) -> dict:
    """Energy per spin at the fixed points reached from the patterns and from symmetric 3-mixtures."""
    pat, mix, mix_overlap = [], [], []
    for k in range(s["sets"]):
        xi = hop.random_patterns(n, max(3, round(MIXTURE_ALPHA * n)), _rng(seed, n, 4, k))
        J, rng = hop.hebbian_couplings(xi), _rng(seed, n, 5, k)
        for start, store in ((xi[0], pat), (hop.symmetric_mixture(xi), mix)):
            final, _, _ = zero_temperature_descent(J, start, rng, max_sweeps=MAX_SWEEPS)
            store.append(float(hop.hopfield_energy(final, J)) / n)
            if store is mix:
                mix_overlap.append(hop.overlaps(final, xi[:3]).tolist())
    def stat(v):
        return {"mean": float(np.mean(v)), "se": float(np.std(v, ddof=1) / math.sqrt(len(v)))}
    return {"n": n, "alpha": MIXTURE_ALPHA, "pattern_energy": stat(pat), "mixture_energy": stat(mix),
            "mixture_overlaps": np.mean(mix_overlap, axis=0).tolist(), "theory_pattern": -0.5, "theory_mixture": -0.375}


def phase_diagram(n: int, s: dict, seed: int) -> dict:
    """RS boundary T_M(α) and heat-bath overlaps at (α, T) points: N = ``n``, started at the pattern,
    m averaged over the measured sweeps, mean ± se over pattern sets."""
    alphas = np.linspace(0.0, 0.135, 19)
    boundary = {"alpha": alphas.tolist(), "T_M": [hop.ags_retrieval_temperature(float(a)) for a in alphas]}
    points = []
    for ia, alpha in enumerate(PHASE_ALPHAS):
        for it, T in enumerate(PHASE_TEMPERATURES):
            per_set = []
            for k in range(min(s["sets"], 4)):
                xi = hop.random_patterns(n, round(alpha * n), _rng(seed, n, 6, ia, k))
                kernel, rng = DenseHeatBathKernel(hop.hopfield_couplings(xi, T)), _rng(seed, n, 7, ia, it, k)
                buf = with_ghost(xi[0])
                kernel.advance(rng, buf, PHASE_SWEEPS[0])
                m = 0.0
                for _ in range(PHASE_SWEEPS[1]):
                    kernel.advance(rng, buf, 1)
                    m += buf[:-1].astype(float) @ xi[0] / (n * PHASE_SWEEPS[1])
                per_set.append(float(m))
            points.append({"alpha": alpha, "T": T, "m": float(np.mean(per_set)),
                           "se": float(np.std(per_set, ddof=1) / math.sqrt(len(per_set))),
                           "rs_m": _zero_below(hop.ags_finite_temperature(alpha, T)["m"], 1e-6)})
    return {"n": n, "boundary": boundary, "points": points}


def _zero_below(x: float, tiny: float) -> float:
    """0 for the iteration's remnant of the m = 0 solution (it decays geometrically, never reaching 0)."""
    return 0.0 if abs(x) < tiny else x


def curve_rows(sweeps: dict[int, np.ndarray], alphas: np.ndarray) -> list[dict]:
    rows = []
    for n, m in sweeps.items():
        per_set = m.mean(axis=2)
        for a, alpha in enumerate(alphas):
            rows.append({"n": n, "alpha": float(alpha), "m": float(per_set[:, a].mean()),
                         "se": float(per_set[:, a].std(ddof=1) / math.sqrt(len(per_set))),
                         "ags": hop.ags_retrieval_overlap(float(alpha))})
    return rows


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    from .hopfield_figures import figures

    s, sizes, alphas = _validate(settings, methods, data, quick)
    check_memory({"couplings J and patterns": 3 * sizes[-1] ** 2 + sizes[-1] ** 2 * alphas[-1]})
    out_dir, log, t_start = Path(out_dir), Progress("hopfield", progress), time.perf_counter()
    sweeps = retrieval_sweep(sizes, alphas, s, seed, log)
    curve, cap = curve_rows(sweeps, alphas), capacity(sweeps, alphas, s, seed)
    log("basins and mixtures")
    basin, mix = basins(sizes[-1], s, seed), mixtures(sizes[-1], s, seed)
    log("phase diagram")
    phase = phase_diagram(sizes[1], s, seed)
    summary = {"model": "hopfield", "settings": {**s, "sizes": sizes, "quick": quick, "seed": seed},
               "ags": hop.ags_capacity(), "retrieval": curve, "capacity": cap, "basins": basin, "mixtures": mix,
               "phase_diagram": phase}
    report = Report("Hopfield network: retrieval against Amit–Gutfreund–Sompolinsky",
                    f"Hebbian couplings from random ±1 patterns at N = {', '.join(map(str, sizes))}; "
                    f"{s['sets']} pattern sets per N, {s['retrievals']} patterns retrieved per set by asynchronous "
                    "zero-temperature dynamics started at the pattern; finite T by random-site heat bath (dense couplings, "
                    "local fields updated incrementally, O(N) per flip).")
    summary["warnings"] = report.check(extra=_warnings(cap, curve))
    _sections(report, summary)
    log("done")
    return report.save(out_dir, summary, figures=figures(out_dir / "figures", summary), started=t_start)


def _warnings(cap: dict, curve: list[dict]) -> list[str]:
    out = []
    if not math.isfinite(cap["alpha_c_extrapolated"]):
        out.append("**capacity**: the retrieving fraction did not cross 1/2 inside the α range at every N")
    elif cap["bootstrap_failures"] > 0.05 * cap["bootstrap"]:
        out.append(f"**capacity se**: {cap['bootstrap_failures']} of {cap['bootstrap']} bootstrap resamples had no "
                   "crossing at some N and were left out, so the se may be optimistic")
    if math.isfinite(cap["alpha_c_extrapolated"]) and abs(cap["relative_error_vs_0138"]) > 0.10:
        out.append(f"**capacity** α_c(∞) = {fmt(cap['alpha_c_extrapolated'])} is "
                   f"{100 * cap['relative_error_vs_0138']:+.1f} % from AGS 0.138 (target 10 %)")
    return out


def _sections(report: Report, summary: dict) -> None:
    ags, cap, curve = summary["ags"], summary["capacity"], summary["retrieval"]
    sizes = cap["sizes"]
    by = {(r["n"], r["alpha"]): r for r in curve}
    alphas = sorted({r["alpha"] for r in curve})
    report.section("Retrieval overlap m(α) against AGS (T = 0)").table(
        ["α", "AGS m (RS)"] + [f"N = {n}" for n in sizes],
        [[fmt(a, 3), fmt(by[sizes[0], a]["ags"])] + [pm_fmt(by[n, a]["m"], by[n, a]["se"]) for n in sizes]
         for a in alphas]).add(
        f"AGS (computed here): α_c = {fmt(ags['alpha_c'])}, m(α_c) = {fmt(ags['m_c'])} (published 0.138, 0.967). "
        "Mean over pattern sets ± se. Above α_c finite networks still hold a retrieval state with some "
        "probability, so mean m falls smoothly and the fall sharpens with N.")
    report.section("Capacity α_c").table(
        ["N", f"α where half the runs retrieve (m ≥ {summary['settings']['threshold']})"],
        [[n, pm_fmt(v, e)] for n, v, e in zip(sizes, cap["alpha_c_n"], cap["alpha_c_n_se"])]).add(
        f"Extrapolation α_c(N) = α_c(∞) + a N^(−1/2) (weighted least squares; se by bootstrap over pattern sets): "
        f"α_c(∞) = {pm_fmt(cap['alpha_c_extrapolated'], cap['alpha_c_extrapolated_se'])}, a = {fmt(cap['slope'])}; "
        f"against AGS 0.138: {fmt(100 * cap['relative_error_vs_0138'], 3)} %. The N^(−1/2) form is an assumption "
        "of this fit, not a derived law; the spread of the bootstrap covers the statistical error only.")
    b = summary["basins"]
    report.section(f"Basins of attraction (N = {sizes[-1]})").table(
        ["α"] + [f"m0 = {m0}" for m0 in BASIN_OVERLAPS],
        [[a] + [fmt(r["p_retrieve"], 3) for r in b if r["alpha"] == a] for a in BASIN_ALPHAS]).add(
        "Probability that dynamics started at overlap m0 with a pattern ends retrieving it; the basin shrinks as α grows.")
    m = summary["mixtures"]
    report.section(f"Spurious symmetric 3-mixtures (N = {m['n']}, α = {m['alpha']})").add(
        f"Energy per spin at the fixed point reached from a pattern: {pm_fmt(m['pattern_energy']['mean'], m['pattern_energy']['se'])}; from "
        f"sign(ξ¹+ξ²+ξ³): {pm_fmt(m['mixture_energy']['mean'], m['mixture_energy']['se'])} (mean overlaps with ξ¹, ξ², ξ³: "
        f"{', '.join(fmt(x, 3) for x in m['mixture_overlaps'])}). Small-α theory (E/N = −½Σ_μ m_μ² + α/2, the P − 3 uncondensed overlaps adding ≈ α to Σm²): pattern "
        f"{fmt(m['theory_pattern'])}, mixture {fmt(m['theory_mixture'])}: the mixtures are stable but higher.")
    ph = summary["phase_diagram"]
    report.section(f"T–α phase diagram (heat bath, N = {ph['n']})").table(
        ["α", "T", "T_M(α) (RS)", "m heat bath", "m RS (retrieval branch)"],
        [[p["alpha"], p["T"], fmt(hop.ags_retrieval_temperature(p["alpha"]), 3), pm_fmt(p["m"], p["se"]),
          fmt(p["rs_m"], 3)] for p in ph["points"]]).add(
        "Random-site heat bath on the dense couplings started at the pattern, "
        f"{PHASE_SWEEPS[0]} sweeps burn-in, m averaged over {PHASE_SWEEPS[1]}; T_M(α) from the finite-T RS "
        "equations; above T_M the measured m > 0 is a finite-N, finite-time remnant of the start at the pattern. "
        "Small-α check: T_M ≈ 1 − 1.95√α (AGS 1985).")
