r"""``physml run diffusion``: the VP-SDE forward process, its time reversal and the exact likelihood on
Gaussian-mixture data, every step against the closed form (``physml.models.diffusion``).

Forward: p_t in closed form vs the finite-volume Fokker–Planck solution (L¹ error over grid sizes, observed
order) vs Euler–Maruyama particles (histogram L¹ against its multinomial noise level), on the first
coordinate (the OU process factorises over coordinates, so that marginal evolves on its own); KL(p_t‖N(0, I))
and its rate −dKL/dt = ½β E|∇ln p_t + x|² (entropy production).
Reverse: samples from N(0, I) pushed back by the reverse SDE (Euler–Maruyama) and the probability-flow ODE
(Heun) with the **exact** score; distances to fresh data samples (Wasserstein-1 and energy distance per
coordinate, SciPy) with error bars over repeats against the data-vs-data two-sample floor, and the weak
error of E|x|² (exact Σ w_k(|m_k|² + d s_k²)) over step counts with its observed order.
Likelihood: ln p of held-out points through the probability-flow ODE (instantaneous change of variables,
exact divergence) vs the exact ln p_0 (target |error| < 0.05 nats/point).
Learned score (``analyses/diffusion_score.py``): denoising score matching as Bayesian linear regression —
conjugate posterior, NUTS and mean-field ADVI (``--methods nuts,advi``; the default run has both, ``--quick``
neither unless named), generated samples with a posterior band, score error vs ln p_t, quality vs features and
training points, and the diffusion bound vs the exact −ln p.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

from ..inference.diffusion import (FokkerPlanckGrid, LinearBetaSchedule, check_time, fokker_planck_solve,
                                   forward_euler_maruyama, observed_order, probability_flow,
                                   probability_flow_log_likelihood, reverse_euler_maruyama)
from ..models import diffusion as dm
from ..models import diffusion_score as dsc
from .common import Progress, save_datatree_atomic
from . import diffusion_score as learned
from . import diffusion_score_report as learned_report
from . import diffusion_speed
from .diffusion_report import build_report, figures
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

DEFAULTS = {
    "dataset": "ring8", "beta_min": 0.1, "beta_max": 20.0, "times": "0,0.05,0.1,0.2,0.4,1",
    "particles": 0, "repeats": 0, "max_steps": 0, "fp_cells": 0, "likelihood_points": 0, "likelihood_steps": 0,
    "features": 0, "train_points": 0, "v0": 1.0, "sweep_features": "", "sweep_points": "",
    "bayes_draws": 0, "posterior_draws": 0, "learned_particles": 0, "learned_steps": 0, "sweep_repeats": 0,
    "bound_points": 0, "bound_times": 0,
}
GENERATION_METHODS = ("reverse_sde", "probability_flow")
ALL_METHODS = GENERATION_METHODS + learned.METHODS
LIKELIHOOD_TARGET = 0.05  # nats per point
QUICK = {"particles": 800, "repeats": 3, "max_steps": 80, "fp_cells": 200, "likelihood_points": 40,
         "likelihood_steps": 50, "features": 30, "train_points": 500, "bayes_draws": 300, "posterior_draws": 6,
         "learned_particles": 500, "learned_steps": 60, "sweep_repeats": 2, "bound_points": 60, "bound_times": 100}
FULL = {"particles": 3000, "repeats": 5, "max_steps": 320, "fp_cells": 800, "likelihood_points": 300,
        "likelihood_steps": 100, "features": 50, "train_points": 2000, "bayes_draws": 500, "posterior_draws": 20,
        "learned_particles": 2000, "learned_steps": 100, "sweep_repeats": 3, "bound_points": 200,
        "bound_times": 400}
SWEEP = {True: ("10,30", "250,500"), False: ("10,30,100,200", "250,1000,2000")}


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, methods, fp, times = _validate(settings, methods, data, quick)
    out_dir, log, t_start = Path(out_dir), Progress("diffusion", progress), time.perf_counter()
    log("forward process: closed form, Fokker–Planck, particles")
    forward = forward_section(fp, times, size, seed)
    log("time reversal with the exact score")
    generation = generation_section(fp, [m for m in methods if m in GENERATION_METHODS], size, seed + 1)
    log("probability-flow likelihood")
    likelihood = likelihood_section(fp, size, seed + 2)
    learned_out = learned_section(fp, methods, s, size, seed + 4, likelihood["summary"]["prior_kl"], log)
    if not quick:  # compiling the kernels would take most of a quick run
        log("speed: compiled vs NumPy reverse SDE")
    speed = None if quick else diffusion_speed.speed_section(fp, seed + 5)
    summary = {"model": "diffusion",
               "settings": {**s, **size, "methods": methods, "quick": quick, "seed": seed},
               "data": {"source": fp.data.source, "dim": fp.data.dim, "components": int(fp.data.weights.size),
                        "second_moment": fp.data.second_moment()},
               "forward": forward["summary"], "generation": generation["summary"], "likelihood": likelihood["summary"],
               "learned_score": learned_out["summary"], "speed": speed}
    tree = _tree(forward, generation, likelihood)
    tree["learned_score"] = learned.result_dataset(learned_out["summary"])
    save_datatree_atomic(tree, out_dir / "diffusion.nc")
    for m, dt in learned_out["trees"].items():
        save_datatree_atomic(dt, out_dir / f"score_{m}.nc")
    log("figures")
    figs = figures(out_dir / "figures", fp, forward, generation, likelihood, seed + 3)
    figs += learned_report.figures(out_dir / "figures", fp, learned_out["summary"], learned_out["samples"])
    report = build_report(summary, LIKELIHOOD_TARGET, fits=learned_out["trees"],
                          extra=learned_report.warnings(learned_out["summary"]))
    learned_report.add_sections(report, learned_out["summary"])
    if speed is not None:
        diffusion_speed.add_speed_section(report, speed)
    summary["warnings"] = report.warnings
    log("done")
    return report.save(out_dir, summary, figures=figs, started=t_start)


def _validate(settings: dict, methods, data, quick: bool):
    """Typed settings, sizes, methods, the forward process and the forward-section times; ValueError otherwise."""
    s = merge_settings(DEFAULTS, settings)
    if s["dataset"] not in dm.BUILTINS:
        raise ValueError(f"setting dataset must be one of {sorted(dm.BUILTINS)}, got {s['dataset']!r}")
    schedule = LinearBetaSchedule(float(s["beta_min"]), float(s["beta_max"]))
    try:
        times = sorted({float(v) for v in str(s["times"]).split(",")})
    except ValueError:
        raise ValueError(f"setting times must be comma-separated numbers in [0, 1], got {s['times']!r}") from None
    check_time(times, "setting times")
    size = resolve_sizes(s, QUICK if quick else FULL)
    if size["max_steps"] < 10 or size["fp_cells"] < 50 or size["particles"] < 2 or size["repeats"] < 2:
        raise ValueError("settings max_steps >= 10, fp_cells >= 50, particles >= 2 and repeats >= 2 are needed, "
                         f"got {size['max_steps']}, {size['fp_cells']}, {size['particles']}, {size['repeats']}")
    mixture = dm.mixture_from_points(dm.load_points(data), f"--data {data}") if data else dm.BUILTINS[s["dataset"]]()
    k, d = mixture.weights.size, mixture.dim
    check_memory({"particles × components × dim": size["particles"] * k * (d + 2) * 4,
                  "likelihood_points × components × dim": size["likelihood_points"] * k * (d + 2) * 8,
                  "fp_cells × times": size["fp_cells"] * (len(times) + 8)})
    methods = list(methods) if methods else list(GENERATION_METHODS if quick else ALL_METHODS)
    check_methods(methods, allowed=ALL_METHODS)
    _validate_learned(s, size, quick)
    return s, size, methods, dm.ForwardProcess(mixture, schedule), times


def _int_list(s: dict, key: str, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in str(s[key]).split(",")]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise ValueError(f"setting {key} must be comma-separated integers >= {minimum}, got {s[key]!r}")
    return values


def _validate_learned(s: dict, size: dict, quick: bool) -> None:
    """The learned-score settings (in place: sweep lists filled from SWEEP); ValueError naming the setting."""
    for key, low in (("features", 1), ("train_points", 2), ("bayes_draws", 10), ("posterior_draws", 2),
                     ("learned_particles", 2), ("learned_steps", 2), ("sweep_repeats", 2), ("bound_points", 2),
                     ("bound_times", 2)):
        if size[key] < low:
            raise ValueError(f"setting {key} must be an integer >= {low}, got {size[key]}")
    if not (np.isfinite(float(s["v0"])) and float(s["v0"]) > 0):
        raise ValueError(f"setting v0 must be a finite number > 0, got {s['v0']!r}")
    for key, default, low in (("sweep_features", SWEEP[quick][0], 1), ("sweep_points", SWEEP[quick][1], 2)):
        s[key] = s[key] or default
        _int_list(s, key, low)


def learned_section(fp: dm.ForwardProcess, methods: list[str], s: dict, size: dict, seed: int, prior_kl: dict,
                    log) -> dict:
    """The Bayesian DSM fit (conjugate, NUTS, ADVI), generation band, error map, sweep and bound."""
    log("learned score: conjugate posterior, NUTS / ADVI")
    bs = dsc.fit_conjugate(fp, size["features"], size["train_points"], seed, v0=float(s["v0"]))
    fits = learned.posterior_fits(bs, [m for m in methods if m in learned.METHODS], size, seed + 1)
    fits["summary"]["features"] = size["features"]
    log("learned score: generation band, error map, sweep, bound")
    gen = learned.generation_band(fp, bs, size, seed + 2)
    summary = {"posterior": fits["summary"], "generation": gen["summary"],
               "density": learned.score_error_by_density(fp, bs, seed + 3),
               "sweep": learned.quality_sweep(fp, size, seed + 4, s),
               "bound": learned.bound_section(fp, bs, size, seed + 5, prior_kl)["summary"]}
    return {"summary": summary, "trees": fits["trees"], "samples": gen["samples"]}


def _cells(largest: int) -> list[int]:
    sizes = [largest]
    while sizes[-1] // 2 >= 50:
        sizes.append(sizes[-1] // 2)
    return sorted(sizes)


def forward_section(fp: dm.ForwardProcess, times: list[float], size: dict, seed: int) -> dict:
    """First-coordinate densities over time: exact cell masses, FP on each grid (L¹ and order), particles."""
    marginal = dm.ForwardProcess(fp.data.marginal(0), fp.schedule)
    half = float(np.max(np.abs(marginal.data.means)) + 8 * np.sqrt(marginal.data.variances.max()) + 4)
    cells, l1 = _cells(size["fp_cells"]), []
    for n in cells:
        grid = FokkerPlanckGrid(half, n)
        masses = fokker_planck_solve(grid, np.diff(marginal.data.cdf(grid.edges)), fp.schedule, times)
        exact = np.stack([np.diff(marginal.at(t).cdf(grid.edges)) for t in times])
        l1.append(np.abs(masses - exact).sum(axis=1))
    l1 = np.array(l1)
    orders = [observed_order(cells, l1[:, j]) if np.all(l1[:, j] > 0) and len(cells) > 1 else float("nan")
              for j in range(len(times))]
    rng = np.random.default_rng(seed)
    n_part, coarse = 20 * size["particles"], FokkerPlanckGrid(half, 80)
    x, t_prev, hist, noise = fp.data.sample(n_part, rng)[:, :1], 0.0, [], []
    for t in times:  # Euler–Maruyama with h ≈ 1e-3 between consecutive report times
        if t > t_prev:
            x = forward_euler_maruyama(x, fp.schedule, max(1, round(1000 * (t - t_prev))), rng, t0=t_prev, t1=t)
        t_prev = t
        m_exact = np.diff(marginal.at(t).cdf(coarse.edges))
        hist.append(np.histogram(x[:, 0], coarse.edges)[0] / n_part)
        noise.append(float(np.sum(np.sqrt(2 * m_exact * (1 - m_exact) / (np.pi * n_part)))))  # E|multinomial − m|
    kl = [marginal.kl_to_prior(t) if fp.data.dim == 1 else fp.kl_to_prior(t, rng=rng) for t in times]
    ent = [marginal.entropy_production(t) if fp.data.dim == 1 else fp.entropy_production(t, rng=rng) for t in times]
    particle_l1 = [float(np.abs(h - np.diff(marginal.at(t).cdf(coarse.edges))).sum()) for h, t in zip(hist, times)]
    summary = {"times": times, "fp_cells": cells, "fp_l1": l1.tolist(), "fp_order": orders,
               "particles": n_part, "particle_steps": 1000, "particle_l1": particle_l1, "particle_l1_noise": noise,
               "kl_to_prior": kl, "entropy_production": ent}
    return {"summary": summary, "grid": FokkerPlanckGrid(half, cells[-1]), "fp_masses": masses, "exact_masses": exact,
            "coarse": coarse, "particle_masses": np.array(hist), "marginal": marginal}


def _generate(fp, method: str, x1: np.ndarray, steps: int, rng) -> np.ndarray:
    if method == "reverse_sde":
        return reverse_euler_maruyama(x1, fp.score, fp.schedule, steps, rng)
    return probability_flow(x1, fp.score, fp.schedule, steps, method="heun")


def generation_section(fp: dm.ForwardProcess, methods: list[str], size: dict, seed: int) -> dict:
    """Distances (W1, energy) and the weak error of E|x|² over step counts, repeats as error bars."""
    n, reps = size["particles"], size["repeats"]
    steps = [s for s in (10, 20, 40, 80, 160, 320, 640, 1280) if s <= size["max_steps"]]
    m2 = fp.data.second_moment()
    rng = np.random.default_rng(seed)
    floor = np.array([learned.distances(fp.data.sample(n, rng), fp.data.sample(n, rng)) for _ in range(reps)])
    dist = np.zeros((len(methods), len(steps), reps, 2))
    moment = np.zeros((len(methods), len(steps), reps))
    last = {}
    pathwise = np.zeros((len(steps), reps))
    refs = []
    for r in range(reps):
        x1 = rng.standard_normal((n, fp.data.dim))
        if "probability_flow" in methods:
            refs.append(_generate(fp, "probability_flow", x1[:200], 4 * steps[-1], rng))
        for i, m in enumerate(methods):
            for j, k in enumerate(steps):
                x = _generate(fp, m, x1, k, rng)
                dist[i, j, r] = learned.distances(x, fp.data.sample(n, rng))
                moment[i, j, r] = np.mean(np.sum(x**2, axis=1)) - m2
                last[m] = x
                if m == "probability_flow":  # deterministic map: pathwise error against 4× the largest step count
                    pathwise[j, r] = np.mean(np.linalg.norm(x[:200] - refs[r], axis=1))
    summary = {"steps": steps, "particles": n, "repeats": reps, "floor": _mean_se(floor), "methods": {}}
    for i, m in enumerate(methods):
        err, se = moment[i].mean(axis=1), moment[i].std(axis=1, ddof=1) / np.sqrt(reps)
        resolved = np.abs(err) > 3 * se
        order = observed_order(np.array(steps)[resolved], np.abs(err[resolved])) if resolved.sum() >= 2 else None
        summary["methods"][m] = {"distances": [_mean_se(dist[i, j]) for j in range(len(steps))],
                                 "second_moment_error": err.tolist(), "second_moment_se": se.tolist(),
                                 "weak_order": order, "order_from_steps": np.array(steps)[resolved].tolist()}
    if "probability_flow" in methods:
        path = pathwise.mean(axis=1)
        summary["methods"]["probability_flow"].update(pathwise_error=path.tolist(), pathwise_order=observed_order(
            steps, path) if np.all(path > 0) else None)
    return {"summary": summary, "distances": dist, "moment": moment, "floor": floor, "samples": last}


def _mean_se(a: np.ndarray) -> dict:
    """Mean ± se over repeats (axis 0) of (W1, energy distance)."""
    mean, se = a.mean(axis=0), a.std(axis=0, ddof=1) / np.sqrt(a.shape[0])
    return {"wasserstein": float(mean[0]), "wasserstein_se": float(se[0]), "energy": float(mean[1]),
            "energy_se": float(se[1])}


def likelihood_section(fp: dm.ForwardProcess, size: dict, seed: int) -> dict:
    """ln p of held-out data points by the probability-flow ODE (prior N(0, I): the model) vs exact ln p_0."""
    x = fp.data.sample(size["likelihood_points"], np.random.default_rng(seed))
    prior = lambda z: np.sum(stats.norm.logpdf(z), axis=1)  # noqa: E731
    ll, _ = probability_flow_log_likelihood(x, fp.score, fp.divergence, fp.schedule, size["likelihood_steps"], prior)
    exact = fp.data.log_density(x)
    err = ll - exact
    summary = {"points": int(x.shape[0]), "steps": size["likelihood_steps"], "method": "rk4",
               "mean_abs_error": float(np.abs(err).mean()), "max_abs_error": float(np.abs(err).max()),
               "mean_error": float(err.mean()), "mean_error_se": float(err.std(ddof=1) / np.sqrt(err.size)),
               "model_neg_log_p": float(-ll.mean()), "exact_neg_log_p": float(-exact.mean()),
               "exact_neg_log_p_se": float(exact.std(ddof=1) / np.sqrt(err.size)),
               "prior_kl": fp.kl_to_prior(1.0)}
    return {"summary": summary, "x": x, "model": ll, "exact": exact}


def _tree(forward: dict, generation: dict, likelihood: dict) -> xr.DataTree:
    g, s = generation, generation["summary"]
    fwd = xr.Dataset({"fp_mass": (("time", "cell"), forward["fp_masses"]),
                      "exact_mass": (("time", "cell"), forward["exact_masses"]),
                      "particle_mass": (("time", "coarse_cell"), forward["particle_masses"])},
                     coords={"time": forward["summary"]["times"], "cell": forward["grid"].centres,
                             "coarse_cell": forward["coarse"].centres})
    gen = xr.Dataset({"distance": (("method", "steps", "repeat", "metric"), g["distances"]),
                      "second_moment_error": (("method", "steps", "repeat"), g["moment"]),
                      "floor": (("repeat", "metric"), g["floor"])},
                     coords={"method": list(s["methods"]), "steps": s["steps"], "metric": ["wasserstein", "energy"]})
    lik = xr.Dataset({"log_p_model": ("point", likelihood["model"]), "log_p_exact": ("point", likelihood["exact"])})
    return xr.DataTree.from_dict({"forward": fwd, "generation": gen, "likelihood": lik})
