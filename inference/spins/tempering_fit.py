r"""``fit(model, "parallel_tempering", ...)``: replica exchange of any spin kernel as ``fit()`` chains.

Each chain is one :class:`~.parallel_tempering.ParallelTempering` run (M replicas); all chains share one
ladder, adapted jointly during ``tune`` (constant acceptance) and then frozen. Draws are the β = 1 replica's
E/N (bond), M/N, |M|/N, (M/N)², the reduced energy :math:`-\ell(s)/N` and (small runs) spins, with the
diagnostics of :func:`~.driver.spin_diagnostics`; ``sample_stats.log_weight`` holds ℓ at every rung; the
``ladder`` group the β, swap acceptance per pair and round trips; diagnostics add the round-trip time in
sweeps. With a ladder starting at β = 0 the free energy along it (stepping stone, BAR and TI over β,
:mod:`.tempering_free_energy`) is stored as ``pt_stepping_stone`` / ``pt_bar`` / ``pt_ti`` records.
Registered (together with PT of continuous PyMC models, under the one name) by
:mod:`physml.inference.tempering.method`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import xarray as xr

from .coupling_scale import SAMPLERS, kernel_for
from .driver import spin_diagnostics
from .kernel import require_count
from .lattice import couplings_of, ising_support_reason
from .parallel_tempering import ParallelTempering, check_ladder, linear_ladder
from .tempering_free_energy import ladder_free_energies
from ..records import add_free_energy, set_diagnostics

__all__ = ["run_parallel_tempering"]


def _ladder(betas, n_replicas, beta_min):
    return check_ladder(betas) if betas is not None else linear_ladder(n_replicas, beta_min)


def _posterior(draws_by_chain, n_spins, record_spins) -> xr.Dataset:
    e = np.stack([d.energy for d in draws_by_chain])
    m = np.stack([d.magnetisation for d in draws_by_chain])
    lw = np.stack([d.log_weight for d in draws_by_chain])
    post = {"energy": e, "magnetisation": m, "abs_magnetisation": np.abs(m), "magnetisation_sq": m ** 2,
            "reduced_energy": -lw[:, :, -1] / n_spins}
    post = {k: (("chain", "draw"), v) for k, v in post.items()}
    coords = {"chain": np.arange(e.shape[0]), "draw": np.arange(e.shape[1])}
    if record_spins:
        post["spins"] = (("chain", "draw", "site"), np.stack([d.spins for d in draws_by_chain]))
        coords["site"] = np.arange(n_spins)
    return xr.Dataset(post, coords=coords)


def _ladder_group(states, sweeps) -> tuple[xr.Dataset, dict]:
    betas = states[0].betas
    tried = sum(s.swaps_tried for s in states)
    acc = sum(s.swaps_accepted for s in states) / np.maximum(tried, 1)
    trips = np.array([s.round_trips for s in states])
    draws_sweeps = states[0].n_steps * sweeps  # per replica and chain, draws only
    ds = xr.Dataset({"beta": ("rung", betas), "swap_acceptance": ("pair", acc),
                     "round_trips": ("chain", trips)},
                    coords={"rung": np.arange(betas.size), "pair": np.arange(betas.size - 1),
                            "chain": np.arange(len(states))})
    n_rt = int(trips.sum())
    tau = betas.size * draws_sweeps * len(states) / n_rt if n_rt else float("nan")
    diag = {"n_replicas": int(betas.size), "round_trips": n_rt, "round_trip_time_sweeps": tau,
            "min_swap_acceptance": float(acc.min()), "max_swap_acceptance": float(acc.max()),
            "draw_sweeps_per_replica": float(draws_sweeps)}
    return ds, diag


def run_parallel_tempering(model, *, draws=1000, tune=1000, chains=4, seed=0, progress=False, n_replicas=8,
                           sampler="heat_bath", sweeps=1, betas=None, beta_min=0.0, adapt=True,
                           adapt_window=100, record_spins=None, **unused) -> xr.DataTree:
    """Parallel tempering chains of ``sampler`` (one of :data:`.coupling_scale.SAMPLERS`) on an Ising model.

    Ladder: ``betas`` (increasing, ending at 1) or ``n_replicas`` equally spaced from ``beta_min``; with
    ``adapt`` (default) its inner rungs move during ``tune`` (windows of ``adapt_window`` steps), ends fixed.
    ``sweeps``: kernel sweeps per replica between swap passes."""
    if unused:
        raise ValueError(f"unknown options for parallel_tempering: {sorted(unused)}")
    found = couplings_of(model)
    if found is None:
        raise ValueError(ising_support_reason(model))
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    for name, v in (("draws", draws), ("chains", chains), ("sweeps", sweeps), ("adapt_window", adapt_window)):
        require_count(name, v)
    couplings = found[0]
    n = couplings.n_spins
    pt = ParallelTempering(couplings, lambda c: kernel_for(c, sampler, sweeps))
    ladder = _ladder(betas, n_replicas, beta_min)
    if record_spins is None:
        record_spins = n * draws * chains <= 4_000_000
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    rngs = rng.spawn(chains)
    states = [pt.init(r, ladder) for r in rngs]
    if tune:
        states = pt.tune(rng, states, int(tune), adapt=adapt, window=int(adapt_window))
    out = [pt.sample(r, s._replace(n_steps=0), int(draws), record_spins=record_spins) for r, s in zip(rngs, states)]
    states, draws_by_chain = [o[0] for o in out], [o[1] for o in out]
    wall = time.perf_counter() - t0
    if progress:
        print(f"[parallel_tempering] {chains} chains x {ladder.size} replicas: {tune} tune + {draws} draws, "
              f"N = {n}, {wall:.2f} s", file=sys.stderr, flush=True)
    posterior = _posterior(draws_by_chain, n, record_spins)
    lw = np.stack([d.log_weight for d in draws_by_chain])
    stats = xr.Dataset({"log_weight": (("chain", "draw", "rung"), lw)},
                       coords={"chain": posterior["chain"], "draw": posterior["draw"], "rung": np.arange(lw.shape[2])})
    ladder_ds, ladder_diag = _ladder_group(states, sweeps)
    dt = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats, "ladder": ladder_ds})
    dt.attrs.update({"n_spins": n, "sweeps_per_draw": float(sweeps), "kernel": f"parallel_tempering/{sampler}"})
    set_diagnostics(dt, {**spin_diagnostics(posterior, couplings, sweeps), **ladder_diag})
    if states[0].betas[0] == 0.0:
        for rec in ladder_free_energies(lw, states[0].betas, n, ladder_ds["swap_acceptance"].values,
                                        wall_time_s=wall):
            add_free_energy(dt, rec)
    return dt

