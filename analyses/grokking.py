r"""``physml run grokking``: delayed generalisation on a + b mod p as a phase transition in training time.

Three experiments, each a batch of networks (replicas) trained at once by one compiled PyTensor function
(:mod:`physml.models.grokking`):

* **grokking** (AdamW, ``seeds`` networks at ``train_fraction``, ``weight_decay``, ``lr``): the times
  t₁ (first recorded step with train accuracy 100 %) and t₂ (test accuracy ≥ 95 %), mean ± se over seeds;
  order parameters ‖w‖ and the embedding's effective number of Fourier frequencies N_eff, and for each the
  step at which it has made half of its move between t₁ and the end of training (t½), against the test
  accuracy's own t½ — an order parameter that *leads* moves before the test accuracy does;
* **phase diagram** over (weight decay × training fraction), ``grid_seeds`` networks per cell, each labelled
  (Liu et al. 2022, "Towards understanding grokking"): *confusion* (train accuracy never 100 %),
  *memorise* (train 100 %, test never ≥ 95 %), *grok* (t₂ > ``grok_ratio`` · t₁), *comprehend* (t₂ ≤
  ``grok_ratio`` · t₁); the cell shows the majority and the counts;
* **sharpness** at the end of training: the top Hessian eigenvalue (Lanczos) and trace (Hutchinson) of the
  training loss for each main network and one network per cell, against the final test accuracy;
* **Langevin** (gradient descent + noise at temperature T on U = L + λ‖w‖²/2, sampling e^{−U/T}; T = 0 is
  plain gradient descent) at ``train_fraction``: t₁, t₂ and the final test accuracy per T.

A time is *censored* when the run ends first: means are over the networks that got there, with the count.
Writes ``histories.nc`` (every record of every network), ``summary.json``, ``report.md`` and figures.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..inference.training.driver import adamw_update, langevin_update, train
from ..models import grokking as gk
from ..models import landscape as ls
from . import grokking_figures as figures
from .common import Progress, fmt, pm_fmt, save_datatree_atomic
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

METHODS = ("adamw", "langevin")
DEFAULTS = {"p": 23, "embed": 24, "hidden": 64, "train_fraction": 0.6, "weight_decay": 1.0, "lr": 0.01,
            "steps": 0, "seeds": 0, "record_every": 10, "grok_ratio": 3.0,
            "grid": "",  # "coarse" (default), "fine", or "wd1,wd2,...;f1,f2,..."
            "grid_seeds": 0, "temperatures": "0,1e-5,3e-5,1e-4", "langevin_step": 3.0,
            "langevin_weight_decay": 0.003, "langevin_seeds": 0}
GRIDS = {"coarse": ([0.1, 1.0, 10.0], [0.3, 0.6, 0.9]),
         "fine": ([0.03, 0.1, 0.3, 1.0, 3.0, 10.0], [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])}
QUICK_GRID = ([0.1, 1.0], [0.3, 0.8])
PHASES = ("confusion", "memorise", "grok", "comprehend")
TEST_TARGET = 0.95
#: accuracies come from the float32 network: "100 %" is anything within rounding of 1
FULL = 1.0 - 1e-5


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, methods, grid, temps = _validate(settings, methods, data, quick)
    out_dir, log, t_start = Path(out_dir), Progress("grokking", progress), time.perf_counter()
    arch = gk.Architecture(s["p"], s["embed"], s["hidden"])
    rng = np.random.default_rng(seed)
    trees, summary = {}, {"model": "grokking", "settings": {**s, **size, "quick": quick, "seed": seed,
                                                            "grid": {"weight_decay": grid[0], "train_fraction": grid[1]},
                                                            "temperatures": temps}}
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only contend
        if "adamw" in methods:
            log(f"AdamW: {size['seeds']} networks at the grokking point + {len(grid[0]) * len(grid[1])} cells × "
                f"{size['grid_seeds']} seeds, {size['steps']} steps")
            trees["adamw"] = _adamw_batch(arch, s, size, grid, rng)
        if "langevin" in methods:
            log(f"Langevin: T ∈ {temps} × {size['langevin_seeds']} seeds")
            trees["langevin"] = _langevin_batch(arch, s, size, temps, rng)
    save_datatree_atomic(xr.DataTree.from_dict({f"/{k}": v for k, v in trees.items()}), out_dir / "histories.nc")
    log("summary and figures")
    if "adamw" in trees:
        summary["grokking"] = _grokking_summary(trees["adamw"], s)
        summary["phase_diagram"] = _phase_diagram(trees["adamw"], grid, s["grok_ratio"])
        summary["curvature"] = _curvature_summary(trees["adamw"], s["grok_ratio"])
    if "langevin" in trees:
        summary["langevin"] = _langevin_summary(trees["langevin"], temps)
    report = _report(summary, s, size, arch)
    figs = figures.all_figures(out_dir / "figures", trees, summary)
    log("done")
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _validate(settings: dict, methods, data, quick: bool):
    if data:
        raise ValueError("the grokking analysis takes no data file (data must be empty)")
    methods = check_methods(list(methods or METHODS), allowed=METHODS)
    s = merge_settings(DEFAULTS, settings)
    gk.check_task(p=s["p"], train_fraction=s["train_fraction"], weight_decay=s["weight_decay"])
    if not s["langevin_weight_decay"] >= 0:
        raise ValueError(f"langevin_weight_decay must be >= 0, got {s['langevin_weight_decay']}")
    if s["p"] > 97:
        raise ValueError(f"p must be an integer between 2 and 97, got {s['p']}")
    for key in ("lr", "langevin_step", "grok_ratio"):
        if not s[key] > 0:
            raise ValueError(f"setting {key} must be > 0, got {s[key]}")
    size = resolve_sizes({k: s[k] for k in ("steps", "seeds", "grid_seeds", "langevin_seeds", "record_every")},
                         {"steps": 600, "seeds": 3, "grid_seeds": 1, "langevin_seeds": 2, "record_every": 10} if quick
                         else {"steps": 3000, "seeds": 6, "grid_seeds": 3, "langevin_seeds": 3, "record_every": 10})
    grid = QUICK_GRID if quick and not s["grid"] else _parse_grid(s["grid"] or "coarse")
    temps = _floats(s["temperatures"], "temperatures")
    for t in temps:
        gk.check_task(temperature=t)
    replicas = size["seeds"] + len(grid[0]) * len(grid[1]) * size["grid_seeds"] + len(temps) * size["langevin_seeds"]
    n_weights = s["p"] * s["embed"] + 2 * s["embed"] * s["hidden"] + s["hidden"] * (1 + s["p"])
    check_memory({"replicas × p² × hidden (activations)": 4 * replicas * s["p"] ** 2 * s["hidden"],
                  "replicas × weights (optimiser)": 6 * replicas * n_weights,
                  "steps / record_every × replicas (history)": 6 * replicas * (size["steps"] // size["record_every"] + 2)})
    return s, size, methods, grid, temps


def _floats(text: str, key: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"setting {key} must be a comma-separated list of numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"setting {key} must be a non-empty list of finite numbers, got {text!r}")
    return values


def _parse_grid(text: str) -> tuple[list[float], list[float]]:
    if text in GRIDS:
        return GRIDS[text]
    if text.count(";") != 1:
        raise ValueError(f"setting grid must be 'coarse', 'fine' or 'wd1,wd2,...;f1,f2,...', got {text!r}")
    wds, fractions = (_floats(part, "grid") for part in text.split(";"))
    for wd in wds:
        gk.check_task(weight_decay=wd)
    for f in fractions:
        gk.check_task(train_fraction=f)
    return wds, fractions


def _history_dataset(history, coords: dict) -> xr.Dataset:
    data = {k: (("step", "replica"), v) for k, v in history.records.items()}
    return xr.Dataset(data, coords={"step": history.steps, "replica": np.arange(history.records["loss"].shape[1]),
                                    **{k: ("replica", np.asarray(v)) for k, v in coords.items()}})


def _adamw_batch(arch, s: dict, size: dict, grid, rng: np.random.Generator) -> xr.Dataset:
    """The grokking-point seeds and every phase-diagram cell, trained together by AdamW."""
    n_main = size["seeds"]
    cells = [(wd, f) for wd in grid[0] for f in grid[1] for _ in range(size["grid_seeds"])]
    wds = np.array([s["weight_decay"]] * n_main + [c[0] for c in cells])
    fractions = np.array([s["train_fraction"]] * n_main + [c[1] for c in cells])
    masks = gk.training_masks(arch.p, fractions, rng)
    weights = gk.init_weights(arch, len(wds), rng)
    history = train(gk.objective(arch, masks), weights, adamw_update(lr=s["lr"], weight_decay=wds),
                    steps=size["steps"], record_every=size["record_every"], observe=gk.observe)
    group = np.array(["grokking"] * n_main + ["grid"] * len(cells))
    ds = _history_dataset(history, {"group": group, "weight_decay": wds, "train_fraction": fractions})
    first_of_cell = list(range(n_main)) + list(range(n_main, len(wds), size["grid_seeds"]))
    return ds.assign(_curvature(arch, history.params, masks, first_of_cell, rng))


def _curvature(arch, weights, masks, which: list[int], rng: np.random.Generator) -> dict:
    """Top eigenvalue (Lanczos) and trace (Hutchinson, 20 probes, ± se) of each chosen network's Hessian of its
    training loss L at the end of training (float64 Hessian-vector products); NaN for the others."""
    out = {k: np.full(len(masks), np.nan) for k in ("hessian_top", "hessian_trace", "hessian_trace_se")}
    exact = gk.Architecture(arch.p, arch.embed, arch.hidden, dtype="float64")
    n = sum(int(np.prod(w.shape[1:])) for w in weights)
    for r in which:
        hvp = gk.hessian_vector_product(exact, gk.Weights(*(w[r:r + 1] for w in weights)), masks[r:r + 1])
        out["hessian_top"][r] = ls.top_eigenvalues(hvp, n, k=1, seed=r)[0]
        out["hessian_trace"][r], out["hessian_trace_se"][r] = ls.hutchinson_trace(hvp, n, 20, rng)
    return {k: ("replica", v) for k, v in out.items()}


def _langevin_batch(arch, s: dict, size: dict, temps: list[float], rng: np.random.Generator) -> xr.Dataset:
    temperature = np.repeat(np.asarray(temps, dtype=float), size["langevin_seeds"])
    masks = gk.training_masks(arch.p, np.full(len(temperature), s["train_fraction"]), rng)
    weights = gk.init_weights(arch, len(temperature), rng)
    update = langevin_update(step_size=s["langevin_step"], temperature=temperature,
                             weight_decay=s["langevin_weight_decay"], rng=rng)
    history = train(gk.objective(arch, masks), weights, update, steps=size["steps"],
                    record_every=size["record_every"], observe=gk.observe)
    return _history_dataset(history, {"temperature": temperature})


def first_step(steps: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Per replica (columns of ``reached``, shaped (n_steps, R)): the first step where it is true, NaN if never."""
    hit = reached.any(axis=0)
    return np.where(hit, steps[np.argmax(reached, axis=0)].astype(float), np.nan)


