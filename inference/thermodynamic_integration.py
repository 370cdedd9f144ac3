r"""Thermodynamic integration with power posteriors (Friel & Pettitt 2008).

The power posterior :math:`p_t(\theta) \propto p(\text{data}\mid\theta)^t\, p(\theta)` has
normaliser :math:`Z(t)` with :math:`Z(0)=1` and :math:`Z(1)=p(\text{data})`, and

.. math:: \frac{d \ln Z(t)}{dt} = \mathbb{E}_t[\ln p(\text{data}\mid\theta)]
          \quad\Rightarrow\quad
          \ln p(\text{data}) = \int_0^1 \mathbb{E}_t[\ln p(\text{data}\mid\theta)]\,dt ,

the statistical-physics identity :math:`d\ln Z/d\beta = -\langle E\rangle_\beta` with
:math:`E = -\ln p(\text{data}\mid\theta)`.  The derivative of the integrand is
:math:`\mathrm{Var}_t[\ln p(\text{data}\mid\theta)]`, which gives Friel & Pettitt's corrected
trapezoid rule

.. math:: \ln Z \approx \sum_k \tfrac{h_k}{2}(E_k + E_{k+1}) - \sum_k \tfrac{h_k^2}{12}(V_{k+1} - V_k),
          \qquad h_k = t_{k+1} - t_k .

Each rung is sampled by NUTS (nutpie) on **one** tempered copy of the model in which the
inverse temperature is a ``pm.Data``: it is compiled once per model object and re-used via
``compiled.with_data`` across rungs and seeds.  Rung ``t = 0`` is the prior, drawn exactly
(independent draws).  The standard error combines

* the Monte Carlo error: the per-rung MCSE of :math:`E_k` and :math:`V_k` (ArviZ
  ``mcse``, which accounts for autocorrelation) propagated through the quadrature weights;
* the discretisation error: with an even ``n`` the same draws on every other rung form a
  second ladder, and Richardson's estimate for the O(h⁴) corrected rule is
  |C_n − C_{n/2}| / 15 (it shrinks as O(n⁻⁴)); with an odd ``n``, the size of the
  Friel–Pettitt correction |C_n − T_n| (conservative).
"""

from __future__ import annotations

import time
import weakref
import threading

import numpy as np

from .model_density import model_density
from .records import FreeEnergy
from .registry import FreeEnergyEstimator, register_free_energy

__all__ = ["power_ladder", "trapezoid_rules", "sample_power_posterior", "thermodynamic_integration",
           "estimate_ti", "BETA_NAME", "LOGLIK_NAME"]

BETA_NAME = "__physml_ti_beta"
LOGLIK_NAME = "__physml_ti_loglik"
_TEMPERED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def power_ladder(n_rungs: int = 20, power: float = 5.0) -> np.ndarray:
    """Temperatures ``t_k = (k / n)^power``, k = 0..n (Friel & Pettitt's default power is 5)."""
    if int(n_rungs) < 2:
        raise ValueError(f"n_rungs must be >= 2, got {n_rungs}")
    if not power > 0:
        raise ValueError(f"power must be > 0, got {power}")
    return (np.arange(int(n_rungs) + 1) / int(n_rungs)) ** float(power)


