r"""Deep network ↔ renormalisation group: a deep belief net trained on near-critical 2D Ising configurations
(Mehta & Schwab 2014), its receptive fields, their locality, and its top layer against block spins.

Mehta & Schwab, "An exact mapping between the variational renormalization group and deep learning",
arXiv:1410.3831 (2014), identify Kadanoff's variational RG step with an RBM: the coarse spins are the hidden
units, and :math:`e^{T(v,h)}` with :math:`\sum_h e^{T(v,h)} = 1` is the RBM's :math:`e^{-E(v,h)}/e^{-H(v)}`;
the identity is exact only when the RBM reproduces the data distribution exactly. Their numerical
illustration: a stack of RBMs (40×40 visible spins → 400 → 100 → 25 hidden units, trained with an L1 penalty
on the weights) on samples of the 2D Ising model near its critical coupling; receptive fields (products of
weight matrices) look like local blocks growing layer by layer. Koch-Janusz & Ringel, "Mutual information,
neural networks and the renormalization group", Nat. Phys. 14, 578 (2018), arXiv:1704.06279, argue that
fitting the data distribution does not by itself make a coarse-graining an RG (it need not keep the
long-wavelength information; their RSMI network maximises the mutual information with the environment
instead).

Here (defaults, 2 cores): Wolff samples on an L = 16 periodic lattice at K = 0.44 ≈ K_c (correlation length
of the order of L) and at K = 0.40 (disordered side, a correlation length of a few spacings), layers
256 → 64 → 16 (units quartered, lengths halved per layer, as in the paper), greedy CD-1 with the L1 penalty
``l1_decay`` of :class:`~physml.inference.rbm.contrastive_divergence.TrainingSettings`, several training
seeds (fresh data each) for the errors. Measured, per layer: the locality profile of the receptive fields
against a shuffled baseline (:mod:`.rg_deep_measures`); for the top layer: magnetisation and
nearest-neighbour correlation against majority-rule blocks of the same scale, and the configurations the net
reconstructs from its top layer. Errors: mean ± se over the training seeds (se = sd/√n).

Public entry point: :func:`add_deep_rg_section` (called by ``physml run rg``), settings :data:`DEFAULTS`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t
from threadpoolctl import threadpool_limits

from ..inference.rbm import deep_belief as dbn
from ..inference.rbm.contrastive_divergence import TrainingSettings
from ..inference.spins.driver import run_blocks
from ..inference.spins.lattice import square_lattice_couplings
from ..inference.spins.wolff import WolffKernel
from . import rg_deep_measures as measures
from .common import fmt, pm_fmt
from .rg_deep_figures import draw_figures
from .settings import merge_settings, resolve_sizes

#: settings of the section; 0 for a size means "the default of the mode" (quick / full, :data:`SIZES`)
DEFAULTS = {"deep_L": 16, "deep_K": "0.40,0.44", "deep_layers": "", "deep_samples": 0, "deep_epochs": 0,
            "deep_seeds": 0, "deep_learning_rate": 0.05, "deep_l1": 1e-3, "deep_momentum": 0.5,
            "deep_batch": 50, "deep_thin": 2}
SIZES = {"quick": {"deep_samples": 400, "deep_epochs": 10, "deep_seeds": 3},
         "full": {"deep_samples": 2000, "deep_epochs": 40, "deep_seeds": 4}}
PAPER = {"reference": "Mehta & Schwab (2014), arXiv:1410.3831", "lattice": "40×40 periodic",
         "layers": [1600, 400, 100, 25], "regularisation": "L1 on the weights", "coupling": "near K_c"}
CRITIQUE = "Koch-Janusz & Ringel (2018), Nat. Phys. 14, 578, arXiv:1704.06279"
Z_HOLDS = 4.0  # a difference counts when it exceeds this many standard errors
QUANTITIES = {"abs_m": "⟨|m|⟩", "m2": "⟨m²⟩", "nn_corr": "nearest-neighbour correlation"}
AGREEMENT = {True: "yes", False: "no", None: "not measurable"}


def parse_layers(text, L: int) -> list[int]:
    """``deep_layers`` ("256,64,16"; empty: L², L²/4, L²/16): strictly decreasing, first L², last a square m²
    with m dividing L and m < L (the top layer must match a block-spin lattice)."""
    if str(text).strip() == "":
        if L % 2:
            raise ValueError(f"setting deep_layers must be given for odd deep_L = {L} (the default halves L)")
        return [L * L, L * L // 4, L * L // 16] if L % 4 == 0 else [L * L, (L // 2) ** 2]
    try:
        sizes = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"setting deep_layers must be comma-separated integers, got {text!r}") from None
    try:
        sizes = dbn.validate_layer_sizes(sizes, L * L)
    except ValueError as err:
        raise ValueError(f"setting deep_layers: {err}") from None
    side = math.isqrt(sizes[-1])
    if side * side != sizes[-1] or L % side or side >= L:
        raise ValueError(f"setting deep_layers: the top layer must have m² units with m < L dividing L = {L} "
                         f"(a block-spin lattice), got {sizes[-1]}")
    return sizes


def parse_couplings(text) -> list[float]:
    """``deep_K`` ("0.40,0.44"): 1 to 4 distinct couplings in (0, 2], ascending."""
    try:
        couplings = sorted({float(t) for t in str(text).split(",") if t.strip()})
    except ValueError:
        raise ValueError(f"setting deep_K must be comma-separated numbers, got {text!r}") from None
    if not 1 <= len(couplings) <= 4 or not all(0 < K <= 2 for K in couplings):
        raise ValueError(f"setting deep_K must be 1 to 4 distinct couplings in (0, 2], got {text!r}")
    return couplings


def validate(settings: dict, quick: bool) -> dict:
    """This section's settings (keys ``deep_*`` of ``settings``; other keys are the caller's and ignored),
    merged with :data:`DEFAULTS`, sizes resolved, checked: ValueError naming the setting and its range."""
    s = merge_settings(DEFAULTS, {k: v for k, v in settings.items() if k.startswith("deep_")})
    s.update(resolve_sizes(s, SIZES["quick" if quick else "full"]))
    checks = [("deep_L", isinstance(s["deep_L"], int) and 4 <= s["deep_L"] <= 64, "an integer in [4, 64]"),
              ("deep_samples", 50 <= s["deep_samples"] <= 100_000, "in [50, 100000]"),
              ("deep_epochs", 1 <= s["deep_epochs"] <= 2000, "in [1, 2000]"),
              ("deep_seeds", 2 <= s["deep_seeds"] <= 20, "in [2, 20] (errors are over seeds)"),
              ("deep_learning_rate", 0 < s["deep_learning_rate"] <= 10, "in (0, 10]"),
              ("deep_l1", 0 <= s["deep_l1"] <= 1, "in [0, 1]"),
              ("deep_momentum", 0 <= s["deep_momentum"] < 1, "in [0, 1)"),
              ("deep_batch", isinstance(s["deep_batch"], int) and s["deep_batch"] >= 1, "an integer >= 1"),
              ("deep_thin", isinstance(s["deep_thin"], int) and 1 <= s["deep_thin"] <= 100, "an integer in [1, 100]")]
    for key, ok, rng in checks:
        if not ok:
            raise ValueError(f"setting {key} must be {rng}, got {s[key]!r}")
    s["layers"] = parse_layers(s["deep_layers"], s["deep_L"])
    s["couplings"] = parse_couplings(s["deep_K"])
    s["quick"] = bool(quick)
    return s


def ising_configurations(L: int, K: float, n: int, seed, *, thin: int = 2, burn_in: int = 200) -> np.ndarray:
    """``n`` Wolff configurations (n, L, L) in ±1 of the periodic L×L Ising model at coupling K, one every
    ``thin`` draws (a draw ≈ one sweep of flipped spins) after ``burn_in`` sweep-equivalents."""
    couplings = square_lattice_couplings(L, K)
    rng = np.random.default_rng(seed)
    pilot = WolffKernel(couplings, 1)
    state, mean_size = pilot.burn_in(rng, pilot.init(rng=rng), burn_in)
    kernel = WolffKernel(couplings, max(1, int(round(couplings.n_spins / mean_size))))
    _, _, spins = run_blocks(kernel, rng, state, n * thin, True)
    return spins[::thin].reshape(n, L, L)


def _radii(L: int) -> np.ndarray:
    return np.arange(0.0, L / math.sqrt(2) + 0.5, 0.5)


def _one_seed(s: dict, K: float, seed: int, index: int) -> dict:
    """Data at coupling ``K``, greedy training and every per-seed measure for training seed ``index``."""
    L, layers = s["deep_L"], s["layers"]
    n_train = s["deep_samples"]
    spins = ising_configurations(L, K, n_train + n_train // 2, [seed, index, 0, round(K * 1e6)],
                                 thin=s["deep_thin"])
    visible = (spins.reshape(len(spins), -1) + 1) / 2
    train_settings = TrainingSettings(method="cd", n_epochs=s["deep_epochs"], learning_rate=s["deep_learning_rate"],
                                      k=1, batch_size=s["deep_batch"], momentum=s["deep_momentum"],
                                      l1_decay=s["deep_l1"])
    stack = dbn.train_deep_belief_net(visible[:n_train], layers, train_settings, seed=[seed, index, 1, round(K * 1e6)])
    fields = dbn.receptive_fields(stack)
    rng = np.random.default_rng([seed, index, 2, round(K * 1e6)])
    radii = _radii(L)
    layer_rows = []
    for field in fields:
        shuffled = measures.shuffled_fields(field, rng)
        b = L / math.sqrt(field.shape[1])
        layer_rows.append({"profile": measures.locality_profile(field, radii),
                           "profile_shuffled": measures.locality_profile(shuffled, radii),
                           "mass_within_b": float(measures.locality_profile(field, [b])[0]),
                           "mass_within_b_shuffled": float(measures.locality_profile(shuffled, [b])[0]),
                           "half_mass_radius": measures.half_mass_radius(field),
                           "half_mass_radius_shuffled": measures.half_mass_radius(shuffled)})
    held_out, held_spins = visible[n_train:], spins[n_train:]
    top = dbn.up_pass(held_out, stack, rng)[-1]
    reconstruction = 2 * dbn.down_pass(top, stack, rng).reshape(held_spins.shape) - 1
    return {"layers": layer_rows, "blocks": measures.top_versus_blocks(held_spins, top, fields[-1], rng),
            "data": measures.spin_statistics(held_spins), "reconstruction": measures.spin_statistics(reconstruction),
            "fields": fields, "example": (held_spins[0], reconstruction[0], top, held_spins)}


def mean_se(values) -> dict:
    """{"mean", "se", "n"} over seeds (se = sample sd / √n; nan-valued seeds dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": float("nan"), "se": float("nan"), "n": 0}
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "se": se, "n": int(len(v))}