def halfway_step(steps: np.ndarray, x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per replica: the first step ≥ ``start`` at which x has crossed the midpoint of x(start) and x(end)
    (in the direction of the net move; a detour the other way does not count); NaN without a start or move."""
    out = np.full(x.shape[1], np.nan)
    for r in range(x.shape[1]):
        if not math.isfinite(start[r]):
            continue
        i0 = int(np.searchsorted(steps, start[r]))
        direction = np.sign(x[-1, r] - x[i0, r])
        if direction != 0:  # the first crossing of the midpoint in the direction of the net move
            past = direction * (x[i0:, r] - 0.5 * (x[i0, r] + x[-1, r])) >= 0
            out[r] = steps[i0 + int(np.argmax(past))]
    return out


def transition_times(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """t₁ (train accuracy 100 %), t₂ (test ≥ 95 %) and the half-way steps of test accuracy and order parameters."""
    steps = ds["step"].values
    t1 = first_step(steps, ds["train_accuracy"].values >= FULL)
    t2 = first_step(steps, ds["test_accuracy"].values >= TEST_TARGET)
    out = {"t1": t1, "t2": t2}
    for key in ("test_accuracy", "weight_norm", "fourier_frequencies"):
        out[f"half_{key}"] = halfway_step(steps, ds[key].values, t1)
    return out


def mean_se(x) -> dict:
    """Mean ± se (sd/√n) over the finite values, with their count n and the total."""
    x = np.asarray(x, dtype=float)
    ok = x[np.isfinite(x)]
    se = float(ok.std(ddof=1) / math.sqrt(len(ok))) if len(ok) > 1 else None
    return {"mean": float(ok.mean()) if len(ok) else None, "se": se, "n": int(len(ok)), "of": int(len(x))}


def _grokking_summary(ds: xr.Dataset, s: dict) -> dict:
    at = ds.isel(replica=np.flatnonzero(ds["group"].values == "grokking"))
    times = transition_times(at)
    lead = {key: mean_se(times["half_test_accuracy"] - times[f"half_{key}"])
            for key in ("weight_norm", "fourier_frequencies")}
    final = at.isel(step=-1)
    return {"t1": mean_se(times["t1"]), "t2": mean_se(times["t2"]), "t2_over_t1": mean_se(times["t2"] / times["t1"]),
            "half_test_accuracy": mean_se(times["half_test_accuracy"]),
            "half_weight_norm": mean_se(times["half_weight_norm"]),
            "half_fourier_frequencies": mean_se(times["half_fourier_frequencies"]), "lead": lead,
            "per_seed": {k: [None if not math.isfinite(v) else v for v in times[k]] for k in ("t1", "t2")},
            "final_test_accuracy": mean_se(final["test_accuracy"].values),
            "final_fourier_frequencies": mean_se(final["fourier_frequencies"].values),
            "initial_fourier_frequencies": mean_se(at.isel(step=0)["fourier_frequencies"].values),
            "test_accuracy_at_t1": mean_se([float(at["test_accuracy"].sel(step=t).isel(replica=r))
                                            for r, t in enumerate(times["t1"]) if math.isfinite(t)])}


def classify(t1: float, t2: float, grok_ratio: float) -> str:
    """Liu et al.'s phases of one run from its t₁ and t₂ (NaN: never reached; see the module docstring)."""
    if not math.isfinite(t1):
        return "confusion"
    if not math.isfinite(t2):
        return "memorise"
    return "grok" if t2 > grok_ratio * max(t1, 1.0) else "comprehend"


def _phase_diagram(ds: xr.Dataset, grid, grok_ratio: float) -> list[dict]:
    at = ds.isel(replica=np.flatnonzero(ds["group"].values == "grid"))
    times = transition_times(at)
    phase = [classify(a, b, grok_ratio) for a, b in zip(times["t1"], times["t2"], strict=True)]
    cells = []
    for wd in grid[0]:
        for f in grid[1]:
            idx = np.flatnonzero((at["weight_decay"].values == wd) & (at["train_fraction"].values == f))
            counts = {p: sum(phase[i] == p for i in idx) for p in PHASES}
            cells.append({"weight_decay": wd, "train_fraction": f, "counts": counts,
                          "phase": max(PHASES, key=lambda p: counts[p]), "t1": mean_se(times["t1"][idx]),
                          "t2": mean_se(times["t2"][idx]),
                          "final_test_accuracy": mean_se(at["test_accuracy"].isel(step=-1).values[idx])})
    return cells


def _langevin_summary(ds: xr.Dataset, temps: list[float]) -> list[dict]:
    times = transition_times(ds)
    rows = []
    for t in temps:
        idx = np.flatnonzero(ds["temperature"].values == t)
        last = ds.isel(step=-1, replica=idx)
        rows.append({"temperature": t, "t1": mean_se(times["t1"][idx]), "t2": mean_se(times["t2"][idx]),
                     "final_train_accuracy": mean_se(last["train_accuracy"].values),
                     "final_test_accuracy": mean_se(last["test_accuracy"].values),
                     "final_loss": mean_se(last["loss"].values),
                     "final_weight_norm": mean_se(last["weight_norm"].values)})
    return rows


def cell(m: dict, digits: int = 3) -> str:
    """``mean ± se (n/of)`` of a :func:`mean_se` record."""
    if m["mean"] is None:
        return f"— (0/{m['of']})"
    count = "" if m["n"] == m["of"] else f" ({m['n']}/{m['of']})"
    return (pm_fmt(m["mean"], m["se"], digits) if m["se"] else fmt(m["mean"], digits)) + count


def _report(summary: dict, s: dict, size: dict, arch) -> Report:
    report = Report("Grokking: delayed generalisation on a + b mod p as a phase transition in training time",
                    f"All p² = {arch.p ** 2} pairs (a, b) of Z_{arch.p}, label (a + b) mod {arch.p}; a network with a "
                    f"shared {arch.embed}-dimensional embedding and one ReLU hidden layer of width {arch.hidden} "
                    "(models/grokking.py), full-batch training for "
                    f"{size['steps']} steps, every network recorded every {size['record_every']} steps. "
                    "Energy U(w) = mean cross-entropy on the training pairs + (λ/2)‖w‖²; AdamW applies λ as "
                    "decoupled decay, Langevin samples e^{−U/T}. References: Power et al. 2022 (arXiv:2201.02177), "
                    "Liu et al. 2022 (arXiv:2205.10343), Nanda et al. 2023 (arXiv:2301.05217).")
    extra = []
    g = summary.get("grokking")
    if g and g["t2"]["n"] < g["t2"]["of"]:
        extra.append(f"only {g['t2']['n']} of {g['t2']['of']} networks at the grokking point reached "
                     f"{TEST_TARGET:.0%} test accuracy within {size['steps']} steps: t₂ is censored (the default "
                     "run trains 3000 steps; --quick only 600)")
    summary["warnings"] = report.check(extra=extra)
    if g:
        _grokking_section(report, g, s, size)
    if "phase_diagram" in summary:
        _phase_section(report, summary["phase_diagram"], summary["settings"]["grid"], s, size)
    if "curvature" in summary:
        _curvature_section(report, summary["curvature"])
    if "langevin" in summary:
        _langevin_section(report, summary["langevin"], s)
    return report


def _curvature_summary(ds: xr.Dataset, grok_ratio: float) -> dict:
    """Per network with a Hessian: its group, phase, top eigenvalue, trace ± se, final test accuracy; and the
    Spearman rank correlation of each sharpness measure with the final test accuracy."""
    from scipy.stats import spearmanr
    at = ds.isel(replica=np.flatnonzero(np.isfinite(ds["hessian_top"].values)))
    times = transition_times(at)
    rows = [{"group": str(at["group"].values[r]), "weight_decay": float(at["weight_decay"].values[r]),
             "train_fraction": float(at["train_fraction"].values[r]),
             "phase": classify(times["t1"][r], times["t2"][r], grok_ratio),
             "hessian_top": float(at["hessian_top"].values[r]), "hessian_trace": float(at["hessian_trace"].values[r]),
             "hessian_trace_se": float(at["hessian_trace_se"].values[r]),
             "test_accuracy": float(at["test_accuracy"].isel(step=-1).values[r])} for r in range(at.sizes["replica"])]
    test = [r["test_accuracy"] for r in rows]
    corr = {}
    for key in ("hessian_top", "hessian_trace"):
        rho = spearmanr([r[key] for r in rows], test).statistic if len(rows) > 2 else float("nan")
        corr[key] = None if not math.isfinite(rho) else float(rho)
    return {"networks": rows, "spearman_with_test_accuracy": corr}


def _curvature_section(report: Report, c: dict) -> None:
    rows = [[r["group"], r["weight_decay"], r["train_fraction"], r["phase"], fmt(r["hessian_top"], 3),
             pm_fmt(r["hessian_trace"], r["hessian_trace_se"], 3), fmt(r["test_accuracy"], 3)] for r in c["networks"]]
    rho = c["spearman_with_test_accuracy"]
    report.section("Sharpness at the end of training: the Hessian of the training loss L").table(
        ["networks", "λ", "train fraction", "phase", "top eigenvalue (Lanczos)", "trace (Hutchinson ± se)",
         "final test accuracy"], rows).add(
        f"Spearman rank correlation with the final test accuracy: top eigenvalue {fmt(rho['hessian_top'], 2)}, "
        f"trace {fmt(rho['hessian_trace'], 2)} (negative: flatter networks generalise better). The networks end "
        "at different weight norms, and sharpness is not invariant under rescaling the layers (Dinh et al. "
        "2017; a ReLU layer's weights × α and the next ÷ α give the same function), so this is a description "
        "of these runs, not a test of the flat-minima claim; the local free energy F_γ(w) "
        "(physml.inference.training.local_free_energy: Laplace and TI over γ, tested against the exact "
        "Gaussian integral) is the measure the issue asks for next.")


def _grokking_section(report: Report, g: dict, s: dict, size: dict) -> None:
    report.section(f"Delayed generalisation at train fraction {s['train_fraction']:g}, weight decay "
                   f"{s['weight_decay']:g}, AdamW lr {s['lr']:g} (mean ± se over seeds)").table(
        ["quantity", "steps (mean ± se; (n/of) where some never got there)"],
        [["t₁: train accuracy 100 %", cell(g["t1"])], [f"t₂: test accuracy ≥ {TEST_TARGET:.0%}", cell(g["t2"])],
         ["t₂ / t₁", cell(g["t2_over_t1"])], ["test accuracy at t₁", cell(g["test_accuracy_at_t1"])],
         ["final test accuracy", cell(g["final_test_accuracy"])],
         ["t½ test accuracy (half-way from t₁ to the end)", cell(g["half_test_accuracy"])],
         ["t½ weight norm ‖w‖", cell(g["half_weight_norm"])],
         ["t½ Fourier N_eff of the embedding", cell(g["half_fourier_frequencies"])],
         ["lead of ‖w‖: t½(test) − t½(‖w‖)", cell(g["lead"]["weight_norm"])],
         ["lead of N_eff: t½(test) − t½(N_eff)", cell(g["lead"]["fourier_frequencies"])],
         ["N_eff at step 0 → end", f"{cell(g['initial_fourier_frequencies'])} → {cell(g['final_fourier_frequencies'])}"]]
    ).add(f"Chance is 1/p = {1 / s['p']:.3f}. Times are on the recording grid (every {size['record_every']} steps; "
          "a mean without ± had the same value for every seed). A positive lead means the order parameter made half of its move "
          "before the test accuracy made half of its own (Nanda et al.'s progress measures).")


def _phase_section(report: Report, cells: list[dict], grid: dict, s: dict, size: dict) -> None:
    by = {(c["weight_decay"], c["train_fraction"]): c for c in cells}
    rows = [[f"λ = {wd:g}"] + [f"**{by[wd, f]['phase']}** " + ", ".join(
        f"{k[:4]} {v}" for k, v in by[wd, f]["counts"].items() if v) for f in grid["train_fraction"]]
        for wd in grid["weight_decay"]]
    report.section(f"Phase diagram: weight decay × training fraction ({size['grid_seeds']} seeds per cell, "
                   f"{size['steps']} steps)").table(
        ["weight decay \\ train fraction"] + [f"{f:g}" for f in grid["train_fraction"]], rows).add(
        f"confusion: train accuracy never 100 %; memorise: train 100 %, test never ≥ {TEST_TARGET:.0%}; "
        f"grok: t₂ > {s['grok_ratio']:g} t₁; comprehend: t₂ ≤ {s['grok_ratio']:g} t₁ (Liu et al. 2022). Bold: the "
        "majority; then the counts. A finer grid: `--set grid=fine`, or `--set 'grid=0.1,1,10;0.3,0.5,0.7'`.")


def _langevin_section(report: Report, rows: list[dict], s: dict) -> None:
    report.section(f"Temperature: Langevin dynamics at step {s['langevin_step']:g}, weight decay "
                   f"{s['langevin_weight_decay']:g}, train fraction {s['train_fraction']:g}").table(
        ["T", "t₁", "t₂", "final train accuracy", "final test accuracy", "final training loss L", "final ‖w‖"],
        [[r["temperature"], cell(r["t1"]), cell(r["t2"]), cell(r["final_train_accuracy"]),
          cell(r["final_test_accuracy"]), cell(r["final_loss"]), cell(r["final_weight_norm"])] for r in rows]).add(
        "w' = w − η∇U + √(2ηT) ξ samples e^{−U/T} (up to O(η)); T = 0 is plain full-batch gradient descent. "
        "At stationarity each weight fluctuates by about √(T/λ) in the directions the loss does not pin down.")
