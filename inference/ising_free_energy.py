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

**Fast path** (periodic L×L, L even, uniform K and h, checkerboard / heat-bath sampler): the
specialised numba kernel runs whole chains per call. TI integrates the Rao–Blackwellised bond sum
:math:`\sum_{i\in A} n_i\tanh(\lambda K n_i + h)` (the conditional expectation given the other
sublattice; exact mean, lower variance, 0 at λ = 0), chains in parallel threads, optionally with
draws allocated over rungs by a pilot's :math:`w_k\,\mathrm{sd}_k\sqrt{\tau_k}`. AIS runs on the
marginal of one sublattice with the other summed out (heat-bath transitions). Elsewhere the
general kernels and the plain bond sum are used.

Both are registered as free-energy estimators ``ising_ti`` / ``ising_ais`` for ``fit``.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from scipy import integrate, special

from .checkerboard import CheckerboardKernel, _with_ghost, rng_state, square_sweeps, up_probability_table
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


@numba.njit(cache=True)
def _rb_bond_sum(hist, kl, h, n_sweeps):
    r"""Rao–Blackwellised :math:`\sum_{\langle ij\rangle} s_i s_j` from the neighbour-sum histograms of both colours.

    On a bipartite lattice every bond has one end in each colour, so the bond sum is
    :math:`\sum_{i\in A} s_i n_i`; given the other colour, :math:`E[s_i n_i] = n_i\tanh(K n_i + h)`.
    The two colour estimators (each unbiased under stationarity) are averaged, and so are the sweeps.
    """
    tot = 0.0
    for par in range(2):
        for k in range(9):
            if hist[par, k]:
                n = k - 4
                tot += hist[par, k] * n * math.tanh(kl * n + h)
    return tot / (2.0 * n_sweeps)


@numba.njit(cache=True)
def ti_square_chain(spins, L, table, kl, h, n_burn, n_draws, sweeps, state, out):
    """Burn ``n_burn`` steps, then ``n_draws`` steps of ``sweeps`` sweeps storing the RB bond sum of each."""
    hist = np.zeros((2, 9), dtype=np.int64)
    no_u = np.empty((0, 0))
    if n_burn:
        square_sweeps(spins, L, table, n_burn * sweeps, no_u, state, hist)
    for t in range(n_draws):
        hist[:, :] = 0
        square_sweeps(spins, L, table, sweeps, no_u, state, hist)
        out[t] = _rb_bond_sum(hist, kl, h, sweeps)


@numba.njit(cache=True, parallel=True)
def ti_square_chains(spins, L, table, kl, h, n_burn, n_draws, sweeps, states, out):
    """:func:`ti_square_chain` for every chain (row of ``spins``, own xoshiro state row), chains in parallel
    threads; each chain's stream is its own, so the result does not depend on the thread count."""
    for c in numba.prange(spins.shape[0]):
        ti_square_chain(spins[c], L, table, kl, h, n_burn, n_draws, sweeps, states[c], out[c])


@numba.njit(cache=True)
def _log2cosh(x):
    a = abs(x)
    return a + math.log1p(math.exp(-2.0 * a))


@numba.njit(cache=True)
def ais_square_marginal(spins_runs, L, K, h, lam, sweeps, state, log_w):
    r"""AIS on the white-sublattice marginal (black spins summed out), heat-bath transitions.

    :math:`f_\lambda(w) = e^{h\sum w}\prod_{i\in B} 2\cosh(\lambda K n_i + h)`. At each temperature the
    black half-sweep of the heat-bath sweep at :math:`\lambda_t` sees the white state
    :math:`w_{t-1}`; its neighbour-sum histogram gives the exact increment
    :math:`\ln f_{\lambda_t}(w_{t-1}) - \ln f_{\lambda_{t-1}}(w_{t-1})`. Drawing the black spins
    afresh from :math:`P_{\lambda_t}(b \mid w)` and then the white ones from :math:`P(w \mid b)` is a
    kernel on w that leaves the marginal invariant.
    """
    n_runs = spins_runs.shape[0]
    hist = np.zeros((2, 9), dtype=np.int64)
    table = np.empty((2, 9))
    lc_old = np.empty(9)
    lc_new = np.empty(9)
    no_u = np.empty((0, 0))
    for k in range(9):
        lc_old[k] = _log2cosh(lam[0] * K * (k - 4) + h)
    for t in range(1, lam.shape[0]):
        for k in range(9):
            f = lam[t] * K * (k - 4) + h
            lc_new[k] = _log2cosh(f)
            p = 1.0 / (1.0 + math.exp(-2.0 * f))
            table[0, k] = p
            table[1, k] = p
        for r in range(n_runs):
            hist[:, :] = 0
            spins = spins_runs[r]
            square_sweeps(spins, L, table, 1, no_u, state, hist)
            inc = 0.0
            for k in range(9):
                if hist[0, k]:
                    inc += hist[0, k] * (lc_new[k] - lc_old[k])
            log_w[r] += inc
            if sweeps > 1:
                square_sweeps(spins, L, table, sweeps - 1, no_u, state, hist)
        for k in range(9):
            lc_old[k] = lc_new[k]


