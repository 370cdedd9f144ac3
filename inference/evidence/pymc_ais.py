r"""AIS and BDMC for PyMC models: the power-posterior path with HMC moves tuned on a pilot population.

The path is :math:`f_\beta(x) = p(x)\,L(x)^\beta` in the flat unconstrained space of
:mod:`..model_density` (:math:`\ln Z_0 = 0`, exact prior draws at :math:`\beta = 0`), run by the
engine of :mod:`.ais` (:class:`~.ais.TemperedLikelihoodPath`), on temperatures :math:`(k/K)^{p}`.
An HMC move at :math:`\beta` with inverse mass :math:`M^{-1} = LL^\top` and leapfrog step
:math:`\epsilon` leaves :math:`\pi_\beta \propto p\,L^\beta` invariant:

.. math:: p \sim N(0, M), \quad (x, p) \xrightarrow{\text{leapfrog}} (x', p'), \quad
          \text{accept with } \min\{1, e^{\ln f_\beta(x') - \frac12 p'^\top M^{-1} p'
          - \ln f_\beta(x) + \frac12 p^\top M^{-1} p}\}.

The kernel: :class:`HMCTransition` moves the runs with a mass matrix and step size tuned on a separate *pilot*
population (:class:`PilotPopulation`: own prior draws, resample-move along the same ladder, adapted
on itself, its weights never used for the estimate), so every run's kernel is a fixed function of the
pilot and the runs are independent given it. It records the per-temperature settings as an
:class:`HMCSchedule`, which the reverse pass (:class:`ScheduledHMC`) reuses; the reverse check of
:func:`ais_pymc` starts from the pilot's final population, :func:`bdmc_pymc` from posterior draws.
(The previous kernel let two halves of the runs tune each other's mass matrix and step size; through
that feedback each run's kernel depended on its own past, which biased ln Ẑ *upwards*, e.g. mean
z −1.0 ± 0.2 over 60 seeds on a Normal-mean model with 16 runs x 201 temperatures.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .adaptive import Knob, split_sandwich, with_tolerance
from .ais import BDMC_TOLERANCE, AISResult, TemperedLikelihoodPath, ais, ais_record, anneal, bdmc_record
from .thermodynamic_integration import power_ladder
from ..model_density import model_density
from ..priors import require_proper_prior
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["HMCSchedule", "inverse_mass_factor", "hmc_moves", "PilotPopulation", "HMCTransition", "ScheduledHMC",
           "ais_pymc", "ais_pymc_to_tolerance", "bdmc_pymc", "estimate_ais", "estimate_bdmc"]


@dataclass
class HMCSchedule:
    """Per-temperature HMC settings: step size and Cholesky factor of the inverse mass matrix
    ((d,) for a diagonal mass, (d, d) lower-triangular for a full one), looked up by exact beta."""

    settings: dict = field(default_factory=dict)

    def add(self, beta: float, eps: float, chol: np.ndarray) -> None:
        self.settings[float(beta)] = (float(eps), chol)

    def at(self, beta: float):
        try:
            return self.settings[float(beta)]
        except KeyError:
            raise ValueError(f"the HMC schedule has no temperature {beta!r}: tune it on the same ladder") from None


def inverse_mass_factor(x: np.ndarray, mass: str) -> np.ndarray:
    """Cholesky factor L of the inverse mass matrix from a population ``x`` (n, d): per-coordinate sd
    (``"diag"``, returned as a (d,) vector) or the covariance shrunk 5 % towards its diagonal (``"full"``)."""
    n, d = x.shape
    ok = np.all(np.isfinite(x), axis=1)
    x = x[ok]
    if len(x) <= 2:
        return np.ones(d)
    if mass == "full" and len(x) > 2 * d:
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        scale = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
        corr = 0.95 * cov / np.outer(scale, scale) + 0.05 * np.eye(d)
        try:
            return scale[:, None] * np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            pass
    var = np.var(x, axis=0)
    return np.sqrt(np.where(np.isfinite(var) & (var > 0), var, 1.0))


def hmc_moves(dens, x, beta, chol, eps0, n_steps, n_leapfrog, rng):
    """``n_steps`` HMC moves of every row of ``x`` on ``log prior + beta log lik`` with inverse mass
    ``chol chol^T`` and step ``eps0`` jittered ±20 % per row and move (a state-independent mixture of
    reversible kernels). Returns (x, log_lik, per-row mean acceptance probability)."""
    n, d = x.shape
    diag = chol.ndim == 1
    mul = (lambda p: p * chol) if diag else (lambda p: p @ chol)            # p -> p L
    minv = (lambda p: p * chol**2) if diag else (lambda p: (p @ chol) @ chol.T)  # p -> M^-1 p
    chol_inv = None if diag else np.linalg.inv(chol)
    lp, ll, glp, gll = dens.values_and_grads(x)
    acc_sum = np.zeros(n)
    for _ in range(n_steps):
        eps = eps0 * rng.uniform(0.8, 1.2, size=(n, 1))
        z = rng.standard_normal((n, d))
        p0 = z / chol if diag else z @ chol_inv  # p ~ N(0, M), M = (L L^T)^-1
        xn, p = x.copy(), p0 + 0.5 * eps * (glp + beta * gll)
        for j in range(n_leapfrog):
            with np.errstate(invalid="ignore", over="ignore"):
                xn = xn + eps * minv(p)
            lpn, lln, glpn, glln = dens.values_and_grads(xn)
            p = p + (eps if j < n_leapfrog - 1 else 0.5 * eps) * (glpn + beta * glln)
        with np.errstate(invalid="ignore", over="ignore"):
            log_acc = (lpn + beta * lln - 0.5 * np.sum(mul(p) ** 2, axis=1)) \
                - (lp + beta * ll - 0.5 * np.sum(mul(p0) ** 2, axis=1))
        log_acc = np.where(np.isfinite(log_acc), log_acc, -np.inf)
        acc = np.log(rng.uniform(size=n)) < log_acc
        x = np.where(acc[:, None], xn, x)
        lp, ll = np.where(acc, lpn, lp), np.where(acc, lln, ll)
        glp, gll = np.where(acc[:, None], glpn, glp), np.where(acc[:, None], glln, gll)
        acc_sum += np.exp(np.minimum(log_acc, 0.0))
    return x, ll, acc_sum / n_steps


class PilotPopulation:
    r"""A resample-move (SMC) population that tracks the tempered targets, for tuning only.

    Its log weights accumulate :math:`(\beta - \beta_\mathrm{prev}) \ln L` like an AIS run's; when their
    Kish ESS falls below half the population it is resampled (multinomial, ``rng.choice``), so stuck
    members are dropped and its spread follows :math:`\pi_\beta` even where plain AIS runs lag.
    """

    def __init__(self, x: np.ndarray, log_lik: np.ndarray):
        self.x, self.log_lik = x, np.asarray(log_lik, dtype=float)
        self.log_w = np.zeros(len(x))
        self.beta = 0.0
        self.n_resampled = 0

    def reweight(self, beta: float, rng: np.random.Generator) -> None:
        """Weights up to ``beta`` (the population is distributed as pi at the previous beta), then resample."""
        with np.errstate(invalid="ignore"):
            self.log_w = np.where(np.isfinite(self.log_lik), self.log_w + (beta - self.beta) * self.log_lik, -np.inf)
        self.beta = beta
        if not np.isfinite(self.log_w).any():
            return
        w = np.exp(self.log_w - self.log_w.max())
        if w.sum() ** 2 / np.sum(w**2) < 0.5 * len(w):
            idx = rng.choice(len(w), size=len(w), p=w / w.sum())
            self.x, self.log_lik, self.log_w = self.x[idx], self.log_lik[idx], np.zeros(len(w))
            self.n_resampled += 1

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` members drawn by weight after reweighting to beta = 1: approximate draws of the posterior."""
        self.reweight(1.0, rng)
        w = np.exp(self.log_w - self.log_w.max())
        return self.x[rng.choice(len(w), size=int(n), p=w / w.sum())]


