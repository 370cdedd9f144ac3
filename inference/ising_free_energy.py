r"""Free energy −ln Z of Ising models by thermodynamic integration and annealed importance sampling.

Both follow the path :math:`\lambda \in [0, 1]` that scales the couplings, :math:`K_e \to \lambda K_e`,
with the field fixed, from the independent-spin model

.. math::

    \ln Z(0) = \sum_i \ln(2\cosh h_i) \quad (= N\ln 2 \text{ at } h = 0),
    \qquad \frac{d\ln Z}{d\lambda} = \Big\langle \sum_e K_e s_i s_j \Big\rangle_\lambda \equiv \langle B\rangle_\lambda .

**TI**: :math:`\ln Z(1) = \ln Z(0) + \int_0^1 \langle B\rangle_\lambda d\lambda` by composite Simpson on
:math:`4m + 1` equally spaced rungs (``scipy.integrate.simpson``); quadrature error by
Richardson, :math:`|S_h - S_{2h}|/15`; Monte Carlo error :math:`\sqrt{\sum_k w_k^2\,\mathrm{MCSE}_k^2}`
with ArviZ MCSEs. The reported se combines both in quadrature.

**AIS** (Neal 2001): exact draws at λ = 0, then for t = 1..T, :math:`\ln w \mathrel{+}= (\lambda_t - \lambda_{t-1}) B(s)`
followed by a transition that leaves :math:`P_{\lambda_t}` invariant (the fast sampler).
:math:`\ln\hat Z = \ln Z(0) + \ln\overline{w}`; se by the delta method from the spread of the
weights over independent runs. :math:`\hat Z` is unbiased, so −ln Ẑ is (stochastically) an upper
bound on F; the record's kind is ``estimate`` with that noted.

Both are registered as free-energy estimators ``ising_ti`` / ``ising_ais`` for ``fit``.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from scipy import integrate, special

from .checkerboard import CheckerboardKernel, _with_ghost
from .lattice import IsingCouplings, couplings_of
from .records import FreeEnergy
from .registry import FreeEnergyEstimator, register_free_energy

SAMPLERS = ("checkerboard", "heat_bath", "swendsen_wang", "wolff")


@numba.njit(cache=True)
def weighted_bond_sum(spins, edges, weights):
    r""":math:`B(s) = \sum_e K_e s_i s_j`."""
    b = 0.0
    for e in range(edges.shape[0]):
        b += weights[e] * spins[edges[e, 0]] * spins[edges[e, 1]]
    return b


def log_partition_independent(couplings: IsingCouplings) -> float:
    r""":math:`\ln Z(\lambda = 0) = \sum_i \ln 2\cosh h_i`."""
    h = np.abs(couplings.field)
    return float(np.sum(h + np.log1p(np.exp(-2 * h))))


def _kernel(couplings: IsingCouplings, sampler: str, sweeps: int = 1):
    if sampler in ("checkerboard", "heat_bath"):
        return CheckerboardKernel(couplings, "metropolis" if sampler == "checkerboard" else "heat_bath", sweeps)
    if sampler == "swendsen_wang":
        from .swendsen_wang import SwendsenWangKernel
        return SwendsenWangKernel(couplings, sweeps)
    if sampler == "wolff":
        from .wolff import WolffKernel
        return WolffKernel(couplings, max(1, sweeps))
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


def _check_common(couplings, sampler):
    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler in ("swendsen_wang", "wolff") and not couplings.zero_field:
        raise ValueError(f"sampler {sampler!r} needs zero field h = 0")


def _exact_independent_draw(couplings, rng):
    p_up = 0.5 * (1 + np.tanh(couplings.field))
    return np.where(rng.random(couplings.n_spins) < p_up, 1, -1).astype(np.int8)


def thermodynamic_integration(couplings: IsingCouplings, *, n_rungs: int = 33, draws: int = 1000,
                              burn: int = 100, chains: int = 2, sampler: str = "checkerboard", sweeps: int = 1,
                              seed=0) -> FreeEnergy:
    """−ln Z by TI over the coupling scale λ (Simpson on ``n_rungs`` = 4m + 1 rungs), se = quadrature ⊕ MCSE.

    Each rung runs ``chains`` chains of ``burn`` + ``draws`` steps, warm-started from the previous rung.
    """
    import arviz_stats as azs

    _check_common(couplings, sampler)
    if not (isinstance(n_rungs, int) and n_rungs >= 5 and (n_rungs - 1) % 4 == 0):
        raise ValueError(f"n_rungs must be an integer 4m + 1 >= 5, got {n_rungs!r}")
    for name, v, lo in (("draws", draws, 10), ("burn", burn, 0), ("chains", chains, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lam = np.linspace(0.0, 1.0, n_rungs)
    edges, weights = couplings.edges, couplings.weights
    couplings.neighbour_table, couplings.colouring  # noqa: B018 - build once, reused by every rung
    bufs = [_with_ghost(_exact_independent_draw(couplings, rng)) for _ in range(chains)]
    means, mcses = np.empty(n_rungs), np.empty(n_rungs)
    for k, lk in enumerate(lam):
        kern = _kernel(couplings.scaled(lk), sampler, sweeps)
        g = np.empty((chains, draws))
        for c in range(chains):
            if burn:
                kern._advance(rng, bufs[c], burn)
            for t in range(draws):
                kern._advance(rng, bufs[c], 1)
                g[c, t] = weighted_bond_sum(bufs[c], edges, weights)
        means[k] = g.mean()
        mcses[k] = float(azs.mcse(g)) if g.std() > 0 else 0.0
    integral = integrate.simpson(means, x=lam)
    coarse = integrate.simpson(means[::2], x=lam[::2])
    quad_err = abs(integral - coarse) / 15.0
    w = integrate.simpson(np.eye(n_rungs), x=lam, axis=1)
    mc_se = float(np.sqrt(np.sum((w * mcses) ** 2)))
    log_z = log_partition_independent(couplings) + integral
    return FreeEnergy(value=-float(log_z), se=float(math.hypot(mc_se, quad_err)), kind="estimate",
                      estimator="ising_ti", wall_time_s=time.perf_counter() - t0,
                      note=f"TI over coupling scale, {n_rungs} Simpson rungs x {chains}x{draws} draws ({sampler}); "
                           f"quadrature err {quad_err:.2e}, MCSE {mc_se:.2e}")


def annealed_importance_sampling(couplings: IsingCouplings, *, n_temps: int = 1000, n_runs: int = 32,
                                 sampler: str = "checkerboard", sweeps: int = 1, schedule: str = "linear",
                                 seed=0, return_log_weights: bool = False):
    r"""−ln Z by AIS along λ ∈ [0, 1] with ``n_temps`` transitions per run and ``n_runs`` runs.

    ``schedule``: ``"linear"`` in λ, or ``"sigmoid"`` (denser where λ is mid-range). se of
    :math:`\ln\hat Z` by the delta method, :math:`\mathrm{sd}(w)/(\bar w\sqrt{n})`.
    """
    _check_common(couplings, sampler)
    for name, v, lo in (("n_temps", n_temps, 1), ("n_runs", n_runs, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if schedule == "linear":
        lam = np.linspace(0.0, 1.0, n_temps + 1)
    elif schedule == "sigmoid":
        x = special.expit(np.linspace(-4, 4, n_temps + 1))
        lam = (x - x[0]) / (x[-1] - x[0])
    else:
        raise ValueError(f"schedule must be 'linear' or 'sigmoid', got {schedule!r}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    edges, weights = couplings.edges, couplings.weights
    couplings.neighbour_table, couplings.colouring  # noqa: B018
    bufs = [_with_ghost(_exact_independent_draw(couplings, rng)) for _ in range(n_runs)]
    log_w = np.zeros(n_runs)
    for t in range(1, n_temps + 1):
        kern = _kernel(couplings.scaled(lam[t]), sampler, sweeps)
        dl = lam[t] - lam[t - 1]
        for r in range(n_runs):
            log_w[r] += dl * weighted_bond_sum(bufs[r], edges, weights)
            kern._advance(rng, bufs[r], 1)
    log_mean_w = float(special.logsumexp(log_w) - math.log(n_runs))
    wn = np.exp(log_w - log_w.max())
    se = float(wn.std(ddof=1) / (wn.mean() * math.sqrt(n_runs)))
    log_z = log_partition_independent(couplings) + log_mean_w
    rec = FreeEnergy(value=-log_z, se=se, kind="estimate", estimator="ising_ais",
                     wall_time_s=time.perf_counter() - t0,
                     note=f"AIS, {n_temps} {schedule} temperatures x {n_runs} runs ({sampler}); "
                          "E[Z_hat] = Z, so -ln Z_hat is a stochastic upper bound on F")
    return (rec, log_w) if return_log_weights else rec


def _default_sampler(couplings):
    return "swendsen_wang" if couplings.zero_field else "checkerboard"


def _estimate_ti(model, result=None, *, seed=0, **options) -> FreeEnergy:
    found = couplings_of(model)
    if found is None:
        raise ValueError("ising_ti needs a model with Ising couplings (physml.models.ising)")
    options.setdefault("sampler", _default_sampler(found[0]))
    return thermodynamic_integration(found[0], seed=seed, **options)


def _estimate_ais(model, result=None, *, seed=0, **options) -> FreeEnergy:
    found = couplings_of(model)
    if found is None:
        raise ValueError("ising_ais needs a model with Ising couplings (physml.models.ising)")
    options.setdefault("sampler", _default_sampler(found[0]))
    return annealed_importance_sampling(found[0], seed=seed, **options)


register_free_energy(FreeEnergyEstimator(name="ising_ti", estimate=_estimate_ti, applies_to=("any",),
                                         description="thermodynamic integration over the Ising coupling scale"))
register_free_energy(FreeEnergyEstimator(name="ising_ais", estimate=_estimate_ais, applies_to=("any",),
                                         description="annealed importance sampling along the Ising coupling scale"))