def fast_square(couplings: IsingCouplings) -> bool:
    """True when the specialised periodic-square kernel and the RB / marginal estimators apply
    (periodic L×L, L even, uniform K and h)."""
    c = couplings
    return bool(c.is_square_lattice and c.boundary == "periodic" and c.shape[0] == c.shape[1]
                and c.shape[0] % 2 == 0 and c.uniform_coupling is not None and c.uniform_field is not None
                and c.neighbour_table[0].shape[1] == 4)


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


def _fast_path(couplings, sampler, requested, name: str) -> bool:
    """Whether to use the sublattice (fast square-lattice) path: ``requested`` (None = when possible)."""
    fast = sampler in ("checkerboard", "heat_bath") and fast_square(couplings)
    if requested is None:
        return fast
    if requested and not fast:
        raise ValueError(f"{name} needs a periodic L x L lattice (L even, uniform K and h) and a "
                         "checkerboard / heat_bath sampler")
    return bool(requested)


def thermodynamic_integration(couplings: IsingCouplings, *, n_rungs: int = 33, draws: int = 1000,
                              burn: int = 100, chains: int = 2, sampler: str = "checkerboard", sweeps: int = 1,
                              seed=0, rao_blackwell: bool | None = None, allocate: str = "uniform",
                              pilot_fraction: float = 0.25) -> FreeEnergy:
    r"""−ln Z by TI over the coupling scale λ (Simpson on ``n_rungs`` = 4m + 1 rungs), se = quadrature ⊕ MCSE.

    Each rung runs ``chains`` chains of ``burn`` + ``draws`` steps, warm-started from the previous rung.

    On a periodic L×L lattice (L even, uniform K and h) with a checkerboard sampler the fast path
    runs the specialised kernel in numba and, with ``rao_blackwell`` (default there), integrates the
    conditional expectation :math:`\sum_{i\in A} n_i\tanh(\lambda K n_i + h)` of the bond sum
    instead of the bond sum itself (same mean, lower variance; exactly 0 at λ = 0).
    ``allocate="variance"`` spends ``pilot_fraction`` of the draws evenly, then gives the rest to
    rung k in proportion to :math:`w_k\,\mathrm{sd}_k\sqrt{\tau_k}` (Simpson weight × pilot sd ×
    √(n/ESS)), continuing the pilot chains, which minimises the MC variance of the integral for a
    fixed number of sweeps. The MCSEs come from ArviZ on the full per-rung chains either way.
    """
    import arviz_stats as azs

    _check_common(couplings, sampler)
    if not (isinstance(n_rungs, int) and n_rungs >= 5 and (n_rungs - 1) % 4 == 0):
        raise ValueError(f"n_rungs must be an integer 4m + 1 >= 5, got {n_rungs!r}")
    for name, v, lo in (("draws", draws, 10), ("burn", burn, 0), ("chains", chains, 2), ("sweeps", sweeps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if allocate not in ("uniform", "variance"):
        raise ValueError(f"allocate must be 'uniform' or 'variance', got {allocate!r}")
    if not (0.0 < pilot_fraction <= 1.0):
        raise ValueError(f"pilot_fraction must be in (0, 1], got {pilot_fraction!r}")
    rao_blackwell = _fast_path(couplings, sampler, rao_blackwell, "rao_blackwell")
    if allocate == "variance" and not rao_blackwell:
        raise ValueError("allocate='variance' is implemented for the fast (rao_blackwell) path")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lam = np.linspace(0.0, 1.0, n_rungs)
    w = integrate.simpson(np.eye(n_rungs), x=lam, axis=1)
    if rao_blackwell:
        means, mcses, n_used = _ti_fast(couplings, lam, w, draws, burn, chains, sampler, sweeps, rng, allocate,
                                        pilot_fraction)
        return _ti_record(couplings, lam, w, means, mcses, t0,
                          f"TI over coupling scale, {n_rungs} Simpson rungs x {chains} chains, "
                          f"{n_used} draws in all ({sampler}, Rao-Blackwellised bond sum, {allocate} allocation)")
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
    return _ti_record(couplings, lam, w, means, mcses, t0,
                      f"TI over coupling scale, {n_rungs} Simpson rungs x {chains}x{draws} draws ({sampler})")


def _ti_record(couplings, lam, w, means, mcses, t0, note):
    integral = integrate.simpson(means, x=lam)
    coarse = integrate.simpson(means[::2], x=lam[::2])
    quad_err = abs(integral - coarse) / 15.0
    mc_se = float(np.sqrt(np.sum((w * mcses) ** 2)))
    log_z = log_partition_independent(couplings) + integral
    return FreeEnergy(value=-float(log_z), se=float(math.hypot(mc_se, quad_err)), kind="estimate",
                      estimator="ising_ti", wall_time_s=time.perf_counter() - t0,
                      note=f"{note}; quadrature err {quad_err:.2e}, MCSE {mc_se:.2e}")


def _rung_stats(g):
    """(mean, ArviZ MCSE, sd·√τ with τ = n/ESS) of a (chains, draws) series; zeros for a constant one."""
    import arviz_stats as azs

    if not g.std() > 0:
        return float(g.mean()), 0.0, 0.0
    ess = float(azs.ess(g, method="mean"))
    return float(g.mean()), float(azs.mcse(g)), float(g.std() * math.sqrt(g.size / max(ess, 1.0)))


def _ti_fast(couplings, lam, w, draws, burn, chains, sampler, sweeps, rng, allocate, pilot_fraction):
    """Rung-by-rung RB bond sums with the square kernel; optional variance-based second pass."""
    L = couplings.shape[0]
    K, h = couplings.uniform_coupling, couplings.uniform_field
    rule = "metropolis" if sampler == "checkerboard" else "heat_bath"
    n_rungs = len(lam)
    tables = [up_probability_table(lk * K, h, 4, rule) for lk in lam]
    states = np.stack([rng_state(rng) for _ in range(chains)])
    bufs = np.stack([_exact_independent_draw(couplings, rng) for _ in range(chains)])
    n1 = draws if allocate == "uniform" else max(10, int(round(pilot_fraction * draws)))
    series, saved = [], []
    for k, lk in enumerate(lam):
        g = np.empty((chains, n1))
        ti_square_chains(bufs, L, tables[k], lk * K, h, burn, n1, sweeps, states, g)
        series.append(g)
        saved.append(bufs.copy())
    if allocate == "variance":
        a = np.array([abs(w[k]) * _rung_stats(series[k])[2] for k in range(n_rungs)])
        extra_total = max(0, n_rungs * draws - n_rungs * n1)
        extra = np.floor(extra_total * a / a.sum()).astype(int) if a.sum() > 0 else np.zeros(n_rungs, int)
        for k in range(n_rungs):
            if extra[k] == 0:
                continue
            more = np.empty((chains, extra[k]))  # continue each rung's own chains: one long chain per rung
            ti_square_chains(saved[k], L, tables[k], lam[k] * K, h, 0, extra[k], sweeps, states, more)
            series[k] = np.concatenate([series[k], more], axis=1)
    stats = [_rung_stats(g) for g in series]
    means = np.array([st[0] for st in stats]) * K
    mcses = np.array([st[1] for st in stats]) * K
    return means, mcses, int(sum(g.shape[1] for g in series))


def annealed_importance_sampling(couplings: IsingCouplings, *, n_temps: int = 1000, n_runs: int = 32,
                                 sampler: str = "checkerboard", sweeps: int = 1, schedule: str = "linear",
                                 seed=0, return_log_weights: bool = False, marginal: bool | None = None):
    r"""−ln Z by AIS along λ ∈ [0, 1] with ``n_temps`` transitions per run and ``n_runs`` runs.

    ``schedule``: ``"linear"`` in λ, or ``"sigmoid"`` (denser where λ is mid-range). se of
    :math:`\ln\hat Z` by the delta method, :math:`\mathrm{sd}(w)/(\bar w\sqrt{n})`.

    ``marginal`` (default on a periodic L×L lattice, L even, uniform K and h, with a checkerboard
    sampler): AIS on the marginal of one sublattice with the other summed out exactly
    (:func:`ais_square_marginal`, heat-bath transitions in numba), a Rao–Blackwellised weight of
    lower variance.
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
    marginal = _fast_path(couplings, sampler, marginal, "marginal")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    log_w = np.zeros(n_runs)
    if marginal:
        spins = np.stack([_exact_independent_draw(couplings, rng) for _ in range(n_runs)])
        ais_square_marginal(spins, couplings.shape[0], couplings.uniform_coupling, couplings.uniform_field, lam,
                            sweeps, rng_state(rng), log_w)
        sampler = "heat_bath, one sublattice summed out"
    else:
        edges, weights = couplings.edges, couplings.weights
        couplings.neighbour_table, couplings.colouring  # noqa: B018
        bufs = [_with_ghost(_exact_independent_draw(couplings, rng)) for _ in range(n_runs)]
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
    """The fast RB / marginal path where it applies, else Swendsen–Wang at h = 0, else checkerboard."""
    if fast_square(couplings) or not couplings.zero_field:
        return "checkerboard"
    return "swendsen_wang"


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