class HMCTransition:
    """Forward-pass HMC for :func:`ais` on a :class:`~.model_density.ModelDensity`, tuned on a pilot.

    A :class:`PilotPopulation` of ``n_pilot`` members (own prior draws at the first call; resampled
    by its own weights, so it tracks each tempered target) travels the same ladder in the same
    compiled calls as the runs. At each temperature the inverse mass is the pilot's spread
    (``mass="full"`` or ``"diag"``) and the step size is adapted multiplicatively towards
    ``target_accept`` on the pilot's acceptance only. The runs' kernel is then a fixed function of
    the pilot, exactly invariant for each tempered target: the runs' AIS weights are unbiased for Z
    and the runs independent given the pilot (whose weights are never used for the estimate). The
    settings used are recorded in :attr:`schedule` for the reverse pass of BDMC.
    """

    def __init__(self, density, *, n_steps: int = 2, n_leapfrog: int = 5, target_accept: float = 0.75,
                 step_size: float | None = None, mass: str = "full", n_pilot: int = 64):
        if mass not in ("diag", "full"):
            raise ValueError(f"mass must be 'diag' or 'full', got {mass!r}")
        for name, v, lo in (("n_pilot", n_pilot, 4), ("n_steps", n_steps, 1), ("n_leapfrog", n_leapfrog, 1)):
            if isinstance(v, bool) or int(v) != v or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        self.dens = density
        self.n_steps, self.n_leapfrog = int(n_steps), int(n_leapfrog)
        self.target = float(target_accept)
        self.eps = float(step_size if step_size is not None else 0.5 / density.ndim**0.25)
        self.mass = mass
        self.n_pilot = int(n_pilot)
        self.schedule = HMCSchedule()
        self.acceptance = []  # the runs' mean acceptance per temperature
        self.pilot = None

    def __call__(self, x, ll, beta, rng):
        if self.pilot is None:
            draws = self.dens.sample_prior(self.n_pilot, rng)
            self.pilot = PilotPopulation(draws, self.dens.log_likelihood(draws))
        self.pilot.reweight(beta, rng)
        n = len(x)
        chol = inverse_mass_factor(self.pilot.x, self.mass)
        both, ll_both, acc = hmc_moves(self.dens, np.concatenate([x, self.pilot.x]), beta, chol, self.eps,
                                       self.n_steps, self.n_leapfrog, rng)
        self.schedule.add(beta, self.eps, chol)
        self.acceptance.append(float(np.mean(acc[:n])))
        self.pilot.x, self.pilot.log_lik = both[n:], ll_both[n:]
        self.eps *= float(np.exp(1.5 * (np.mean(acc[n:]) - self.target)))  # tuned on the pilot only
        return both[:n], ll_both[:n]