def _difference(a, b) -> dict:
    """Paired difference over seeds: mean ± se, z = mean / se and its two-sided p-value under Student's t with
    n − 1 degrees of freedom (with a handful of seeds the se is itself uncertain: z = 4 is not 4σ)."""
    d = mean_se(np.asarray(a, float) - np.asarray(b, float))
    d["z"] = d["mean"] / d["se"] if d["se"] > 0 else float("nan")
    d["p"] = float(2 * student_t.sf(abs(d["z"]), d["n"] - 1)) if math.isfinite(d["z"]) else float("nan")
    return d


def summarise(runs: list[dict], s: dict) -> dict:
    """The returned dict's numbers from the per-seed runs: per layer locality, top layer vs blocks."""
    layers = []
    for depth, units in enumerate(s["layers"][1:]):
        rows = [r["layers"][depth] for r in runs]
        excess = _difference([x["mass_within_b"] for x in rows], [x["mass_within_b_shuffled"] for x in rows])
        layers.append({"layer": depth + 1, "units": units, "b": s["deep_L"] / math.sqrt(units),
                       **{k: mean_se([x[k] for x in rows]) for k in
                          ("mass_within_b", "mass_within_b_shuffled", "half_mass_radius",
                           "half_mass_radius_shuffled")},
                       "excess_mass_within_b": excess, "local": bool(excess["z"] > Z_HOLDS)})
    blocks = {}
    for name in QUANTITIES:
        top, blk = [r["blocks"][f"{name}_top"] for r in runs], [r["blocks"][f"{name}_block"] for r in runs]
        diff = _difference(top, blk)
        agrees = bool(abs(diff["z"]) <= Z_HOLDS) if np.isfinite(diff["z"]) else None  # None: not measurable
        blocks[name] = {"top": mean_se(top), "block": mean_se(blk), "difference": diff, "agrees": agrees}
    blocks["w1_abs_m"] = mean_se([r["blocks"]["w1_abs_m"] for r in runs])
    blocks["coverage_top"] = mean_se([r["blocks"]["coverage_top"] for r in runs])
    recon = {name: {"data": mean_se([r["data"][name] for r in runs]),
                    "reconstruction": mean_se([r["reconstruction"][name] for r in runs]),
                    "difference": _difference([r["reconstruction"][name] for r in runs],
                                              [r["data"][name] for r in runs])} for name in ("abs_m", "nn_corr")}
    return {"layers": layers, "top_vs_blocks": blocks, "reconstruction": recon}


