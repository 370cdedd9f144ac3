r"""``physml run rg``: the block-spin renormalisation group of the 2D Ising model with a Bayesian coupling.

Equilibrium configurations of the nearest-neighbour model at couplings K around K_c (Wolff; ``sweeps``·N/⟨|C|⟩
clusters between stored draws, so successive draws are nearly independent) are blocked by the majority rule
s′_I = sign Σ_{i∈I} s_i (b = 2 with random ties, b = 3), and blocked again while the lattice keeps
≥ ``min_blocked`` sites a side. The renormalised couplings of every (L, b, K, level) come from the Bayesian
pseudo-likelihood of :mod:`physml.models.block_spin_rg`,

.. math::

    P(s_i\mid\text{rest}) = \sigma\big(2 s_i (K_1 h_1 + K_2 h_2 + K_4 h_4)\big),

with K₁ alone (the one-coupling truncation; NUTS and mean-field ADVI side by side) and with the next-nearest K₂
and plaquette K₄ couplings (the first method only: ADVI on all 3 × points couplings is slow to converge). Its pseudo-posterior sd ignores the dependence between sites, so every point also
gets a jackknife se over blocks of configurations of the pseudo-likelihood maximiser; where the ratio
jackknife/posterior exceeds 1 the posterior draws are widened by it before they are propagated
(a magnitude adjustment of a composite likelihood).

The flow: a quadratic K′(K) = c₀ + c₁x + c₂x² (x = K − K_center) fitted to every posterior draw of the level-1
couplings; its crossing of the diagonal is the fixed point K*, λ = dK′/dK at K*, y_t = ln λ / ln b and
ν = 1/y_t (exact 2D Ising: K_c = ½ ln(1 + √2) = 0.4406868, ν = 1, y_t = 1). The check: on un-blocked samples the
estimator must return K₁ = K, K₂ = K₄ = 0 (the nearest-neighbour conditional exactly).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..inference.fit import fit
from ..inference.spins.block_spin import majority_rule
from ..inference.spins.driver import run_blocks
from ..inference.spins.lattice import square_lattice_couplings
from ..inference.spins.wolff import WolffKernel
from ..models import block_spin_rg as pl
from ..models.finite_size_scaling import K_CRITICAL
from .common import Progress, save_datatree_atomic
from .compare import versus_exact
from .report import Report
from . import rg_deep
from .rg_figures import draw_figures
from .rg_report import sections
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

DEFAULTS = {"b": "2,3", "L": "auto", "K_center": K_CRITICAL, "K_halfwidth": 0.05, "k_points": 0, "draws": 0,
            "sweeps": 2, "min_blocked": 8, "nuts_draws": 0, "jackknife_blocks": 20,
            "deep": True, **rg_deep.DEFAULTS}  # deep: the deep-belief-net section (analyses/rg_deep.py)
ALL_METHODS = ("nuts", "advi")
METHODS = ALL_METHODS
N_COUPLINGS = (1, 3)  # the one-coupling truncation and K_nn, K_nnn, K_plaquette
JACKKNIFE_FLAG = 1.5  # jackknife se / posterior sd above this: the pseudo-posterior is too narrow (flagged)


def _sizes(s: dict, quick: bool) -> dict:
    q = {"draws": 200, "k_points": 5, "nuts_draws": 300}
    f = {"draws": 400, "k_points": 7, "nuts_draws": 1000}
    return resolve_sizes({k: s[k] for k in q}, q if quick else f)


def parse_ints(name: str, text, low: int, high: int) -> list[int]:
    """``--set name=a,b,...``: integers in [low, high] (ValueError naming the setting otherwise)."""
    try:
        values = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"setting {name} must be comma-separated integers, got {text!r}") from None
    if not values or any(not low <= v <= high for v in values):
        raise ValueError(f"setting {name} needs integers in [{low}, {high}], got {text!r}")
    return values


def lattice_pairs(s: dict, quick: bool) -> list[tuple[int, int]]:
    """(b, L) pairs: ``b`` and ``L`` lists of equal length, or one of them a single value (used for all);
    ``L = auto``: 81 (27 quick) for b = 3, else 64 (32 quick)."""
    bs = parse_ints("b", s["b"], 2, 9)
    if s["L"] == "auto":
        Ls = [(27 if quick else 81) if b == 3 else (32 if quick else 64) for b in bs]
    else:
        Ls = parse_ints("L", s["L"], 8, 512)
    if len(bs) != len(Ls) and 1 not in (len(bs), len(Ls)):
        raise ValueError(f"settings b and L need equal lengths or one single value, got {s['b']!r} and {s['L']!r}")
    pairs = list(zip(bs * len(Ls), Ls * len(bs))) if 1 in (len(bs), len(Ls)) else list(zip(bs, Ls))
    for b, L in pairs:
        if L % b or L // b < s["min_blocked"]:
            raise ValueError(f"setting b = {b} must divide L = {L} with L/b >= min_blocked = {s['min_blocked']}")
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"settings b and L repeat a (b, L) pair: {pairs}")
    return pairs


def _validate(settings: dict, methods, data, quick: bool):
    if data:
        raise ValueError("the rg analysis takes no data file (data must be empty)")
    s = merge_settings(DEFAULTS, settings)
    if not 4 <= s["min_blocked"] <= 64:
        raise ValueError(f"setting min_blocked must be in [4, 64], got {s['min_blocked']}")
    pairs = lattice_pairs(s, quick)
    if not 0.05 <= s["K_center"] <= 2.0:
        raise ValueError(f"setting K_center must be in [0.05, 2] (K > 0), got {s['K_center']}")
    if not 0.0 < s["K_halfwidth"] < s["K_center"]:
        raise ValueError(f"setting K_halfwidth must be in (0, K_center) so every K > 0, got {s['K_halfwidth']}")
    if not 1 <= s["sweeps"] <= 100:
        raise ValueError(f"setting sweeps must be in [1, 100], got {s['sweeps']}")
    size = _sizes(s, quick)
    if size["k_points"] < 3 or size["k_points"] % 2 == 0:
        raise ValueError(f"setting k_points must be odd and >= 3 (K_center is simulated), got {size['k_points']}")
    if not 5 <= s["jackknife_blocks"] <= size["draws"] // 2:
        raise ValueError(f"setting jackknife_blocks must be in [5, draws/2 = {size['draws'] // 2}], got "
                         f"{s['jackknife_blocks']}")
    default = ALL_METHODS[:1] if quick else ALL_METHODS  # quick: NUTS only
    methods = check_methods(list(methods) if methods else list(default), allowed=ALL_METHODS)
    if s["deep"]:
        rg_deep.validate(s, quick)  # its settings are checked before anything runs
    return s, size, pairs, methods


def k_grid(s: dict, points: int) -> np.ndarray:
    return s["K_center"] + s["K_halfwidth"] * np.linspace(-1.0, 1.0, points)


def simulate(L: int, K: float, draws: int, sweeps: int, seed) -> np.ndarray:
    """(draws, L, L) int8 Wolff configurations, ``sweeps``·N/⟨|C|⟩ clusters apart, after 200 sweeps' burn-in."""
    couplings = square_lattice_couplings(L, K)
    rng = np.random.default_rng(seed)
    pilot = WolffKernel(couplings, 1)
    state, mean_size = pilot.burn_in(rng, pilot.init(rng=rng), 200)
    kernel = WolffKernel(couplings, max(1, int(round(sweeps * couplings.n_spins / mean_size))))
    _, _, spins = run_blocks(kernel, rng, state, draws, True)
    return np.asarray(spins, dtype=np.int8).reshape(draws, L, L)


