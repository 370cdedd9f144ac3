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
population of runs (like SMC) but never the moving run itself (halves adapt each other), so every
move leaves its tempered target invariant; the runs are only nearly independent, and the se is
still computed as if they were.
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
    the runs' covariance (``mass="full"``) or per-coordinate variance (``"diag"``), re-estimated
    at each temperature from the other half of the runs; the step size is adapted
    multiplicatively towards ``target_accept`` on the other half's acceptance and jittered ±20 %
    per move.
    """

    def __init__(self, density, *, n_steps: int = 2, n_leapfrog: int = 5, target_accept: float = 0.75,
                 step_size: float | None = None, mass: str = "diag"):
        if mass not in ("diag", "full"):
            raise ValueError(f"mass must be 'diag' or 'full', got {mass!r}")
        self.dens = density
        self.n_steps = int(n_steps)
        self.n_leapfrog = int(n_leapfrog)
        self.target = float(target_accept)
        self.eps = float(step_size if step_size is not None else 0.5 / density.ndim**0.25)
        self.mass = mass
        self.acceptance = []

    def _inverse_mass(self, x):
        """Lower Cholesky factor L of the inverse mass matrix (the runs' covariance; diagonal or full)."""
        n, d = x.shape
        if n <= 2:
            return np.eye(d)
        if self.mass == "full" and n > 2 * d:
            cov = np.atleast_2d(np.cov(x, rowvar=False))
            if np.all(np.isfinite(cov)):
                scale = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
                corr = cov / np.outer(scale, scale)
                corr = 0.95 * corr + 0.05 * np.eye(d)  # shrink towards the diagonal
                try:
                    return scale[:, None] * np.linalg.cholesky(corr)
                except np.linalg.LinAlgError:
                    pass
        scale2 = np.var(x, axis=0)
        scale2 = np.where(np.isfinite(scale2) & (scale2 > 0), scale2, 1.0)
        return np.diag(np.sqrt(scale2))

    def __call__(self, x, ll, beta, rng):
        """Move every run; the two halves of the runs take turns.

        Each half moves with a mass matrix estimated from the *other* half's current states and a
        step size last tuned on the other half's acceptance, so no run's kernel depends on its own
        current state: each move is then exactly invariant for the tempered target, as AIS requires.
        (Adapting on the whole population, the moving run included, biased ln Ẑ upwards by
        about 2 se on the conjugate regression.)
        """
        n, d = x.shape
        x, ll = x.copy(), np.asarray(ll, dtype=float).copy()
        halves = (np.arange(0, n, 2), np.arange(1, n, 2))
        for h, idx in enumerate(halves):
            other = halves[1 - h]
            chol = self._inverse_mass(x[other])  # inverse mass M^-1 = L L^T; momentum p ~ N(0, M)
            x[idx], ll[idx], rate = self._moves(x[idx], beta, chol, self.eps, rng)
            # tuned on this half's acceptance, used next by the other half
            self.eps *= float(np.exp(1.5 * (rate - self.target)))
        return x, ll

    def _moves(self, x, beta, chol, eps0, rng):
        """``n_steps`` HMC moves of all rows of ``x`` with a fixed inverse-mass factor and step size."""
        n, d = x.shape
        chol_inv = np.linalg.inv(chol)
        lp, ll, glp, gll = self.dens.values_and_grads(x)
        rates = []
        for _ in range(self.n_steps):
            eps = eps0 * rng.uniform(0.8, 1.2, size=(n, 1))
            p0 = rng.standard_normal((n, d)) @ chol_inv  # rows: p = z L^-1, Cov(p) = (L L^T)^-1
            logpi0 = lp + beta * ll
            xn, p = x.copy(), p0 + 0.5 * eps * (glp + beta * gll)
            for j in range(self.n_leapfrog):
                with np.errstate(invalid="ignore", over="ignore"):
                    xn = xn + eps * ((p @ chol) @ chol.T)
                lpn, lln, glpn, glln = self.dens.values_and_grads(xn)
                grad = glpn + beta * glln
                p = p + (eps if j < self.n_leapfrog - 1 else 0.5 * eps) * grad
            logpi1 = lpn + beta * lln
            with np.errstate(invalid="ignore", over="ignore"):
                kin0 = 0.5 * np.sum((p0 @ chol) ** 2, axis=1)
                kin1 = 0.5 * np.sum((p @ chol) ** 2, axis=1)
                log_acc = (logpi1 - kin1) - (logpi0 - kin0)
            log_acc = np.where(np.isfinite(log_acc), log_acc, -np.inf)
            acc = np.log(rng.uniform(size=n)) < log_acc
            x = np.where(acc[:, None], xn, x)
            lp = np.where(acc, lpn, lp)
            ll = np.where(acc, lln, ll)
            glp = np.where(acc[:, None], glpn, glp)
            gll = np.where(acc[:, None], glln, gll)
            rates.append(float(np.mean(np.minimum(1.0, np.exp(np.minimum(log_acc, 0.0))))))
        self.acceptance.extend(rates)
        return x, ll, float(np.mean(rates))


def ais_pymc(model, *, seed: int = 0, n_runs: int = 100, n_temperatures: int = 200, power: float = 5.0,
             betas=None, n_steps: int = 2, n_leapfrog: int = 5, mass: str = "full", return_result: bool = False):
    """−ln p(data) of a PyMC model by AIS from the prior with the HMC kernel; a :class:`FreeEnergy`.

    Temperatures ``(k/K)^power``, k = 0..K (the power-posterior path of TI) unless ``betas`` given:
    with ``power = 5`` the first temperatures reach down to :math:`K^{-5}`, so the runs have many
    small steps to leave a vague prior's tails (a path geometric from a pilot-chosen
    :math:`t_1` was tried on posteriordb's sblrc and lost almost all runs at the first steps).
    ``mass="full"`` (default) uses the runs' full covariance, shrunk 5 % towards its diagonal, as
    inverse mass matrix (needed for correlated posteriors, e.g. sblrc); ``"diag"``: its diagonal.
    """
    t0 = time.perf_counter()
    dens = model_density(model)
    if betas is not None:
        b, how = np.asarray(betas, float), "user temperatures"
    else:
        b, how = power_ladder(n_temperatures, power), f"(k/K)^{power:g}"
    kernel = HMCTransition(dens, n_steps=n_steps, n_leapfrog=n_leapfrog, mass=mass)
    res = ais(dens.sample_prior, dens.log_likelihood, kernel, b, n_runs, seed)
    wall = time.perf_counter() - t0
    acc = float(np.mean(kernel.acceptance)) if kernel.acceptance else float("nan")
    note = (f"AIS, {n_runs} runs x {b.size} temperatures ({how}), HMC {n_steps}x{n_leapfrog} leapfrog, {mass} mass "
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