def add_deep_rg_section(report, out_dir, *, settings: dict, quick: bool, seed: int) -> dict:
    """Train the deep belief nets at every coupling of ``deep_K``, write figures into ``out_dir/figures`` and add
    the section "Deep network ↔ RG" to ``report`` (an :class:`~physml.analyses.report.Report`). Returns the
    JSON-serialisable summary: per coupling (key ``f"{K:g}"``) the layers' locality, the top layer against the
    block spins and the reconstructions, each number as {"mean", "se", "n"} over the training seeds."""
    started = time.perf_counter()
    s = validate(settings, quick)
    out_dir = Path(out_dir)
    by_coupling = {}
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only contend
        for K in s["couplings"]:
            runs = [_one_seed(s, K, seed, i) for i in range(s["deep_seeds"])]
            result = summarise(runs, s)
            figs = draw_figures(out_dir / "figures", runs, result, s, _radii(s["deep_L"]), f"K{K:g}")
            result["figures"] = [str(p.relative_to(out_dir)) for p in figs]
            by_coupling[f"{K:g}"] = result
    out = {"by_coupling": by_coupling, "settings": {k: v for k, v in s.items() if k not in ("deep_layers", "deep_K")},
           "paper": PAPER, "critique": CRITIQUE,
           "figures": [f for r in by_coupling.values() for f in r["figures"]],
           "warnings": [f"unreliable: errors over only {s['deep_seeds']} training seeds"]
           if s["deep_seeds"] < 3 else []}
    out["wall_time_s"] = time.perf_counter() - started
    _section(report, out, s)
    return out


