r"""SK ground-state energy per spin against Parisi's :math:`e_0 = -0.7633`, for ``physml run spin_glass`` and
``benchmarks/sk_ground_state.py``.

For each N, ``samples`` coupling samples :math:`J_{ij}\sim\mathcal N(0,1/N)`; per sample
:math:`e_N = \min_s H/N` from independent parallel-tempering runs that must agree
(:func:`physml.inference.spins.dense_ground_state.ground_state`); the disorder mean and its se over samples;
then :math:`e_N = e_0 + a N^{-2/3}` (and with :math:`b N^{-4/3}`) by weighted least squares
(:func:`physml.models.sk.extrapolate_ground_state`). The fraction of samples whose runs all found the same
minimum is the self-flag: a sample without agreement contributes an upper bound.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..inference.spins.dense_ground_state import ground_state
from ..models import sk
from .common import fmt, pm_fmt, save_figure_atomic

AGREEMENT_FLOOR = 0.95
"""Below this fraction of samples with agreeing runs, the e₀ fit is listed under Warnings."""


def sample_ground_states(n: int, samples: int, seed: int, *, runs: int = 3, sweeps: int = 100,
                         max_sweeps: int = 10_000) -> dict:
    """Ground states of ``samples`` SK samples at size ``n``: per-spin energies, agreement, sweeps, time."""
    t0 = time.perf_counter()
    e, agreed, used = np.empty(samples), np.empty(samples, dtype=bool), np.empty(samples)
    for k in range(samples):
        J = sk.sk_couplings_matrix(n, [seed, 14_2, n, k])
        g = ground_state(J, np.random.default_rng([seed, 14_3, n, k]), runs=runs, sweeps=sweeps,
                         max_sweeps=max_sweeps)
        e[k], agreed[k], used[k] = g.energy / n, g.agreed, g.sweeps
    return {"n": n, "samples": samples, "mean": float(e.mean()), "se": float(e.std(ddof=1) / math.sqrt(samples)),
            "sd": float(e.std(ddof=1)), "agreement": float(agreed.mean()), "mean_sweeps": float(used.mean()),
            "max_sweeps_used": float(used.max()), "seconds": time.perf_counter() - t0, "energies": e.tolist()}


def ground_state_study(sizes, samples, seed: int, *, progress=None, **options) -> dict:
    """:func:`sample_ground_states` for every size (``samples`` an int or one per size) and the two fits."""
    counts = samples if isinstance(samples, (list, tuple)) else [samples] * len(sizes)
    rows = []
    for n, count in zip(sizes, counts):
        rows.append(sample_ground_states(int(n), int(count), seed, **options))
        if progress:
            progress(f"e0: N = {n}: {pm_fmt(rows[-1]['mean'], rows[-1]['se'])} ({rows[-1]['seconds']:.0f} s)")
    args = ([r["n"] for r in rows], [r["mean"] for r in rows], [r["se"] for r in rows])
    fits = {"linear": sk.extrapolate_ground_state(*args)}
    if len(rows) >= 5:
        fits["quadratic"] = sk.extrapolate_ground_state(*args, quadratic=True)
    agreement = float(np.average([r["agreement"] for r in rows], weights=counts))
    return {"rows": rows, "fits": fits, "agreement": agreement, "parisi": sk.PARISI_GROUND_STATE_ENERGY}


def ground_state_warnings(study: dict) -> list[str]:
    out = []
    if study["agreement"] < AGREEMENT_FLOOR:
        out.append(f"**ground states**: independent PT runs agreed on only {study['agreement']:.0%} of samples "
                   "(the others are upper bounds)")
    chi = study["fits"]["linear"]["chi2_per_dof"]
    if chi > 3:
        out.append(f"**e₀ fit** χ²/dof = {chi:.1f}: a N^(−2/3) line does not describe these sizes")
    return out


def ground_state_section(report, study: dict) -> None:
    rows = study["rows"]
    sec = report.section("Ground-state energy e₀ (N^(−2/3) extrapolation)")
    sec.table(["N", "samples", "e_N = [min H/N]", "sd over samples", "runs agree", "mean sweeps", "time (s)"],
              [[r["n"], r["samples"], pm_fmt(r["mean"], r["se"]), fmt(r["sd"], 3), f"{r['agreement']:.0%}",
                fmt(r["mean_sweeps"], 3), fmt(r["seconds"], 2)] for r in rows])
    lines = []
    for name, f in study["fits"].items():
        terms = "e₀ + a N^(−2/3)" + (" + b N^(−4/3)" if f["quadratic"] else "")
        lines.append(f"{name} fit {terms}: **e₀ = {pm_fmt(f['e0'], f['se'])}** (a = {fmt(f['a'], 3)}, χ²/dof = "
                     f"{fmt(f['chi2_per_dof'], 2)}), against Parisi {study['parisi']}: z = {fmt(f['z_parisi'], 2)}, "
                     f"relative error {f['relative_error']:.2%}.")
    sec.add(" ".join(lines) + f" Ground state per sample: the lowest of 3 independent PT runs (geometric ladder "
            f"T = 1.6 … 0.2, quenched records), continued until all runs hold the same minimum; they agreed on "
            f"{study['agreement']:.1%} of all samples.")


def ground_state_figure(fig_dir: Path, study: dict) -> Path:
    import matplotlib.pyplot as plt

    rows, fit = study["rows"], study["fits"]["linear"]
    x = np.array([r["n"] for r in rows], dtype=float) ** (-2.0 / 3.0)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(x, [r["mean"] for r in rows], [r["se"] for r in rows], fmt="o", label="PT ground states")
    grid = np.linspace(0.0, x.max() * 1.05, 50)
    ax.plot(grid, fit["e0"] + fit["a"] * grid, "-", label=f"fit: e₀ = {fit['e0']:.4f} ± {fit['se']:.4f}")
    ax.axhline(study["parisi"], color="grey", ls="--", label="Parisi −0.7633")
    ax.set_xlabel("N^(−2/3)")
    ax.set_ylabel("[min H] / N")
    ax.legend(fontsize=7)
    path = save_figure_atomic(fig, fig_dir / "ground_state_extrapolation.png")
    plt.close(fig)
    return path