class ScheduledHMC:
    """HMC with the per-temperature settings of an :class:`HMCSchedule` (fixed: no adaptation)."""

    def __init__(self, density, schedule: HMCSchedule, *, n_steps: int = 2, n_leapfrog: int = 5):
        self.dens, self.schedule = density, schedule
        self.n_steps, self.n_leapfrog = int(n_steps), int(n_leapfrog)
        self.acceptance = []

    def __call__(self, x, ll, beta, rng):
        eps, chol = self.schedule.at(beta)
        x, ll, acc = hmc_moves(self.dens, x, beta, chol, eps, self.n_steps, self.n_leapfrog, rng)
        self.acceptance.append(float(np.mean(acc)))
        return x, ll


def _pymc_ladder(n_temperatures, power, betas):
    if betas is not None:
        return np.asarray(betas, float), "user temperatures"
    return power_ladder(n_temperatures, power), f"(k/K)^{power:g}"


def _forward_pymc(dens, b, how, *, seed, n_runs, n_steps, n_leapfrog, mass, n_pilot):
    kernel = HMCTransition(dens, n_steps=n_steps, n_leapfrog=n_leapfrog, mass=mass,
                           n_pilot=max(32, n_runs // 2) if n_pilot is None else n_pilot)
    res = ais(dens.sample_prior, dens.log_likelihood, kernel, b, n_runs, seed)
    acc = float(np.mean(kernel.acceptance)) if kernel.acceptance else float("nan")
    desc = (f"AIS, {n_runs} runs x {b.size} temperatures ({how}), HMC {n_steps}x{n_leapfrog} leapfrog, {mass} mass "
            f"tuned on a pilot of {kernel.n_pilot} (mean acceptance {acc:.2f})")
    return res, kernel, desc


def _reverse_pymc(dens, b, kernel: HMCTransition, starts, rng) -> AISResult:
    """Reverse AIS along ``b`` (1 → 0) from ``starts`` with the settings the forward pilot recorded."""
    moves = ScheduledHMC(dens, kernel.schedule, n_steps=kernel.n_steps, n_leapfrog=kernel.n_leapfrog)
    path = TemperedLikelihoodPath(dens.sample_prior, dens.log_likelihood, moves)
    return anneal(path, b[::-1], len(starts), rng, start=path.start_at(starts))


def ais_pymc(model, *, seed: int = 0, n_runs: int = 100, n_temperatures: int = 200, power: float = 5.0,
             betas=None, n_steps: int = 2, n_leapfrog: int = 5, mass: str = "full", n_pilot: int | None = None,
             reverse_check: bool = True, tolerance: float = BDMC_TOLERANCE, return_result: bool = False):
    """−ln p(data) of a PyMC model by forward AIS from the prior with the HMC kernel; a :class:`FreeEnergy`.

    Temperatures ``(k/K)^power``, k = 0..K (the power-posterior path of TI) unless ``betas`` given:
    with ``power = 5`` the first temperatures reach down to :math:`K^{-5}`, so the runs have many
    small steps to leave a vague prior's tails. ``mass="full"`` (default) uses the pilot's full
    covariance, shrunk 5 % towards its diagonal, as inverse mass matrix (needed for correlated
    posteriors, e.g. sblrc); ``"diag"``: its diagonal. ``n_pilot`` (default max(32, n_runs/2)):
    size of the pilot population the kernel is tuned on.

    The value is the forward estimate. Flagged ``unreliable:`` by :func:`weight_problems` (weight ESS,
    Pareto k-hat) and, with ``reverse_check`` (default), by a reverse pass from ``n_runs`` members of
    the pilot's final population (an SMC approximation of the posterior, so a check rather than a
    bound): its sandwich is stored in the record and flagged when wider than ``tolerance`` nats. This
    catches runs that all lag behind the tempered targets, which the weights cannot show. For the
    sandwich from MCMC posterior draws use :func:`bdmc_pymc`.
    """
    require_proper_prior(model, "AIS")
    t0 = time.perf_counter()
    dens = model_density(model)
    b, how = _pymc_ladder(n_temperatures, power, betas)
    seed_fwd, seed_rev = np.random.SeedSequence(seed).spawn(2)
    res, kernel, desc = _forward_pymc(dens, b, how, seed=seed_fwd, n_runs=n_runs, n_steps=n_steps,
                                      n_leapfrog=n_leapfrog, mass=mass, n_pilot=n_pilot)
    rev = None
    if reverse_check and kernel.pilot is not None:
        rng = np.random.default_rng(seed_rev)
        rev = _reverse_pymc(dens, b, kernel, kernel.pilot.draws(n_runs, rng), rng)
        desc += f"; reverse check from {n_runs} draws of the pilot's final (resampled) population"
    rec = ais_record(res, estimator="ais", note=desc, wall_time_s=time.perf_counter() - t0, reverse=rev,
                     tolerance=tolerance)
    return (rec, res) if return_result else rec


def _posterior_starts(dens, posterior, n_runs: int) -> np.ndarray:
    """``n_runs`` flat unconstrained draws spread evenly over the pooled draws of ``posterior``
    (a fit result with a ``posterior`` group, a posterior Dataset / DataTree, or an (n, ndim) array)."""
    if isinstance(posterior, np.ndarray):
        flat = np.asarray(posterior, dtype=float)
        if flat.ndim != 2 or flat.shape[1] != dens.ndim:
            raise ValueError(f"posterior draws must have shape (n, {dens.ndim}), got {flat.shape}")
    else:
        is_fit = isinstance(posterior, xr.DataTree) and "posterior" in posterior.children
        group = posterior["posterior"] if is_fit else posterior
        flat = dens.to_unconstrained(group).reshape(-1, dens.ndim)
    if len(flat) < n_runs:
        raise ValueError(f"n_runs must be <= the number of posterior draws ({len(flat)}), got {n_runs}")
    return flat[np.linspace(0, len(flat) - 1, n_runs).round().astype(int)]


def bdmc_pymc(model, posterior, *, seed: int = 0, n_runs: int = 100, n_temperatures: int = 200,
              power: float = 5.0, betas=None, n_steps: int = 2, n_leapfrog: int = 5, mass: str = "full",
              n_pilot: int | None = None, tolerance: float = BDMC_TOLERANCE, exact_draws: bool = False,
              return_result: bool = False):
    """BDMC sandwich of −ln p(data) for a PyMC model; a :class:`FreeEnergy` (estimator ``"bdmc"``).

    Forward AIS as :func:`ais_pymc`; reverse AIS along the same ladder from ``n_runs`` of the
    ``posterior`` draws (spread evenly over them), with the HMC settings the forward pilot recorded.
    The reverse (lower) end is a stochastic bound only for exact posterior draws (``exact_draws=True``:
    e.g. data simulated from the prior, or a conjugate model's exact posterior); MCMC draws make it
    approximate, and the note says so.
    """
    require_proper_prior(model, "BDMC")
    t0 = time.perf_counter()
    dens = model_density(model)
    b, how = _pymc_ladder(n_temperatures, power, betas)
    starts = _posterior_starts(dens, posterior, n_runs)
    seed_fwd, seed_rev = np.random.SeedSequence(seed).spawn(2)
    fwd, kernel, desc = _forward_pymc(dens, b, how, seed=seed_fwd, n_runs=n_runs, n_steps=n_steps,
                                      n_leapfrog=n_leapfrog, mass=mass, n_pilot=n_pilot)
    rev = _reverse_pymc(dens, b, kernel, starts, np.random.default_rng(seed_rev))
    source = ("exact posterior draws" if exact_draws else
              "MCMC posterior draws: approximate, so the lower end is a bound only up to MCMC error "
              "(exact for data simulated from the prior)")
    note = f"{desc}; reverse AIS from {n_runs} {source}"
    rec = bdmc_record(fwd, rev, estimator="bdmc", note=note, tolerance=tolerance,
                      wall_time_s=time.perf_counter() - t0)
    return (rec, fwd, rev) if return_result else rec


#: :func:`ais_pymc` with ``fe_tol`` / ``fe_time_cap`` (:mod:`.adaptive`): runs and temperatures grow
ais_pymc_to_tolerance = with_tolerance(ais_pymc, (Knob("n_runs", "monte_carlo", 0.5),
                                                  Knob("n_temperatures", "bias", 1.0)), split_sandwich)


def estimate_ais(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: runs its own annealing; ``result`` is not needed. Option ``fe_tol`` > 0 (nats):
    grow runs and temperatures until max(se, sandwich distance) <= fe_tol (:mod:`.adaptive`)."""
    return ais_pymc_to_tolerance(model, seed=seed, **options)


def estimate_bdmc(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: the reverse runs start from ``result``'s posterior draws (an MCMC fit;
    ``n_runs`` defaults to min(100, number of draws)). It does not run a sampler itself."""
    if result is None or "posterior" not in result.children:
        raise ValueError("bdmc needs posterior draws: pass an MCMC fit, e.g. fit(model, 'nuts', free_energy=('bdmc',))")
    post = result["posterior"]
    n_draws = int(post.sizes.get("chain", 1) * post.sizes.get("draw", 1))
    options.setdefault("n_runs", min(100, n_draws))
    return bdmc_pymc(model, result, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="ais", estimate=estimate_ais, applies_to=("any",),
    description="annealed importance sampling (Neal 2001) from the prior along the power-posterior path, HMC moves"))
register_free_energy(FreeEnergyEstimator(
    name="bdmc", estimate=estimate_bdmc, applies_to=("mcmc",),
    description="bidirectional Monte Carlo (Grosse et al. 2015): forward AIS from the prior and reverse AIS from "
                "the fit's posterior draws sandwich -ln p(data)"))