def _section(report, out: dict, s: dict) -> None:
    quick_note = ("Quick mode: few configurations and epochs — the nets are undertrained and the verdicts below are "
                  "not the experiment's; run without --quick." if s["quick"] else None)
    report.section("Deep network ↔ RG (Mehta & Schwab 2014)", *_intro(s), quick_note, *out["warnings"])
    for key, result in out["by_coupling"].items():
        _coupling_section(report.section(f"K = {key}", level=3), result)


def _coupling_section(sec, out: dict) -> None:
    sec.table(["layer", "units", "block side b", "mass within r = b", "shuffled baseline", "excess (z, p)",
               "half-mass radius", "shuffled", "local?"],
              [[x["layer"], x["units"], fmt(x["b"], 3), _pm(x["mass_within_b"]), _pm(x["mass_within_b_shuffled"]),
                _with_z(x["excess_mass_within_b"]),
                _pm(x["half_mass_radius"]), _pm(x["half_mass_radius_shuffled"]), "yes" if x["local"] else "no"]
               for x in out["layers"]])
    tb = out["top_vs_blocks"]
    sec.table(["quantity", "top layer", f"majority-rule blocks (b = {out['layers'][-1]['b']:g})",
               "top − blocks (z, p)", f"agree within {Z_HOLDS:g} se?"],
              [[name, _pm(tb[key]["top"]), _pm(tb[key]["block"]),
                _with_z(tb[key]["difference"]),
                AGREEMENT[tb[key]["agrees"]]] for key, name in QUANTITIES.items()])
    rc = out["reconstruction"]
    sec.add(f"Wasserstein-1 distance between the |m| distributions of the top layer and the blocks: "
            f"{_pm(tb['w1_abs_m'])}; fraction of the blocks holding a top-unit receptive-field centre: "
            f"{_pm(tb['coverage_top'])} (1 for block spins). Reconstructions (data → top layer → visible): "
            f"⟨|m|⟩ {_pm(rc['abs_m']['reconstruction'])} vs data {_pm(rc['abs_m']['data'])}; nearest-neighbour "
            f"correlation {_pm(rc['nn_corr']['reconstruction'])} vs data {_pm(rc['nn_corr']['data'])}.")
    sec.add(_verdict(out))
    for path in out["figures"]:
        sec.figure(path)