def block_levels(spins: np.ndarray, b: int, min_blocked: int, rng) -> list[np.ndarray]:
    """[level 0 (the configurations), level 1 (blocked once), …] while the blocked side stays ≥ min_blocked."""
    levels = [spins]
    while levels[-1].shape[-1] % b == 0 and levels[-1].shape[-1] // b >= min_blocked:
        levels.append(majority_rule(levels[-1], b, rng))
    return levels


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, pairs, methods = _validate(settings, methods, data, quick)
    check_memory({"L² × k_points × draws (int8)": sum(L * L for _, L in pairs) * size["k_points"]
                  * size["draws"] / 8})
    out_dir, log, t_start = Path(out_dir), Progress("rg", progress), time.perf_counter()
    Ks = k_grid(s, size["k_points"])
    layers, points = _simulate_and_block(pairs, Ks, s, size, seed, log)
    counts = {n: np.array([p.pop(f"counts{n}") for p in points]) for n in N_COUPLINGS}
    fits = {}
    for i, m in enumerate(methods):  # the first method also fits the three-coupling model
        sets = N_COUPLINGS if i == 0 else N_COUPLINGS[:1]
        model = pl.coupling_model(*[counts[n].sum(axis=1) for n in sets], suffixes=[f"_{n}" for n in sets])
        log(f"pseudo-likelihood of {len(points)} data sets, {' and '.join(map(str, sets))} coupling(s): {m}")
        fits[m] = fit(model, m, draws=size["nuts_draws"], tune=size["nuts_draws"], chains=2, seed=seed + i,
                      free_energy=())
        save_datatree_atomic(fits[m], out_dir / f"pseudo_likelihood_{m}.nc")
    estimates = {n: _jackknife_maps(c) for n, c in counts.items()}
    log("flow, fixed points, scale invariance, figures")
    table = _coupling_table(points, fits, estimates, methods)
    flows = [_fixed_point(table, b, L, m, n, Ks, s["K_center"]) for b, L in pairs for n in N_COUPLINGS
             for m in (methods if n == 1 else methods[:1])]  # n = 3: the diagonal crossing of K_nn with K_nnn, K_plaquette fitted too
    summary = {"model": "rg", "settings": {**s, **size, "pairs": pairs, "methods": methods, "quick": quick,
                                           "seed": seed},
               "K_grid": Ks.tolist(), "couplings": [{k: v for k, v in r.items() if not k.endswith("_draws")}
                                                    for r in table], "fixed_point": [f for f in flows if f["couplings"] == 1],
               "nn_crossing_three_couplings": [f for f in flows if f["couplings"] == 3],
               "unblocked_check": _unblocked_check(table, methods),
               "scale_invariance": [{k: v for k, v in p.items() if k != "levels_m"} for p in points],
               "exact": {"K_c": K_CRITICAL, "nu": 1.0, "y_t": 1.0}}
    figs = draw_figures(out_dir / "figures", layers, points, table, summary, s)
    report = Report("Block-spin renormalisation group of the 2D Ising model (Bayesian pseudo-likelihood)",
                    __doc__.split("\n\n")[0].replace("``", ""))
    summary["warnings"] = report.check(fits, extra=_warnings(summary))
    sections(report, summary)
    if s["deep"]:
        log("deep belief nets on near-critical configurations (Mehta & Schwab 2014)")
        summary["deep_network"] = rg_deep.add_deep_rg_section(report, out_dir, settings=s, quick=quick, seed=seed)
        summary["warnings"] += summary["deep_network"]["warnings"]
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _simulate_and_block(pairs, Ks, s, size, seed, log):
    """Per (b, L, K, level): the pseudo-likelihood counts per jackknife block and the blocked magnetisations;
    ``layers``: one configuration at K nearest K_center at every level, per (b, L)."""
    points, layers, cache = [], {}, {}
    centre = int(np.argmin(np.abs(Ks - s["K_center"])))
    rng = np.random.default_rng([seed, 1])
    for b, L in pairs:
        log(f"Wolff configurations and majority-rule blocking, b = {b}, L = {L}")
        for i, K in enumerate(Ks):
            if (L, i) not in cache:
                cache[(L, i)] = simulate(L, float(K), size["draws"], s["sweeps"], [seed, L, i])
            levels = block_levels(cache[(L, i)], b, s["min_blocked"], rng)
            if i == centre:
                layers[(b, L)] = [lv[0] for lv in levels]
            for level, spins in enumerate(levels):
                points.append(_point(spins, b, L, float(K), level, s["jackknife_blocks"]))
    return layers, points


