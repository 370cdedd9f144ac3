r"""The generic spin-chain driver: any :class:`~.kernel.SpinKernel` run as ``fit()`` chains, with diagnostics.

Each chain starts from uniformly random spins, takes ``tune`` steps, then ``draws`` steps recording
E/N, M/N, |M|/N, (M/N)² (and the spins for small runs). From the draws (ArviZ):

.. math::

    \tau_\mathrm{int} = \frac{n_\mathrm{draws}}{\mathrm{ESS}_\mathrm{mean}}
      = 1 + 2\sum_{t\ge1}\rho_t, \qquad
    c = K^2 N\,\mathrm{Var}(E/N), \qquad \chi = N\,\mathrm{Var}(|M|/N),

with the standard errors of c and χ from the MCSE of the sd. Here: :func:`run_blocks` (``draws`` steps
of one chain through the protocol only), :func:`run_spin_kernel` (chains → result DataTree) and
:func:`spin_diagnostics`.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np
import xarray as xr

from .kernel import SpinKernel, SpinState, with_ghost
from .lattice import IsingCouplings, couplings_of, ising_support_reason
from ..records import set_diagnostics

OBSERVABLES = ("energy", "abs_magnetisation", "magnetisation_sq", "magnetisation")


def run_blocks(kernel: SpinKernel, rng: np.random.Generator, state: SpinState, draws: int,
               record_spins: bool) -> tuple[SpinState, dict, np.ndarray | None]:
    """``draws`` steps from ``state``: (new state, per-step observables (+ ``kernel.step_stat``), spins or None)."""
    buf = with_ghost(state.spins)
    batch = kernel.sample_batch(rng, buf, draws, record_spins)
    mag = batch.magnetisation
    obs = {"energy": batch.energy, "magnetisation": mag, "abs_magnetisation": np.abs(mag),
           "magnetisation_sq": mag ** 2}
    if kernel.step_stat:
        obs[kernel.step_stat] = batch.stat
    new_state = SpinState(buf[:-1].copy(), state.n_updates + draws * kernel.sweeps * kernel.n_spins)
    return new_state, obs, batch.spins


def run_spin_kernel(make_kernel: Callable[[IsingCouplings], SpinKernel], model, *, draws, tune, chains, seed,
                    progress=False, record_spins=None, method_name="", sweeps_per_draw=1.0,
                    **unused) -> xr.DataTree:
    r"""Run ``chains`` independent chains of ``make_kernel(couplings)`` and build the result DataTree.

    Posterior: per-draw E/N (bond energy), M/N, |M|/N, (M/N)² and, for small runs, the spins;
    sample_stats: the kernel's ``step_stat`` if it has one.
    Diagnostics (ArviZ): R-hat, bulk/tail ESS, MCSE, integrated autocorrelation time
    :math:`\tau_\mathrm{int} = n_\mathrm{draws}/\mathrm{ESS}` (in draws and in sweeps) from ArviZ's
    mean-ESS. This is the "2τ" convention, :math:`1 + 2\sum_{t\ge1}\rho_t` (τ = 1 for independent
    draws, Var(mean) = τ σ²/n); the physics literature's :math:`\tfrac12 + \sum_t\rho_t` (Sokal;
    e.g. ≈ 11, 46, 156 sweeps for single-spin Metropolis |M| at L = 16/32/64) is half of it and is
    reported as ``tau_int_half_*`` (= n/(2 ESS)). Also the
    specific heat :math:`c = K^2 N\,\mathrm{Var}(E/N)` and susceptibility
    :math:`\chi = N\,\mathrm{Var}(|M|/N)` with standard errors from the MCSE of the sd.
    """
    if unused:
        raise ValueError(f"unknown options for {method_name}: {sorted(unused)}")
    found = couplings_of(model)
    if found is None:
        raise ValueError(ising_support_reason(model))
    couplings, _ = found
    kernel = make_kernel(couplings)
    stat = kernel.step_stat
    n = couplings.n_spins
    if record_spins is None:
        record_spins = n * draws * chains <= 4_000_000
    rngs = np.random.default_rng(seed).spawn(chains)
    per_chain, spins_all = [], []
    for c in range(chains):
        t_chain = time.perf_counter()
        state = kernel.init(rng=rngs[c])
        if tune:
            state, _, _ = run_blocks(kernel, rngs[c], state, tune, False)
        state, obs, spins = run_blocks(kernel, rngs[c], state, draws, record_spins)
        per_chain.append(obs)
        spins_all.append(spins)
        if progress:
            print(f"[{method_name}] chain {c + 1}/{chains}: {tune} tune + {draws} draws, N = {n}, "
                  f"{time.perf_counter() - t_chain:.2f} s", file=sys.stderr, flush=True)
    post = {k: (("chain", "draw"), np.stack([o[k] for o in per_chain])) for k in OBSERVABLES}
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    if record_spins:
        post["spins"] = (("chain", "draw", "site"), np.stack(spins_all))
        coords["site"] = np.arange(n)
    posterior = xr.Dataset(post, coords=coords)
    stats = {stat: (("chain", "draw"), np.stack([o[stat] for o in per_chain]))} if stat else {}
    sample_stats = xr.Dataset(stats, coords={"chain": coords["chain"], "draw": coords["draw"]})
    dt = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": sample_stats})
    dt.attrs.update({"n_spins": n, "sweeps_per_draw": float(sweeps_per_draw), "kernel": method_name})
    set_diagnostics(dt, spin_diagnostics(posterior, couplings, sweeps_per_draw))
    return dt


def spin_diagnostics(posterior: xr.Dataset, couplings: IsingCouplings, sweeps_per_draw: float) -> dict:
    """ESS / R-hat / MCSE (arviz_stats) of the per-draw observables, τ_int, c and χ with errors."""
    import arviz_stats as azs

    obs = posterior[["energy", "abs_magnetisation", "magnetisation_sq"]]
    n_total = obs.sizes["chain"] * obs.sizes["draw"]
    ess_bulk = azs.ess(obs, method="bulk")
    ess_tail = azs.ess(obs, method="tail")
    ess_mean = azs.ess(obs, method="mean")
    mcse_mean = azs.mcse(obs, method="mean")
    mcse_sd = azs.mcse(obs, method="sd")
    multi = obs.sizes["chain"] > 1
    rhat = azs.rhat(obs) if multi else None
    out: dict = {
        "min_ess_bulk": float(min(ess_bulk[v].item() for v in obs.data_vars)),
        "min_ess_tail": float(min(ess_tail[v].item() for v in obs.data_vars)),
        "max_rhat": float(max(rhat[v].item() for v in obs.data_vars)) if multi else float("nan"),
        "divergences": 0,
        "n_chains": int(obs.sizes["chain"]),
        "n_draws": int(obs.sizes["draw"]),
        "sweeps_per_draw": float(sweeps_per_draw),
    }
    for v in obs.data_vars:
        out[f"mean_{v}"] = float(obs[v].mean())
        out[f"mcse_{v}"] = float(mcse_mean[v].item())
        out[f"ess_{v}"] = float(ess_mean[v].item())
        tau = n_total / float(ess_mean[v].item())
        out[f"tau_int_{v}"] = tau
        out[f"tau_int_sweeps_{v}"] = tau * sweeps_per_draw
        out[f"tau_int_half_sweeps_{v}"] = 0.5 * tau * sweeps_per_draw  # ½ + Σρ convention
    n = couplings.n_spins
    K = couplings.uniform_coupling or 0.0
    sd_e, sd_m = float(obs["energy"].std()), float(obs["abs_magnetisation"].std())
    out["specific_heat_per_spin"] = K * K * n * sd_e ** 2
    out["specific_heat_per_spin_se"] = K * K * n * 2 * sd_e * float(mcse_sd["energy"].item())
    out["susceptibility"] = n * sd_m ** 2
    out["susceptibility_se"] = n * 2 * sd_m * float(mcse_sd["abs_magnetisation"].item())
    return out
