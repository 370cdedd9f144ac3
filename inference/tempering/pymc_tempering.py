r"""Parallel tempering of a continuous PyMC model (tempered likelihood) as ``fit()`` chains, and its evidence.

Rung k samples the power posterior :math:`p_{\beta_k}(\theta \mid y) \propto p(\theta)\,p(y\mid\theta)^{\beta_k}`
on PyMC's unconstrained space (:mod:`~physml.inference.model_density`; potentials count as likelihood, as in
PyMC's SMC), by :class:`~.sampler.ReplicaExchange` with a :mod:`.kernels` kernel (``"rwm"`` or ``"mala"``).
Each ``fit()`` chain is one PT run of M replicas; the chains share one ladder, adapted together during ``tune``.
The default ladder starts at :math:`\beta_1 = 0` (the prior, :math:`\ln Z(0) = 0`) as
:math:`\beta_k = ((k-1)/(M-1))^{p}` (Friel & Pettitt's power ladder, ``power`` p = 4) and then moves to equal
swap acceptance.

Result: ``posterior`` = the β = 1 rung (constrained, with deterministics, dims as a NUTS fit);
``sample_stats.log_weight`` (chain, draw, rung) = :math:`\ln p(y\mid\theta)` at every rung; ``ladder`` group
(β, swap acceptance per pair, kernel acceptance and scale per rung, round trips per chain); diagnostics
(R-hat / ESS of the posterior, round trips, round-trip time in PT steps, swap acceptance range). With
:math:`\beta_1 = 0` the evidence :math:`-\ln p(y)` from the same run: ``pt_stepping_stone``, ``pt_bar``, ``pt_ti``
(:func:`~physml.inference.spins.tempering_free_energy.ladder_records`, self-flagged ``unreliable:``).
"""

from __future__ import annotations

import sys
import time
from numbers import Integral

import numpy as np
import pymc as pm
import xarray as xr
from arviz_base import dict_to_dataset
from pymc.backends.arviz import coords_and_dims_for_inferencedata

from ..convergence import mcmc_diagnostics
from ..evidence.thermodynamic_integration import power_ladder
from ..model_density import model_density
from ..priors import flat_prior_terms, undefined_reason
from ..pymc_compat import discrete_free_variables
from ..records import add_free_energy, set_diagnostics
from ..spins.parallel_tempering import check_ladder
from ..spins.tempering_free_energy import MAX_RHAT, MIN_WEIGHT_ESS, ladder_records
from .kernels import KERNELS, evaluate_points
from .sampler import ReplicaExchange, ReplicaExchangeState

__all__ = ["run_tempered_pymc", "pymc_support_reason", "initial_ladder", "DEFAULTS"]

DEFAULTS = {"n_replicas": 13, "kernel": "rwm", "kernel_steps": 1, "power": 4.0, "adapt_window": 100}


def pymc_support_reason(model) -> str | None:
    """None when PT can temper ``model``'s likelihood: continuous free variables, data, a proper prior."""
    discrete = discrete_free_variables(model)
    if discrete:
        return (f"parallel tempering of a PyMC model needs continuous free variables, found discrete {discrete} "
                "(spin models: build them with physml.models.ising so their couplings are attached)")
    if not (model.observed_RVs or model.potentials):
        return "parallel tempering tempers the likelihood, but the model has no observed data or potential"
    flat = flat_prior_terms(model)
    if flat:
        return f"the beta = 0 rung samples the prior, which is improper ({', '.join(flat)})"
    return None


def initial_ladder(betas, n_replicas, power: float, beta_min: float = 0.0) -> np.ndarray:
    """``betas`` checked (increasing in [0, 1], ending at 1), or the power ladder
    β_min + (1 − β_min)((k − 1)/(M − 1))^power, k = 1..M."""
    if betas is not None:
        return check_ladder(betas)
    if isinstance(n_replicas, bool) or not isinstance(n_replicas, Integral) or n_replicas < 2:
        raise ValueError(f"n_replicas must be an integer >= 2, got {n_replicas!r}")
    if not (isinstance(power, (int, float)) and 0 < power <= 20):
        raise ValueError(f"power must be in (0, 20], got {power!r}")
    if not (isinstance(beta_min, (int, float)) and 0.0 <= beta_min < 1.0):
        raise ValueError(f"beta_min must be in [0, 1), got {beta_min!r}")
    return check_ladder(beta_min + (1.0 - beta_min) * power_ladder(int(n_replicas) - 1, float(power)))


def _check_options(kernel, kernel_steps, adapt_window, unused) -> None:
    if unused:
        raise ValueError(f"unknown options for parallel_tempering on a PyMC model: {sorted(unused)}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    for name, v in (("kernel_steps", kernel_steps), ("adapt_window", adapt_window)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")


def _starts(dens, n: int, rng: np.random.Generator) -> np.ndarray:
    """Prior draws (dispersed starts for every rung and chain), or the initial point jittered by U(−1, 1)."""
    try:
        x = dens.sample_prior(n, rng)
        if np.all(np.isfinite(x)):
            return x
    except Exception:  # a prior PyMC cannot draw from: start near the initial point
        pass
    return dens.x0 + rng.uniform(-1.0, 1.0, size=(n, dens.ndim))


