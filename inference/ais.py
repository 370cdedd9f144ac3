r"""Annealed importance sampling (Neal 2001), generic, plus an HMC kernel for PyMC models.

Along the tempering path :math:`\pi_\beta(x) \propto p(x)\,L(x)^\beta` (prior :math:`p`,
likelihood :math:`L`, :math:`0=\beta_0<\dots<\beta_K=1`) each independent run draws
:math:`x_1 \sim p` and accumulates

.. math:: \ln w = \sum_{k=1}^{K} (\beta_k - \beta_{k-1}) \ln L(x_k),
          \qquad x_{k+1} \sim T_{\beta_k}(x_k, \cdot),

with :math:`T_\beta` any Markov kernel leaving :math:`\pi_\beta` invariant.  Then
:math:`\hat Z = \overline{w}` is unbiased for :math:`Z = \int p L`, so :math:`\ln\hat Z` is a
stochastic *lower* bound of :math:`\ln Z` (Jensen) and :math:`-\ln\hat Z` errs high; the
se of :math:`\ln\hat Z` is the delta-method spread of the weights across runs,
:math:`\sqrt{\mathrm{Var}(w)/(R\,\bar w^2)}`.

:func:`ais` is the generic engine: the state can be anything batched over runs (spins,
vectors), so physics models plug in their own fast transitions (heat bath, Wolff ...)::

    ais(sample_prior, log_likelihood, transition, betas, n_runs, seed)
    sample_prior(n, rng) -> x                      # n independent draws from the beta=0 end
    log_likelihood(x) -> (n,)                      # ln L at each run's state
    transition(x, log_lik, beta, rng) -> (x, log_lik)   # pi_beta-invariant move

For a Bayesian physics model, "prior" and "likelihood" may be any base measure and
energy: with :math:`L = e^{-E}` and an inverse-temperature ladder this is the usual
:math:`\ln Z(\beta_1) - \ln Z(\beta_0)`.

:class:`HMCTransition` is the default kernel for PyMC models: vectorised HMC over runs in
the flat unconstrained space (:mod:`.model_density`), diagonal mass matrix from the runs'
current spread and a step size adapted towards a target acceptance.  The adaptation uses the
population of runs (like SMC), so the runs are only nearly independent; the se is still
computed as if they were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .model_density import log_mean_exp, model_density, relative_weights_se
from .records import FreeEnergy
from .registry import FreeEnergyEstimator, register_free_energy
from .thermodynamic_integration import power_ladder

__all__ = ["AISResult", "ais", "HMCTransition", "ais_pymc", "estimate_ais"]


@dataclass
class AISResult:
    log_weights: np.ndarray
    log_z: float
    se: float
    betas: np.ndarray
    final_state: object = None

    @property
    def ess(self) -> float:
        w = np.exp(self.log_weights - self.log_weights.max())
        return float(w.sum() ** 2 / np.sum(w**2))


def ais(sample_prior, log_likelihood, transition, betas, n_runs: int, seed=0) -> AISResult:
    """Run ``n_runs`` annealed importance sampling chains along ``betas`` (0 → 1)."""
    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or betas.size < 2 or betas[0] != 0.0 or not np.isclose(betas[-1], 1.0) \
            or np.any(np.diff(betas) <= 0):
        raise ValueError("betas must increase strictly from 0 to 1")
    if int(n_runs) < 2:
        raise ValueError(f"n_runs must be >= 2, got {n_runs}")
    rng = np.random.default_rng(seed)
    x = sample_prior(int(n_runs), rng)
    ll = np.asarray(log_likelihood(x), dtype=float)
    log_w = np.zeros(int(n_runs))
    for k in range(1, betas.size):
        log_w += (betas[k] - betas[k - 1]) * ll
        if k < betas.size - 1:
            x, ll = transition(x, ll, betas[k], rng)
            ll = np.asarray(ll, dtype=float)
    log_w = np.where(np.isnan(log_w), -np.inf, log_w)
    return AISResult(log_weights=log_w, log_z=float(log_mean_exp(log_w)),
                     se=relative_weights_se(log_w), betas=betas, final_state=x)


class HMCTransition:
    """Vectorised HMC on ``log prior + beta * log lik`` of a :class:`~.model_density.ModelDensity`.

    ``n_steps`` HMC moves of ``n_leapfrog`` leapfrog steps per temperature; inverse mass =
    the runs' per-coordinate variance (re-estimated at each temperature); the step size is
    adapted multiplicatively towards ``target_accept`` and jittered ±20 % per move.
    """

    def __init__(self, density, *, n_steps: int = 2, n_leapfrog: int = 5, target_accept: float = 0.75,
                 step_size: float | None = None):
        self.dens = density
        self.n_steps = int(n_steps)
        self.n_leapfrog = int(n_leapfrog)
        self.target = float(target_accept)
        self.eps = float(step_size if step_size is not None else 0.5 / density.ndim**0.25)
        self.acceptance = []

    def __call__(self, x, ll, beta, rng):
        n, d = x.shape
        scale2 = np.var(x, axis=0) if n > 2 else np.ones(d)
        scale2 = np.where(np.isfinite(scale2) & (scale2 > 0), scale2, 1.0)
        lp, ll, glp, gll = self.dens.values_and_grads(x)
        for _ in range(self.n_steps):
            eps = self.eps * rng.uniform(0.8, 1.2, size=(n, 1))
            p0 = rng.standard_normal((n, d)) / np.sqrt(scale2)  # momentum ~ N(0, M), M = 1/scale2
            logpi0 = lp + beta * ll
            xn, p = x.copy(), p0 + 0.5 * eps * (glp + beta * gll)
            for j in range(self.n_leapfrog):
                xn = xn + eps * scale2 * p
                lpn, lln, glpn, glln = self.dens.values_and_grads(xn)
                grad = glpn + beta * glln
                p = p + (eps if j < self.n_leapfrog - 1 else 0.5 * eps) * grad
            logpi1 = lpn + beta * lln
            with np.errstate(invalid="ignore", over="ignore"):
                kin0 = 0.5 * np.sum(p0**2 * scale2, axis=1)
                kin1 = 0.5 * np.sum(p**2 * scale2, axis=1)
                log_acc = (logpi1 - kin1) - (logpi0 - kin0)
            log_acc = np.where(np.isfinite(log_acc), log_acc, -np.inf)
            acc = np.log(rng.uniform(size=n)) < log_acc
            x = np.where(acc[:, None], xn, x)
            lp = np.where(acc, lpn, lp)
            ll = np.where(acc, lln, ll)
            glp = np.where(acc[:, None], glpn, glp)
            gll = np.where(acc[:, None], glln, gll)
            rate = float(np.mean(np.minimum(1.0, np.exp(np.minimum(log_acc, 0.0)))))
            self.acceptance.append(rate)
            self.eps *= float(np.exp(1.5 * (rate - self.target)))
        return x, ll


def ais_pymc(model, *, seed: int = 0, n_runs: int = 100, n_temperatures: int = 200, power: float = 5.0,
             betas=None, n_steps: int = 2, n_leapfrog: int = 5, return_result: bool = False):
    """−ln p(data) of a PyMC model by AIS from the prior with the HMC kernel; a :class:`FreeEnergy`.

    Temperatures ``(k/K)^power``, k = 0..K (the power-posterior path of TI) unless ``betas`` given.
    """
    t0 = time.perf_counter()
    dens = model_density(model)
    b = power_ladder(n_temperatures, power) if betas is None else np.asarray(betas, float)
    kernel = HMCTransition(dens, n_steps=n_steps, n_leapfrog=n_leapfrog)
    res = ais(dens.sample_prior, dens.log_likelihood, kernel, b, n_runs, seed)
    wall = time.perf_counter() - t0
    acc = float(np.mean(kernel.acceptance)) if kernel.acceptance else float("nan")
    note = (f"AIS, {n_runs} runs x {b.size} temperatures, HMC {n_steps}x{n_leapfrog} leapfrog "
            f"(mean acceptance {acc:.2f}), weight ESS {res.ess:.0f}; ln Z-hat is a stochastic lower bound "
            f"of ln Z, so -ln Z-hat errs high (E[-ln Z-hat] >= F); se from the spread of the weights")
    if res.ess < max(5.0, 0.05 * n_runs):
        note = (f"unreliable: weight ESS {res.ess:.1f} of {n_runs} runs (a few runs dominate; the se from "
                "the weights' spread is then meaningless: use more temperatures/moves); ") + note
    rec = FreeEnergy(value=-res.log_z, se=res.se, kind="estimate", estimator="ais", wall_time_s=wall, note=note)
    return (rec, res) if return_result else rec


def estimate_ais(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: runs its own annealing; ``result`` is not needed."""
    return ais_pymc(model, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="ais", estimate=estimate_ais, applies_to=("any",),
    description="annealed importance sampling (Neal 2001) from the prior along the power-posterior path, HMC moves"))