def trapezoid_rules(ladder, means, variances, mcse_means=None, mcse_variances=None) -> dict:
    r"""Plain and Friel–Pettitt corrected trapezoid estimates of :math:`\int_0^1 E_t\,dt`.

    Returns a dict with ``trapezoid``, ``corrected``, ``mc_se`` (Monte Carlo error of
    ``corrected`` from the per-rung MCSEs; nan if not given), ``discretisation``
    (|corrected − trapezoid|) and the quadrature coefficients.
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("ladder must be a strictly increasing 1-D array with at least 2 rungs")
    if not (np.isclose(t[0], 0.0) and np.isclose(t[-1], 1.0)):
        raise ValueError(f"ladder must run from 0 to 1, got [{t[0]}, {t[-1]}]")
    h = np.diff(t)
    a = np.zeros_like(t)  # weights of E_k
    a[:-1] += h / 2
    a[1:] += h / 2
    c = np.zeros_like(t)  # weights of V_k in the correction
    c[:-1] += h**2 / 12
    c[1:] -= h**2 / 12
    trap = float(a @ e)
    corrected = float(a @ e + c @ v)
    mc_se = float("nan")
    if mcse_means is not None:
        var = np.sum((a * np.asarray(mcse_means, float)) ** 2)
        if mcse_variances is not None:
            var += np.sum((c * np.asarray(mcse_variances, float)) ** 2)
        mc_se = float(np.sqrt(var))
    return {"trapezoid": trap, "corrected": corrected, "mc_se": mc_se,
            "discretisation": abs(corrected - trap), "weights_mean": a, "weights_var": c}


def discretisation_error(ladder, means, variances) -> tuple[float, str]:
    r"""Estimated error of the corrected trapezoid rule on ``ladder``.

    With an odd number of rungs (``n`` even) the same draws give a second, coarser ladder
    (every other rung).  The corrected rule is a cubic-Hermite rule, error :math:`O(h^4)`,
    so Richardson's estimate of the fine ladder's error is :math:`|C_n - C_{n/2}| / 15`
    ("two ladders").  Otherwise fall back to :math:`|C_n - T_n|` (the size of the
    Friel–Pettitt correction, an estimate of the *plain* rule's error, hence conservative).
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    full = trapezoid_rules(t, e, v)
    if t.size % 2 == 1 and t.size >= 5:
        half = trapezoid_rules(t[::2], e[::2], v[::2])
        return abs(full["corrected"] - half["corrected"]) / 15.0, "two ladders, Richardson h^4"
    return full["discretisation"], "size of the Friel-Pettitt correction"


def _tempered(model):
    """(compiled nutpie model of the tempered clone, names) — compiled once per model object."""
    with _LOCK:
        hit = _TEMPERED.get(model)
        if hit is not None:
            return hit
        import nutpie
        import pymc as pm
        import pytensor.tensor as pt
        from pymc.model.fgraph import clone_model

        model_density(model)  # validates: observed data, continuous free variables
        tempered = clone_model(model)
        with tempered:
            beta = pm.Data(BETA_NAME, 1.0)
            # log-likelihood in terms of the random variables, so that it is both a
            # Potential (logp += (beta - 1) * loglik) and a stored Deterministic
            terms = [pm.logp(obs, tempered.rvs_to_values[obs]).sum() for obs in tempered.observed_RVs]
            loglik = terms[0] if len(terms) == 1 else pt.add(*terms)
            pm.Potential("__physml_ti_tempering", (beta - 1.0) * loglik)
            pm.Deterministic(LOGLIK_NAME, loglik)
        names = [rv.name for rv in model.free_RVs] + [LOGLIK_NAME]
        compiled = nutpie.compile_pymc_model(tempered, var_names=names)
        hit = (compiled, tempered)
        _TEMPERED[model] = hit
        return hit


def sample_power_posterior(model, beta: float, *, draws: int = 500, tune: int = 500, chains: int = 2,
                           seed: int = 0, cores: int | None = None, **nutpie_kwargs):
    """NUTS draws from ``p(data|θ)^beta p(θ)`` (DataTree; ``posterior`` holds the free
    variables and the per-draw log likelihood ``LOGLIK_NAME``).  ``beta = 1`` is the posterior."""
    import nutpie

    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    compiled, _ = _tempered(model)
    return nutpie.sample(compiled.with_data(**{BETA_NAME: float(beta)}), draws=int(draws), tune=int(tune),
                         chains=int(chains), cores=cores or min(int(chains), 2), seed=int(seed),
                         progress_bar=False, save_warmup=False, **nutpie_kwargs)


def _rung_stats(ll: np.ndarray) -> tuple[float, float, float, float]:
    """mean, variance and their MCSEs of log-likelihood draws shaped (chain, draw)."""
    from arviz_stats import mcse

    ll = np.asarray(ll, dtype=float)
    mean = float(ll.mean())
    sq = (ll - mean) ** 2
    var = float(sq.mean())
    with np.errstate(all="ignore"):
        se_mean = float(mcse(ll, method="mean"))
        se_var = float(mcse(sq, method="mean"))
    if not np.isfinite(se_mean):  # constant draws or too few
        se_mean = float(np.sqrt(var / ll.size))
    if not np.isfinite(se_var):
        se_var = float(np.std(sq) / np.sqrt(ll.size))
    return mean, var, se_mean, se_var


def thermodynamic_integration(model, *, n_rungs: int = 20, power: float = 5.0, ladder=None,
                              draws: int = 500, tune: int = 500, chains: int = 2, seed: int = 0,
                              return_details: bool = False, **nutpie_kwargs):
    """−ln p(data) by power posteriors; returns a :class:`FreeEnergy` (kind ``estimate``).

    ``ladder`` (increasing, from 0 to 1) overrides ``n_rungs``/``power``.  With
    ``return_details=True`` returns ``(record, details)`` where ``details`` has the ladder,
    per-rung means/variances/MCSEs, both rules and the error budget.
    """
    for name, val, low in (("draws", draws, 4), ("tune", tune, 0), ("chains", chains, 1)):
        if int(val) < low:
            raise ValueError(f"{name} must be >= {low}, got {val}")
    t = power_ladder(n_rungs, power) if ladder is None else np.asarray(ladder, dtype=float)
    t0 = time.perf_counter()
    dens = model_density(model)
    _tempered(model)  # first call per model compiles (counted in wall time); later calls reuse it
    seeds = np.random.SeedSequence(int(seed)).generate_state(len(t) + 1)
    means, variances, se_m, se_v = [], [], [], []
    divergences = 0
    for k, beta in enumerate(t):
        if beta == 0.0:
            x = dens.sample_prior(int(draws) * int(chains), np.random.default_rng(seeds[k]))
            ll = dens.log_likelihood(x).reshape(int(chains), int(draws))
        else:
            tr = sample_power_posterior(model, beta, draws=draws, tune=tune, chains=chains,
                                        seed=int(seeds[k] % 2**31), **nutpie_kwargs)
            ll = tr.posterior[LOGLIK_NAME].transpose("chain", "draw").values
            if "sample_stats" in tr.children and "diverging" in tr["sample_stats"]:
                divergences += int(tr["sample_stats"]["diverging"].values.sum())
        if not np.all(np.isfinite(ll)):
            raise ValueError(f"non-finite log likelihood draws at t={beta:.3g}")
        m, v, sm, sv = _rung_stats(ll)
        means.append(m)
        variances.append(v)
        se_m.append(sm)
        se_v.append(sv)
    rules = trapezoid_rules(t, means, variances, se_m, se_v)
    disc, disc_how = discretisation_error(t, means, variances)
    se = float(np.hypot(rules["mc_se"], disc))
    wall = time.perf_counter() - t0
    note = (f"power posteriors, {len(t)} rungs (t=(k/n)^{power:g})" if ladder is None else
            f"power posteriors, {len(t)} rungs (user ladder)")
    note += (f"; Friel-Pettitt corrected trapezoid; se = MCSE {rules['mc_se']:.3g} (+) "
             f"discretisation {disc:.3g} ({disc_how})")
    if divergences:
        note += f"; {divergences} divergences"
    rec = FreeEnergy(value=-rules["corrected"], se=se, kind="estimate", estimator="ti",
                     wall_time_s=wall, note=note)
    if return_details:
        details = {"ladder": t, "means": np.array(means), "variances": np.array(variances),
                   "mcse_means": np.array(se_m), "mcse_variances": np.array(se_v),
                   "trapezoid": rules["trapezoid"], "corrected": rules["corrected"],
                   "mc_se": rules["mc_se"], "discretisation": disc, "discretisation_method": disc_how,
                   "divergences": divergences}
        return rec, details
    return rec


def estimate_ti(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: runs its own sampling; ``result`` is not needed."""
    return thermodynamic_integration(model, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="ti", estimate=estimate_ti, applies_to=("any",),
    description="thermodynamic integration over power posteriors (Friel & Pettitt 2008), NUTS per rung"))