def _posterior(model, dens, x_target: np.ndarray) -> xr.Dataset:
    """(draws, C, d) unconstrained β = 1 positions → the posterior group (constrained, deterministics)."""
    n_draw, n_chain, d = x_target.shape
    flat = np.transpose(x_target, (1, 0, 2)).reshape(-1, d)
    vals = dens.constrained(flat)
    post = {k: np.asarray(v).reshape((n_chain, n_draw) + np.shape(v)[1:]) for k, v in vals.items()}
    coords, dims = coords_and_dims_for_inferencedata(model)
    return dict_to_dataset(post, coords=coords, dims=dims, inference_library=pm)


def _ladder_group(state: ReplicaExchangeState, draws: int) -> tuple[xr.Dataset, dict]:
    m, c = state.betas.size, state.n_chains
    swap_acc = state.swaps_accepted / np.maximum(state.swaps_tried, 1)
    move_acc = state.moves_accepted / max(state.moves_tried, 1)
    ds = xr.Dataset({"beta": ("rung", state.betas), "swap_acceptance": ("pair", swap_acc),
                     "kernel_acceptance": ("rung", move_acc), "kernel_scale": ("rung", state.scale),
                     "round_trips": ("chain", state.round_trips)},
                    coords={"rung": np.arange(m), "pair": np.arange(m - 1), "chain": np.arange(c)})
    n_rt = int(state.round_trips.sum())
    diag = {"n_replicas": int(m), "round_trips": n_rt,
            "round_trip_time_steps": m * draws * c / n_rt if n_rt else float("nan"),
            "min_swap_acceptance": float(swap_acc.min()), "max_swap_acceptance": float(swap_acc.max())}
    return ds, diag


def posterior_flags(diagnostics: dict) -> tuple[str, ...]:
    """The β = 1 posterior's own failures, which the ln-ratio series can hide (they may mix while the
    replicas' parameters do not): R-hat > MAX_RHAT or bulk ESS < MIN_WEIGHT_ESS over all parameters."""
    out = []
    if diagnostics["max_rhat"] > MAX_RHAT:
        out.append(f"posterior max R-hat {diagnostics['max_rhat']:.3f} > {MAX_RHAT} at beta = 1")
    if diagnostics["min_ess_bulk"] < MIN_WEIGHT_ESS:
        out.append(f"posterior min bulk ESS {diagnostics['min_ess_bulk']:.0f} < {MIN_WEIGHT_ESS:.0f} at beta = 1")
    return tuple(out)


def run_tempered_pymc(model, *, draws=1000, tune=1000, chains=4, seed=0, progress=False, n_replicas=None,
                      betas=None, beta_min=0.0, kernel=None, kernel_steps=None, power=None, adapt=True,
                      adapt_window=None, **unused) -> xr.DataTree:
    """Parallel tempering chains on a continuous PyMC model (options default to :data:`DEFAULTS`).

    ``betas``: the ladder (increasing in [0, 1], ending at 1; default the power ladder of ``n_replicas`` rungs
    from ``beta_min``; the evidence needs β_1 = 0); with ``adapt`` its inner rungs move during ``tune``
    (windows of ``adapt_window`` steps).
    ``kernel``: ``"rwm"`` or ``"mala"``, ``kernel_steps`` of it per rung between swap passes."""
    o = {**DEFAULTS, **{k: v for k, v in dict(n_replicas=n_replicas, kernel=kernel, kernel_steps=kernel_steps,
                                              power=power, adapt_window=adapt_window).items() if v is not None}}
    _check_options(o["kernel"], o["kernel_steps"], o["adapt_window"], unused)
    ladder = initial_ladder(betas, o["n_replicas"], o["power"], beta_min)
    reason = pymc_support_reason(model)
    if reason:
        raise ValueError(reason)
    dens = model_density(model)
    pt = ReplicaExchange(lambda x, grad: evaluate_points(dens, x, grad), KERNELS[o["kernel"]], dens.ndim,
                         kernel_steps=o["kernel_steps"])
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    state = pt.init(_starts(dens, chains * ladder.size, rng), ladder)
    if tune:
        state = pt.tune(rng, state, int(tune), adapt_betas=bool(adapt), window=int(o["adapt_window"]))
    state, rec = pt.sample(rng, state._replace(n_steps=0), int(draws))
    wall = time.perf_counter() - t0
    if progress:
        print(f"[parallel_tempering] {chains} chains x {ladder.size} replicas ({o['kernel']}): {tune} tune + "
              f"{draws} draws, {wall:.2f} s", file=sys.stderr, flush=True)
    lw = np.transpose(rec.log_lik, (1, 0, 2))  # (chain, draw, rung)
    posterior = _posterior(model, dens, rec.x_target)
    stats = xr.Dataset({"log_weight": (("chain", "draw", "rung"), lw)},
                       coords={"chain": posterior["chain"], "draw": posterior["draw"], "rung": np.arange(lw.shape[2])},
                       attrs={"log_weight": "ln p(y | theta) of each rung's replica (potentials included)"})
    ladder_ds, ladder_diag = _ladder_group(state, int(draws))
    dt = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats, "ladder": ladder_ds})
    dt.attrs.update({"kernel": f"parallel_tempering/{o['kernel']}", "physml_backend": "physml"})
    diagnostics = mcmc_diagnostics(dt)
    set_diagnostics(dt, {**diagnostics, **ladder_diag})
    if state.betas[0] == 0.0 and undefined_reason(model) is None:
        for record in ladder_records(lw, state.betas, 0.0, ladder_ds["swap_acceptance"].values, wall_time_s=wall,
                                     what=" (the prior)", run_flags=posterior_flags(diagnostics)):
            add_free_energy(dt, record)
    return dt