def _point(spins: np.ndarray, b: int, L: int, K: float, level: int, n_blocks: int) -> dict:
    """Counts per jackknife block for both coupling sets; the nearest-neighbour correlation G(1) of this level's
    spins and U₄ of its magnetisation (jackknife se); G(r) along the axes."""
    chunks = np.array_split(np.arange(len(spins)), n_blocks)
    m = spins.reshape(len(spins), -1).mean(axis=1, dtype=float)
    g1 = _correlation(spins, 1, per_draw=True)
    point = {"b": b, "L": L, "K": K, "level": level, "side": int(spins.shape[-1]), "levels_m": m,
             "correlation": [float(_correlation(spins, r).mean()) for r in range(spins.shape[-1] // 2 + 1)]}
    for name, values, stat in (("binder", m, _binder), ("G1", g1, np.mean)):
        reps = np.array([stat(np.delete(values, c)) for c in chunks])
        point[name] = float(stat(values))
        point[f"{name}_se"] = float(np.sqrt((n_blocks - 1) / n_blocks * np.sum((reps - reps.mean()) ** 2)))
    for n in N_COUPLINGS:
        point[f"counts{n}"] = np.array([pl.coupling_counts(spins[c], n) for c in chunks])
    return point


def _binder(m: np.ndarray) -> float:
    return float(1.0 - np.mean(m ** 4) / (3.0 * np.mean(m ** 2) ** 2))


def _correlation(spins: np.ndarray, r: int, per_draw: bool = False) -> np.ndarray:
    """G(r) = ⟨s_i s_{i+r}⟩ along both axes (per draw, or the mean)."""
    s = spins.astype(float)
    g = (s * np.roll(s, r, -1) + s * np.roll(s, r, -2)).reshape(len(s), -1).mean(axis=1) / 2
    return g if per_draw else np.mean(g)


def _jackknife_maps(counts: np.ndarray) -> dict:
    """Pseudo-likelihood maximiser of every point and its delete-one-block jackknife se (``counts``:
    (points, blocks, rows))."""
    total = counts.sum(axis=1)
    full = np.array([pl.pseudo_likelihood_map(c) for c in total])
    n_blocks = counts.shape[1]
    reps = np.array([[pl.pseudo_likelihood_map(t - c) for c in blocks] for t, blocks in zip(total, counts)])
    se = np.sqrt((n_blocks - 1) / n_blocks * ((reps - reps.mean(axis=1, keepdims=True)) ** 2).sum(axis=1))
    return {"map": full, "se": se}


def _coupling_table(points, fits, estimates, methods) -> list[dict]:
    """Per point: every coupling's posterior mean, posterior sd, the reported sd = max(posterior sd, jackknife
    se) (and the draws, stacked) per method, and the jackknife estimate."""
    rows = []
    for p, point in enumerate(points):
        row = {k: point[k] for k in ("b", "L", "K", "level", "side")}
        for n in N_COUPLINGS:
            for j, name in enumerate(pl.COUPLINGS[:n]):
                row[f"{name}_{n}_map"] = float(estimates[n]["map"][p, j])
                row[f"{name}_{n}_jk_se"] = float(estimates[n]["se"][p, j])
                for m in (m for m in methods if f"{name}_{n}" in fits[m]["posterior"]):
                    draws = fits[m]["posterior"][f"{name}_{n}"].isel(point=p).values.reshape(-1)
                    row[f"{name}_{n}_{m}"] = float(draws.mean())
                    row[f"{name}_{n}_{m}_post_sd"] = float(draws.std())
                    row[f"{name}_{n}_{m}_sd"] = max(float(draws.std()), row[f"{name}_{n}_jk_se"])
                    row[f"{name}_{n}_{m}_draws"] = draws
        rows.append(row)
    return rows


def _fixed_point(table, b, L, method, n, Ks, centre) -> dict:
    """K*, λ, y_t and ν from posterior draws of the level-1 K_nn(K) (widened by the jackknife ratio where
    > 1), a quadratic in x = K − centre per draw, its diagonal crossing nearest x = 0."""
    rows = [r for r in table if r["b"] == b and r["L"] == L and r["level"] == 1]
    key = f"K_nn_{n}_{method}"
    ratio = np.array([max(1.0, r[f"K_nn_{n}_jk_se"] / r[f"{key}_post_sd"]) for r in rows])
    draws = np.array([r[key] + q * (r[f"{key}_draws"] - r[key]) for r, q in zip(rows, ratio)])  # (K, S)
    x = np.array([r["K"] for r in rows]) - centre
    c2, c1, c0 = np.polyfit(x, draws, 2)
    disc = (c1 - 1) ** 2 - 4 * c2 * (c0 - centre)
    with np.errstate(invalid="ignore"):
        roots = np.stack([(-(c1 - 1) + sg * np.sqrt(disc)) / (2 * c2) for sg in (1, -1)])
    x_star = np.take_along_axis(roots, np.nanargmin(np.abs(np.nan_to_num(roots, nan=np.inf)), 0)[None], 0)[0]
    ok = np.isfinite(x_star) & (x_star >= x[0]) & (x_star <= x[-1])
    lam = c1 + 2 * c2 * x_star
    y_t = np.log(np.where(lam > 0, lam, np.nan)) / np.log(b)
    out = {"b": b, "L": L, "method": method, "couplings": n, "crossing_fraction": float(ok.mean()),
           "max_jackknife_ratio": float(ratio.max())}
    for name, v, exact in (("K_star", centre + x_star, K_CRITICAL), ("lambda", lam, float(b)),
                           ("y_t", y_t, 1.0), ("nu", 1.0 / y_t, 1.0)):
        v = v[ok & np.isfinite(v)]
        mean, sd = (float(v.mean()), float(v.std())) if len(v) > 1 else (float("nan"), float("nan"))
        error, z = versus_exact(mean, sd, exact)
        out[name] = {"mean": mean, "sd": sd, "exact": exact, "error": error, "z": z}
    return out


def _unblocked_check(table, methods) -> list[dict]:
    """Level 0: K_nn must be the generating K, K_nnn and K_plaquette 0 (z = (mean − exact)/sd)."""
    out, seen = [], set()
    for r in table:
        if r["level"] != 0 or (r["L"], r["K"]) in seen:
            continue
        seen.add((r["L"], r["K"]))
        for i, m in enumerate(methods):
            row = {"L": r["L"], "K": r["K"], "method": m}
            for n in (N_COUPLINGS if i == 0 else N_COUPLINGS[:1]):
                for name, exact in zip(pl.COUPLINGS[:n], (r["K"], 0.0, 0.0)):
                    mean, sd = r[f"{name}_{n}_{m}"], r[f"{name}_{n}_{m}_sd"]
                    row[f"{name}_{n}"] = {"mean": mean, "sd": sd, "z": versus_exact(mean, sd, exact)[1]}
            out.append(row)
    return out


def _warnings(summary: dict) -> list[str]:
    out = [f"unreliable: un-blocked check L = {r['L']}, K = {r['K']:.4f} ({r['method']}): {k} is {v['z']:.1f} sd "
           f"from its exact value" for r in summary["unblocked_check"] for k, v in r.items()
           if isinstance(v, dict) and v["z"] is not None and abs(v["z"]) > 4]
    method = summary["settings"]["methods"][0]
    for n in N_COUPLINGS:
        ratios = [r[f"{c}_{n}_jk_se"] / r[f"{c}_{n}_{method}_post_sd"] for r in summary["couplings"]
                  for c in pl.COUPLINGS[:n]]
        flagged = sum(q > JACKKNIFE_FLAG for q in ratios)
        if flagged:
            out.append(f"unreliable: {n}-coupling pseudo-posterior sd ({method}) is smaller than the jackknife se "
                       f"over configurations by more than {JACKKNIFE_FLAG}× for {flagged} of {len(ratios)} "
                       f"couplings (up to {max(ratios):.2f}×): tables report max(sd, jackknife se), the flow "
                       "widens the draws by the ratio")
    out += [f"fixed point b = {f['b']}, L = {f['L']} ({f['method']}): only "
            f"{100 * f['crossing_fraction']:.0f} % of the draws cross the diagonal inside the K window"
            for f in summary["fixed_point"] if f["crossing_fraction"] < 0.99]
    return out
