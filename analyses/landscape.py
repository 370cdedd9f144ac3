r"""``physml run landscape``: flatness of memorising and generalising minima as a local free energy.

A teacher–student problem small enough for the exact dense Hessian (:class:`physml.models.landscape.TeacherStudent`:
a squared-ReLU student with :math:`d = H(D+2)+1` weights, :math:`n` noisy teacher outputs, loss :math:`L` in nats).
Two regimes, ``seeds`` networks each, trained by L-BFGS to minima of :math:`U_\lambda = L + \tfrac\lambda2\lVert
w\rVert^2`: **no weight decay** (:math:`\lambda = 0`: the student interpolates the noise, memorises) and
**weight decay** (:math:`\lambda` = ``weight_decay``: it generalises better). At every minimum :math:`w`:

* the exact spectrum of :math:`\nabla^2 L(w)`: top eigenvalue, trace, and the same for the elementwise-normalised
  :math:`D H D`, :math:`D = \mathrm{diag}(|w|)` (invariant under layer rescaling);
* the local free energy :math:`F_\gamma(w) = -\ln\int e^{-L(w') - \gamma\lVert w'-w\rVert^2/2}dw'` by Laplace and by
  TI over γ (:mod:`physml.inference.training.local_free_energy`, MALA rungs, se = MCSE ⊕ discretisation);
* the test error (mean squared distance to the teacher on fresh inputs).

Then: Spearman's ρ of each flatness measure with the test error over all minima, with a permutation p-value
(``scipy.stats.permutation_test``), pooled and within each regime; the Dinh et al. (2017) rescaling
:math:`(W, b, a) \to (\alpha W, \alpha b, a/\alpha^2)` at one minimum (function unchanged, sharpness not); and mode
connectivity between two minima of each regime: :math:`U_\lambda` along the straight line and along an optimised
quadratic Bézier curve (:mod:`physml.inference.training.mode_connectivity`), with barrier heights.
Writes ``landscape.nc`` (spectra, F_γ(γ) curves, paths), ``summary.json``, ``report.md`` and figures.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

from ..inference.training import mode_connectivity as mc
from ..inference.training.local_free_energy import laplace_local_free_energy, ti_local_free_energy
from ..models import landscape as ls
from . import landscape_figures as figures
from .common import Progress, fmt, pm_fmt, save_datatree_atomic
from .report import Report
from .settings import check_memory, check_methods, merge_settings, resolve_sizes

METHODS = ("laplace", "ti")
DEFAULTS = {"dim": 4, "hidden": 20, "teacher_hidden": 2, "n_train": 30, "sigma": 0.3, "n_test": 2000,
            "weight_decay": 1.0, "seeds": 0, "gamma": 30.0, "gamma_max": 1e4, "ti_rungs": 0, "ti_draws": 0,
            "alpha": 3.0, "bezier_points": 32, "permutations": 9999}
MEASURES = {"hessian_top": "top eigenvalue of ∇²L", "hessian_trace": "tr ∇²L",
            "normalised_top": "top eigenvalue of D∇²L D", "normalised_trace": "tr D∇²L D",
            "F_laplace": "F_γ Laplace", "F_ti": "F_γ TI", "weight_norm": "‖w‖"}
MAX_WEIGHTS = 500


def run(out_dir: Path, *, settings: dict, methods: list[str] | None, quick: bool, seed: int,
        data: str | None, progress: bool) -> dict:
    s, size, methods = _validate(settings, methods, data, quick)
    out_dir, log, t_start = Path(out_dir), Progress("landscape", progress), time.perf_counter()
    rng = np.random.default_rng(seed)
    problem = ls.teacher_student(dim=s["dim"], hidden=s["hidden"], teacher_hidden=s["teacher_hidden"],
                                 n_train=s["n_train"], sigma=s["sigma"], n_test=s["n_test"], rng=rng)
    regimes = {"no weight decay": 0.0, "weight decay": s["weight_decay"]}
    summary = {"model": "landscape", "settings": {**s, **size, "quick": quick, "seed": seed, "methods": methods,
                                                  "n_weights": problem.n_weights}}
    gammas = np.geomspace(max(s["gamma"] / 10, 1e-3), s["gamma_max"], 9)
    with threadpool_limits(limits=1, user_api="blas"):
        log(f"training {size['seeds']} networks per regime (d = {problem.n_weights})")
        minima = [(name, lam, _train(problem, lam, rng)) for name, lam in regimes.items() for _ in range(size["seeds"])]
        log("Hessians and local free energies")
        rows, records, spectra, curves = [], [], [], []
        for i, (name, lam, w) in enumerate(minima):
            row, rec, spectrum, curve = _measure(problem, name, lam, w, s, size, methods, gammas, rng)
            rows.append({"index": i, **row})
            records += [(f"{name} #{i}", rec)] if rec is not None else []
            spectra.append(spectrum)
            curves.append(curve)
        log("rescaling and mode connectivity")
        summary["rescaling"] = _rescaling(problem, minima[-1][2], s)
        paths = {name: _connect(problem, lam, [w for n, _, w in minima if n == name][:2], s, rng)
                 for name, lam in regimes.items()}
    summary["minima"] = rows
    summary["correlations"] = _correlations(rows, list(regimes), s["permutations"], rng)
    summary["mode_connectivity"] = {k: {key: v[key] for key in ("line_barrier", "bezier_barrier", "end_losses")}
                                    for k, v in paths.items()}
    tree = _tree(rows, spectra, curves, gammas, paths)
    save_datatree_atomic(tree, out_dir / "landscape.nc")
    log("report and figures")
    return _report(summary, records, s, size, problem).save(
        out_dir, summary, figures=figures.all_figures(out_dir / "figures", tree, summary), started=t_start)


def _validate(settings: dict, methods, data, quick: bool):
    if data:
        raise ValueError("the landscape analysis takes no data file (data must be empty)")
    methods = check_methods(list(methods or METHODS), allowed=METHODS)
    s = merge_settings(DEFAULTS, settings)
    for key in ("sigma", "gamma", "alpha"):
        if not s[key] > 0:
            raise ValueError(f"setting {key} must be > 0, got {s[key]}")
    if not s["weight_decay"] > 0:
        raise ValueError(f"setting weight_decay must be > 0 (the other regime is 0), got {s['weight_decay']}")
    if not s["gamma_max"] > s["gamma"]:
        raise ValueError(f"setting gamma_max must be > gamma = {s['gamma']}, got {s['gamma_max']}")
    for key in ("dim", "hidden", "teacher_hidden", "n_train", "n_test", "bezier_points", "permutations"):
        if not 1 <= s[key] <= 100_000:
            raise ValueError(f"setting {key} must be an integer between 1 and 100000, got {s[key]}")
    d = s["hidden"] * (s["dim"] + 2) + 1
    if d > MAX_WEIGHTS:
        raise ValueError(f"the student has hidden·(dim+2)+1 = {d} weights; settings hidden and dim must keep it "
                         f"<= {MAX_WEIGHTS} (the Hessian is dense)")
    size = resolve_sizes({k: s[k] for k in ("seeds", "ti_rungs", "ti_draws")},
                         {"seeds": 2, "ti_rungs": 5, "ti_draws": 150} if quick
                         else {"seeds": 5, "ti_rungs": 9, "ti_draws": 300})
    if size["seeds"] < 2:
        raise ValueError(f"setting seeds must be >= 2 (two minima per regime to connect), got {size['seeds']}")
    check_memory({"test inputs × hidden × 2 regimes × seeds": 8 * s["n_test"] * s["hidden"] * 2 * size["seeds"],
                  "Hessians (d²) × 2 regimes × seeds": 8 * d * d * 2 * size["seeds"]})
    return s, size, methods


def _objective(problem: ls.TeacherStudent, lam: float):
    """U_λ(W) = L(W) + λ/2 ‖W‖² per row, vectorised like ``loss_grad``."""
    def loss_grad(W):
        W = np.atleast_2d(W)
        value, grad = problem.loss_grad(W)
        return value + 0.5 * lam * np.sum(W * W, axis=1), grad + lam * W
    return loss_grad


def _train(problem: ls.TeacherStudent, lam: float, rng: np.random.Generator) -> np.ndarray:
    """A minimum of U_λ by L-BFGS from a Gaussian initialisation (sd 0.5)."""
    objective = _objective(problem, lam)

    def scalar(w):
        value, grad = objective(w[None, :])
        return float(value[0]), grad[0]
    return optimize.minimize(scalar, 0.5 * rng.standard_normal(problem.n_weights), jac=True, method="L-BFGS-B",
                             options={"maxiter": 5000, "gtol": 1e-8, "ftol": 1e-15}).x


def _measure(problem, name, lam, w, s, size, methods, gammas, rng):
    """One minimum's row, TI record (or None), exact spectrum of ∇²L and its Laplace F_γ over ``gammas``."""
    hessian = problem.hessian(w)
    spectrum = np.linalg.eigvalsh(hessian)
    normalised = np.linalg.eigvalsh(ls.normalised_hessian(hessian, w))
    grad_u = _objective(problem, lam)(w)[1][0]
    row = {"regime": name, "weight_decay": lam, "train_loss": float(problem.loss_grad(w[None])[0][0]),
           "gradient_norm": float(np.linalg.norm(grad_u)), "test_error": float(problem.test_error(w[None])[0]),
           "weight_norm": float(np.linalg.norm(w)), "hessian_top": float(spectrum[-1]),
           "hessian_min": float(spectrum[0]), "hessian_trace": float(spectrum.sum()),
           "normalised_top": float(normalised[-1]), "normalised_trace": float(normalised.sum()),
           "F_laplace": math.nan, "F_ti": math.nan, "F_ti_se": math.nan, "F_ti_note": ""}
    curve = np.array([_laplace(problem, w, g) for g in gammas])
    if "laplace" in methods:
        row["F_laplace"] = _laplace(problem, w, s["gamma"])
    record = None
    if "ti" in methods:
        record = ti_local_free_energy(problem.loss_grad, problem.hessian, w, s["gamma"], gamma_max=s["gamma_max"],
                                      curvature=max(float(spectrum[-1]), 0.0), n_rungs=size["ti_rungs"],
                                      draws=size["ti_draws"], burn=max(size["ti_draws"] // 5, 20), rng=rng)
        row.update(F_ti=record.value, F_ti_se=record.se, F_ti_note=record.note, F_ti_time_s=record.wall_time_s)
    return row, record, spectrum, curve


def _laplace(problem, w, gamma: float) -> float:
    """F_γ by Laplace, NaN where ∇²L + γI is not positive definite at the minimiser."""
    try:
        return laplace_local_free_energy(problem.loss_grad, problem.hessian, w, gamma)[0]
    except ValueError:
        return math.nan


def _rescaling(problem: ls.TeacherStudent, w: np.ndarray, s: dict) -> dict:
    """Dinh et al.: the same function at α·(W, b), a/α, and what each measure does."""
    alpha, out = s["alpha"], {"alpha": s["alpha"]}
    w2 = ls.rescale_layers(problem, w, alpha)
    out["max_prediction_change"] = float(np.max(np.abs(problem.predict(w2, problem.x_test)
                                                       - problem.predict(w, problem.x_test))))
    for label, x in (("original", w), ("rescaled", w2)):
        h = problem.hessian(x)
        out[label] = {"train_loss": float(problem.loss_grad(x[None])[0][0]),
                      "test_error": float(problem.test_error(x[None])[0]),
                      "hessian_top": float(np.linalg.eigvalsh(h)[-1]), "hessian_trace": float(np.trace(h)),
                      "normalised_top": float(np.linalg.eigvalsh(ls.normalised_hessian(h, x))[-1]),
                      "normalised_trace": float(np.trace(ls.normalised_hessian(h, x))),
                      "F_laplace": _laplace(problem, x, s["gamma"]), "weight_norm": float(np.linalg.norm(x))}
    return out


def _connect(problem, lam: float, ends: list[np.ndarray], s: dict, rng) -> dict:
    """U_λ along the straight line and the optimised Bézier curve between two minima."""
    objective = _objective(problem, lam)
    theta = mc.fit_bezier(objective, ends[0], ends[1], n_points=s["bezier_points"], rng=rng)
    t, line = mc.path_losses(objective, ends[0], ends[1])
    _, curve = mc.path_losses(objective, ends[0], ends[1], theta)
    return {"t": t, "line": line, "bezier": curve, "line_barrier": mc.barrier(line),
            "bezier_barrier": mc.barrier(curve), "end_losses": [float(line[0]), float(line[-1])]}


def _correlations(rows: list[dict], regimes: list[str], permutations: int, rng) -> dict:
    """Spearman ρ(measure, test error) with a two-sided permutation p-value, pooled and per regime."""
    def spearman(x, y, axis=-1):
        rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
        rx, ry = rx - rx.mean(axis=axis, keepdims=True), ry - ry.mean(axis=axis, keepdims=True)
        return np.sum(rx * ry, axis=axis) / np.sqrt(np.sum(rx * rx, axis=axis) * np.sum(ry * ry, axis=axis))

    out = {}
    for key in MEASURES:
        out[key] = {}
        for group in ["all", *regimes]:
            sel = [r for r in rows if group in ("all", r["regime"]) and math.isfinite(r[key])]
            if len(sel) < 3:
                out[key][group] = {"rho": None, "p": None, "n": len(sel)}
                continue
            res = stats.permutation_test(([r[key] for r in sel], [r["test_error"] for r in sel]), spearman,
                                         permutation_type="pairings", vectorized=True, n_resamples=permutations,
                                         random_state=rng)
            out[key][group] = {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(sel)}
    return out


def _tree(rows, spectra, curves, gammas, paths) -> xr.DataTree:
    minimum = {"minimum": [r["index"] for r in rows], "regime": ("minimum", [r["regime"] for r in rows])}
    spec = xr.Dataset({"eigenvalue": (("minimum", "rank"), np.array(spectra)[:, ::-1]),
                       "F_laplace": (("minimum", "gamma"), np.array(curves)),
                       "test_error": ("minimum", [r["test_error"] for r in rows]),
                       "F_ti": ("minimum", [r["F_ti"] for r in rows]), "F_ti_se": ("minimum", [r["F_ti_se"] for r in rows])},
                      coords={**minimum, "gamma": gammas})
    path = xr.Dataset({k: (("regime", "t"), np.array([p[k] for p in paths.values()])) for k in ("line", "bezier")},
                      coords={"regime": list(paths), "t": next(iter(paths.values()))["t"]})
    return xr.DataTree.from_dict({"/minima": spec, "/paths": path})


def _report(summary: dict, records, s: dict, size: dict, problem) -> Report:
    report = Report(
        "Flatness as local free energy: memorising and generalising minima of a teacher–student network",
        f"A squared-ReLU student with {problem.n_weights} weights (D = {s['dim']}, H = {s['hidden']}) fitted to n = "
        f"{s['n_train']} outputs of a width-{s['teacher_hidden']} teacher with noise σ = {s['sigma']:g}; loss L in "
        f"nats. {size['seeds']} minima per regime (L-BFGS on U_λ = L + λ‖w‖²/2): λ = 0 (memorises the noise) and "
        f"λ = {s['weight_decay']:g}. Test error: mean squared distance to the teacher on {s['n_test']} fresh inputs "
        f"(the noise variance is σ² = {s['sigma'] ** 2:g}).")
    extra = [f"minimum #{r['index']} ({r['regime']}): |∇U| = {r['gradient_norm']:.2g}, not converged"
             for r in summary["minima"] if r["gradient_norm"] > 1e-3]
    extra += [f"minimum #{r['index']}: Laplace F_γ undefined (∇²L + γI not positive definite; smallest eigenvalue "
              f"{r['hessian_min']:.3g}, γ = {s['gamma']:g})" for r in summary["minima"]
              if "laplace" in summary["settings"]["methods"] and not math.isfinite(r["F_laplace"])]
    summary["warnings"] = report.check(records=records, extra=extra)
    _minima_section(report, summary["minima"], s)
    _correlation_section(report, summary["correlations"])
    _rescaling_section(report, summary["rescaling"])
    mcs = summary["mode_connectivity"]
    report.section("Mode connectivity (U_λ between the first two minima of each regime)").table(
        ["regime", "U at the ends", "barrier: straight line", "barrier: quadratic Bézier"],
        [[k, ", ".join(fmt(x, 3) for x in v["end_losses"]), fmt(v["line_barrier"], 3), fmt(v["bezier_barrier"], 3)]
         for k, v in mcs.items()]).add(
        "barrier = max along the path − the larger end value (nats). The Bézier bend minimises the mean of U at "
        f"{s['bezier_points']} points along the curve (Garipov et al. 2018): a barrier on the line that the curve "
        "removes means the two minima lie in one connected low-loss valley.")
    return report


def _minima_section(report: Report, rows: list[dict], s: dict) -> None:
    report.section(f"Minima: Hessian of L and local free energy at γ = {s['gamma']:g}").table(
        ["#", "regime", "L", "test error", "‖w‖", "λ_max(∇²L)", "λ_min", "tr ∇²L", "λ_max(D∇²L D)",
         "F_γ Laplace", "F_γ TI ± se", "TI − Laplace"],
        [[r["index"], r["regime"], fmt(r["train_loss"], 3), fmt(r["test_error"], 3), fmt(r["weight_norm"], 3),
          fmt(r["hessian_top"], 4), fmt(r["hessian_min"], 3), fmt(r["hessian_trace"], 4), fmt(r["normalised_top"], 3),
          fmt(r["F_laplace"], 5), pm_fmt(r["F_ti"], r["F_ti_se"], 4) + (" ⚠" if r["F_ti_note"].startswith("unreliable")
                                                                    else ""),
          fmt(r["F_ti"] - r["F_laplace"], 3)] for r in rows]).add(
        "Exact dense Hessian (eigvalsh). F_γ(w) = −ln ∫ exp(−L(w′) − γ|w′ − w|²/2) dw′ in nats: Laplace at the "
        f"minimiser of L + γ|w′ − w|²/2, and TI over γ from γ_max = {s['gamma_max']:g} (Laplace anchor) down to γ "
        "on MALA rungs (se = MCSE ⊕ discretisation; ⚠ = self-flagged unreliable). Lower F_γ = wider, "
        "higher-entropy basin at the same depth.")


def _correlation_section(report: Report, corr: dict) -> None:
    groups = list(next(iter(corr.values())))
    report.section("Does flatness predict the test error? Spearman ρ (permutation p-value)").table(
        ["measure"] + [f"{g} (n = {corr['hessian_top'][g]['n']})" for g in groups],
        [[MEASURES[k]] + [("—" if c[g]["rho"] is None else f"{c[g]['rho']:+.2f} (p = {c[g]['p']:.3g})")
                          for g in groups] for k, c in corr.items()]).add(
        "Positive ρ: sharper / higher free energy ↔ larger test error (the flat-minima claim). The pooled column "
        "mixes the two regimes, so a pooled correlation can come from the regime (weight decay shrinks ‖w‖ and the "
        "curvature with it) rather than from flatness; the within-regime columns ask whether flatness ranks "
        "minima of the same training procedure. With few seeds per regime their p-values are weak by construction.")


def _rescaling_section(report: Report, r: dict) -> None:
    keys = ["train_loss", "test_error", "weight_norm", "hessian_top", "hessian_trace", "normalised_top",
            "normalised_trace", "F_laplace"]
    report.section(f"Reparameterisation (Dinh et al. 2017): W, b → {r['alpha']:g}·(W, b), a → a/{r['alpha']:g}²").table(
        ["quantity", "original", "rescaled"], [[k, fmt(r["original"][k], 5), fmt(r["rescaled"][k], 5)] for k in keys]).add(
        f"The function is unchanged (largest change of a test prediction {r['max_prediction_change']:.2g}), so are "
        "L and the test error; the Hessian's top eigenvalue and trace are not (α → ∞ makes them as large as one "
        "likes at the same function), nor is F_γ with its isotropic coupling γ|w′ − w|² (here it moves by "
        f"{r['rescaled']['F_laplace'] - r['original']['F_laplace']:+.3g} nats: flat directions get flatter while "
        "sharp ones get sharper, and ln det(∇²L + γI) weighs both). The elementwise-normalised Hessian "
        "D∇²L D, D = diag(|w|), is invariant under any positive per-weight rescaling, this one included.")