def _pm(d: dict) -> str:
    return pm_fmt(d["mean"], d["se"], 3)


def _with_z(d: dict) -> str:
    return f"{_pm(d)} (z {fmt(d['z'], 3)}, p {fmt(d['p'], 2)})"


def _intro(s: dict) -> list[str]:
    return [f"Paper ({PAPER['reference']}): {PAPER['lattice']} lattice, layers "
            f"{' → '.join(map(str, PAPER['layers']))}, {PAPER['regularisation']}, coupling {PAPER['coupling']}. "
            f"Here: {s['deep_L']}×{s['deep_L']} periodic lattice at K = {', '.join(f'{K:g}' for K in s['couplings'])} "
            f"(Wolff samples; K_c = 0.4407), layers {' → '.join(map(str, s['layers']))}, greedy CD-1 with L1 "
            f"penalty {s['deep_l1']:g}, "
            f"{s['deep_epochs']} epochs on {s['deep_samples']} configurations per layer; {s['deep_seeds']} training "
            f"seeds (fresh data each), held-out configurations for the top-layer measures; errors are mean ± se over "
            f"the seeds; p is the two-sided Student-t p-value of z with n − 1 degrees of freedom (few seeds: "
            f"the se is itself uncertain, so read z together with p).",
            "Locality: weight mass of a unit's receptive field (product of the weight matrices below it) within "
            "radius r of its centre, against the same weights shuffled over the sites; a layer is called local "
            f"when the excess at r = b exceeds {Z_HOLDS:g} se."]


def _listing(items) -> str:
    return ", ".join(map(str, items)) or "none"


def _verdict(out: dict) -> str:
    local = [x["layer"] for x in out["layers"] if x["local"]]
    nonlocal_ = [x["layer"] for x in out["layers"] if not x["local"]]
    tb = out["top_vs_blocks"]
    agree, differ, unmeasured = ([name for key, name in QUANTITIES.items() if tb[key]["agrees"] is flag]
                                 for flag in (True, False, None))
    missing = (f"; not measurable: {_listing(unmeasured)} (no pair of top-unit centres at the block distance — "
               "the top units do not tile the lattice)") if unmeasured else ""
    if agree and not out["layers"][-1]["local"]:
        missing += (". The top layer is not local, so its agreement is that of global (magnetisation-like) "
                    "units, not of a local coarse-graining")
    return ("**What holds and what does not.** Receptive fields local beyond the shuffled baseline in layer(s) "
            f"{_listing(local)}; not local in layer(s) {_listing(nonlocal_)}. The top layer agrees with "
            f"majority-rule block spins within {Z_HOLDS:g} se in: {_listing(agree)}; differs in: "
            f"{_listing(differ)}{missing}. Agreement of such summaries does not make the net an RG: the "
            "Mehta–Schwab mapping is exact only for an RBM that fits the data exactly, and "
            f"{CRITIQUE} argue that a coarse-graining must keep the long-range (mutual) information, which "
            "maximum-likelihood training does not require.")


__all__ = ["DEFAULTS", "SIZES", "PAPER", "parse_layers", "validate", "ising_configurations", "mean_se",
           "summarise", "parse_couplings", "add_deep_rg_section"]
