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
  |C_n − C_{n/2}| / 15 (it shrinks as O(n⁻⁴)) less the Monte Carlo noise of that difference,
  max(|D| − 2σ_D, 0)/15; with an odd ``n``, the size of the Friel–Pettitt correction
  |C_n − T_n| (conservative).
"""

from __future__ import annotations

import time
import weakref
import threading

import numpy as np

from .adaptive import Knob, split_details, with_tolerance
from ..model_density import log_mean_exp, model_density, relative_weights_se
from ..priors import require_proper_prior
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["power_ladder", "trapezoid_rules", "sample_power_posterior", "thermodynamic_integration",
           "ti_to_tolerance", "estimate_ti", "BETA_NAME", "LOGLIK_NAME"]

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
    return _linear_rule(float(a @ e), a, c, e, v, mcse_means, mcse_variances)


def _linear_rule(trap, w_e, w_v, e, v, mcse_means, mcse_variances) -> dict:
    """A quadrature ``Σ w_e E_t + Σ w_v Var_t`` with its Monte Carlo error propagated from the
    per-rung MCSEs (rungs are independent), next to the plain trapezoid value ``trap``."""
    corrected = float(w_e @ e + w_v @ v)
    mc_se = float("nan")
    if mcse_means is not None:
        var = np.sum((w_e * np.asarray(mcse_means, float)) ** 2)
        if mcse_variances is not None:
            var += np.sum((w_v * np.asarray(mcse_variances, float)) ** 2)
        mc_se = float(np.sqrt(var))
    return {"trapezoid": trap, "corrected": corrected, "mc_se": mc_se,
            "discretisation": abs(corrected - trap), "weights_mean": w_e, "weights_var": w_v}


def _rule_difference_error(fine: dict, coarse: dict, idx, factor: float, se_m, se_v) -> float:
    r"""Bias estimate of the fine rule from ``D = C_fine − C_coarse`` (coarse rule on rungs ``idx``).

    ``D`` carries Monte Carlo noise as well as the discretisation difference: its variance
    :math:`\sigma_D^2 = \sum_k (\Delta w^E_k\,\mathrm{se}(E_k))^2 + (\Delta w^V_k\,\mathrm{se}(V_k))^2`
    follows from the two rules' weights and the per-rung MCSEs (rungs are independent).  The
    discretisation error is the part of :math:`|D|` beyond its 2σ noise band,
    :math:`\max(|D| - 2\sigma_D, 0)/\text{factor}` — not :math:`|D|/\text{factor}`, which counts
    the Monte Carlo error a second time (measured on a 1-D model over 40 seeds: z-scores with sd
    0.70, the se ~1.4× too large).  A bias hidden in the noise band is at most
    :math:`2\sigma_D/\text{factor}`, a small fraction of the Monte Carlo error for factor 15; for
    the non-nested ladders (factor 1) that is not small, so there :math:`|D|` is kept whole.
    """
    d = fine["corrected"] - coarse["corrected"]
    if se_m is None or factor <= 1.0:
        return abs(d) / factor
    dw_e, dw_v = fine["weights_mean"].copy(), fine["weights_var"].copy()
    dw_e[idx] -= coarse["weights_mean"]
    dw_v[idx] -= coarse["weights_var"]
    var_d = float(np.sum((dw_e * np.asarray(se_m, float)) ** 2))
    if se_v is not None:
        var_d += float(np.sum((dw_v * np.asarray(se_v, float)) ** 2))
    return max(abs(d) - 2.0 * float(np.sqrt(var_d)), 0.0) / factor


def discretisation_error(ladder, means, variances, mcse_means=None, mcse_variances=None) -> tuple[float, str]:
    r"""Estimated error of the corrected trapezoid rule on ``ladder``.

    With an odd number of rungs (``n`` even) the same draws give a second, coarser ladder
    (every other rung).  The corrected rule is a cubic-Hermite rule, error :math:`O(h^4)`,
    so Richardson's estimate of the fine ladder's error is :math:`|C_n - C_{n/2}| / 15`
    ("two ladders"), less the Monte Carlo noise of the difference when the MCSEs are given
    (:func:`_rule_difference_error`).  Otherwise fall back to :math:`|C_n - T_n|` (the size of the
    Friel–Pettitt correction, an estimate of the *plain* rule's error, hence conservative).
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    full = trapezoid_rules(t, e, v)
    if t.size % 2 == 1 and t.size >= 5:
        idx = np.arange(0, t.size, 2)
        half = trapezoid_rules(t[idx], e[idx], v[idx])
        return (_rule_difference_error(full, half, idx, 15.0, mcse_means, mcse_variances),
                "two ladders, Richardson h^4")
    return full["discretisation"], "size of the Friel-Pettitt correction"


def log_trapezoid_rules(ladder, means, variances, mcse_means=None, mcse_variances=None) -> dict:
    r"""Trapezoid and cubic-Hermite rules for :math:`\int_{t_1}^{1} E_t\,dt` in :math:`s = \ln t`.

    With :math:`g(s) = t E_t` and :math:`g'(s) = t E_t + t^2 V_t` the integral is
    :math:`\int g\,ds`; the corrected (Hermite) rule in ``s`` is exact for
    :math:`E_t = a + b/t` -- the posterior-dominated regime
    :math:`E_t \approx \ln\hat L - d/(2t)` -- where the rule in ``t`` needs very fine rungs.
    ``ladder`` must be strictly increasing, positive, ending at 1.  Returns the same keys as
    :func:`trapezoid_rules` (weights of E_k and V_k included).
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or not t[0] > 0:
        raise ValueError("ladder must be a strictly increasing, positive 1-D array with at least 2 rungs")
    if not np.isclose(t[-1], 1.0):
        raise ValueError(f"ladder must end at 1, got {t[-1]}")
    h = np.diff(np.log(t))
    a = np.zeros_like(t)  # trapezoid weights of g_k
    a[:-1] += h / 2
    a[1:] += h / 2
    c = np.zeros_like(t)  # Hermite weights of g'_k
    c[:-1] += h**2 / 12
    c[1:] -= h**2 / 12
    w_e = (a + c) * t  # g = tE, g' = tE + t^2 V
    w_v = c * t**2
    return _linear_rule(float((a * t) @ e), w_e, w_v, e, v, mcse_means, mcse_variances)


def log_discretisation_error(ladder, means, variances, mcse_means=None, mcse_variances=None) -> tuple[float, str]:
    """Error estimate of :func:`log_trapezoid_rules` (``corrected``) on ``ladder`` (t_1 > 0 ... 1).

    Richardson with every other rung, |C_n - C_{n/2}| / 15 (the Hermite rule is O(h^4)), when
    the rung count is odd; otherwise |C_n - C_{(n-1)/2}| over rungs 1, 3, ..., n (no 1/15: the
    two ladders do not nest cleanly, so conservative).  Given the MCSEs, the Monte Carlo noise
    of the difference is taken out (:func:`_rule_difference_error`).
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    full = log_trapezoid_rules(t, e, v)
    if t.size < 3:
        return abs(full["corrected"] - full["trapezoid"]), "size of the Hermite correction"
    if t.size % 2 == 1:
        idx, factor, how = np.arange(0, t.size, 2), 15.0, "two ladders, Richardson h^4"
    else:  # keep the first and the last rung, drop every other one in between
        idx = np.r_[0, np.arange(1, t.size, 2)]
        if idx[-1] != t.size - 1:
            idx = np.r_[idx, t.size - 1]
        factor, how = 1.0, "two ladders (not nested), |difference|"
    half = log_trapezoid_rules(t[idx], e[idx], v[idx])
    return _rule_difference_error(full, half, idx, factor, mcse_means, mcse_variances), how


def _hermite_t(t, e, v) -> float:
    """Friel-Pettitt (cubic-Hermite) rule in t over any increasing ladder (no end-point checks)."""
    h = np.diff(t)
    return float(np.sum(h / 2 * (e[1:] + e[:-1])) - np.sum(h**2 / 12 * (v[1:] - v[:-1])))


def first_rung(loglik_prior, t_max: float, *, ess_fraction: float = 0.5) -> float:
    r"""Largest :math:`t_1 \le t_{max}` at which prior importance sampling of
    :math:`Z(t_1) = \mathbb{E}_{prior}[L^{t_1}]` is safe.

    :math:`t_1 = 1/(\max \ln L - \mathrm{median}\,\ln L)` over the prior draws (the weights of
    the upper half of the draws then lie within a factor e), halved until the weights' Kish
    ESS is at least ``ess_fraction`` of the draws.  Heavy lower tails of :math:`\ln L` (e.g.
    :math:`\sigma \to 0` under a half-normal prior, where :math:`E_0 = -\infty`) only give
    weights near zero and do not matter.
    """
    ll = np.asarray(loglik_prior, dtype=float).ravel()
    ll = ll[np.isfinite(ll)]
    if ll.size < 2:
        raise ValueError("need at least 2 finite prior log-likelihood draws")
    spread = float(np.max(ll) - np.median(ll))
    t1 = float(t_max) if spread <= 0 else min(float(t_max), 1.0 / spread)
    for _ in range(200):
        lw = t1 * (ll - ll.max())
        w = np.exp(lw)
        if w.sum() ** 2 / np.sum(w**2) >= ess_fraction * ll.size:
            break
        t1 /= 2.0
    return t1


def auto_ladder(t1: float, n_rungs: int = 20, power: float = 5.0, rungs_per_decade: float = 4.0) -> np.ndarray:
    r"""Ladder from ``t1`` > 0 to 1: geometric at ``rungs_per_decade`` up to where the power ladder
    :math:`(k/n)^{power}` becomes finer than that ratio, then the power ladder's rungs.

    The integrand :math:`E_t` changes on the scale of :math:`t` itself wherever the likelihood
    starts to dominate the prior (d E/d ln t = t Var_t ~ d/2), so a vague prior with a sharp
    posterior needs rungs spread evenly in :math:`\ln t` over many decades.  The rung count is made
    odd (one more geometric rung if needed), so every other rung nests into a coarser ladder and the
    discretisation error has Richardson's estimate (:func:`log_discretisation_error`).
    """
    if not 0 < t1 < 1:
        raise ValueError(f"t1 must lie in (0, 1), got {t1}")
    r = 10.0 ** (1.0 / float(rungs_per_decade))
    p = power_ladder(n_rungs, power)[1:]
    # power rungs whose ratio to the previous one is <= r (and that lie above t1)
    ratios = np.r_[np.inf, p[1:] / p[:-1]]
    keep = p[(ratios <= r * (1 + 1e-12)) & (p > t1 * r)]
    if keep.size == 0:
        keep = np.array([1.0])
    top = keep[0]
    n_geo = max(int(np.ceil(np.log(top / t1) / np.log(r))), 1)
    if (n_geo + keep.size) % 2 == 0:  # an odd rung count nests every other rung: Richardson's /15 estimate
        n_geo += 1
    geo = t1 * (top / t1) ** (np.arange(n_geo) / n_geo)
    return np.r_[geo, keep]


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
            # the model's own potentials are likelihood terms too (as in model_density and PyMC's SMC)
            terms += [pot.sum() for pot in tempered.potentials]
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
                              rungs_per_decade: float = 4.0, draws: int = 500, tune: int = 500,
                              chains: int = 2, seed: int = 0, return_details: bool = False,
                              **nutpie_kwargs):
    r"""−ln p(data) by power posteriors; returns a :class:`FreeEnergy` (kind ``estimate``).

    Default ladder (``ladder=None``): exact prior draws give :math:`t_1` (:func:`first_rung`);
    :math:`\ln Z(t_1)` is estimated by importance sampling from the prior (one stepping
    stone; its delta-method se enters the budget), and :math:`\int_{t_1}^1 E_t\,dt` by the
    Hermite rule in :math:`\ln t` (:func:`log_trapezoid_rules`) over :func:`auto_ladder`
    (geometric at ``rungs_per_decade`` near :math:`t_1`, then the :math:`(k/n)^{power}` rungs).
    A user ``ladder`` starting at 0 uses the Friel–Pettitt rule in ``t`` (the prior as rung 0);
    one starting above 0 is used like the default ladder.

    Self-check: the record's note starts with ``"unreliable: ..."`` when the rules in ``t`` and
    in ``ln t`` on the same rungs disagree by more than 4 se (the ladder does not resolve the
    integrand, so neither the value nor the discretisation error estimate can be trusted), when
    the discretisation error dominates the budget and exceeds 0.5 nat, or when the se exceeds
    1 nat.  With ``return_details=True`` returns ``(record, details)``.
    """
    require_proper_prior(model, "thermodynamic integration")
    for name, val, low in (("draws", draws, 4), ("tune", tune, 0), ("chains", chains, 1)):
        if int(val) < low:
            raise ValueError(f"{name} must be >= {low}, got {val}")
    t0 = time.perf_counter()
    dens = model_density(model)
    _tempered(model)  # first call per model compiles (counted in wall time); later calls reuse it
    n_prior = int(draws) * int(chains)
    ss = np.random.SeedSequence(int(seed))
    prior_seed, rung_ss = ss.spawn(2)
    x0 = dens.sample_prior(n_prior, np.random.default_rng(prior_seed))
    ll0 = dens.log_likelihood(x0)
    if ladder is None:
        t1 = first_rung(ll0, power_ladder(n_rungs, power)[1])
        t = auto_ladder(t1, n_rungs, power, rungs_per_decade)
        how = f"auto ladder: t1={t1:.3g} from the prior draws, {rungs_per_decade:g}/decade then (k/{n_rungs})^{power:g}"
    else:
        t = np.asarray(ladder, dtype=float)
        if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or not (0 <= t[0] < 1) \
                or not np.isclose(t[-1], 1.0):
            raise ValueError("ladder must increase strictly from t >= 0 to 1")
        how = "user ladder"
    legacy = t[0] == 0.0
    seeds = rung_ss.generate_state(len(t) + 1)
    means, variances, se_m, se_v = [], [], [], []
    divergences = 0
    for k, beta in enumerate(t):
        if beta == 0.0:
            ll = ll0.reshape(int(chains), int(draws))
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
    means, variances = np.array(means), np.array(variances)
    se_m, se_v = np.array(se_m), np.array(se_v)
    if legacy:
        rules = trapezoid_rules(t, means, variances, se_m, se_v)
        disc, disc_how = discretisation_error(t, means, variances, se_m, se_v)
        # the same rungs by the rule in ln t above t_1 (the prior segment [0, t_1] stays in t)
        alt = (_hermite_t(t[:2], means[:2], variances[:2])
               + log_trapezoid_rules(t[1:], means[1:], variances[1:])["corrected"]) if t.size > 2 \
            else rules["corrected"]
        log_z, mc_se = rules["corrected"], rules["mc_se"]
        log_z_prior, se_prior = 0.0, 0.0
        rule_name = "Friel-Pettitt corrected trapezoid in t"
    else:
        lw = t[0] * ll0
        log_z_prior = float(log_mean_exp(lw))
        se_prior = relative_weights_se(lw)
        rules = log_trapezoid_rules(t, means, variances, se_m, se_v)
        disc, disc_how = log_discretisation_error(t, means, variances, se_m, se_v)
        log_z = log_z_prior + rules["corrected"]
        mc_se = float(np.hypot(rules["mc_se"], se_prior))
        alt = log_z_prior + _hermite_t(t, means, variances)  # the same rungs, rule in t
        rule_name = f"ln Z(t1) by prior importance sampling (se {se_prior:.2g}) + Hermite rule in ln t"
    se = float(np.hypot(mc_se, disc))
    rule_gap = abs(log_z - alt)
    wall = time.perf_counter() - t0
    note = (f"power posteriors, {len(t)} rungs ({how}); {rule_name}; se = MCSE {mc_se:.3g} (+) "
            f"discretisation {disc:.3g} ({disc_how}); rules in t and ln t differ by {rule_gap:.3g}")
    if divergences:
        note += f"; {divergences} divergences"
    problems = []
    if not np.isfinite(log_z) or not np.isfinite(se):
        problems.append("non-finite estimate")
    if rule_gap > 4 * se:
        problems.append(f"quadrature rules in t and ln t disagree by {rule_gap:.3g} > 4 se "
                        "(the ladder does not resolve E_t)")
    if disc > 0.5 and disc > mc_se:
        problems.append(f"discretisation error {disc:.3g} nat dominates the Monte Carlo error")
    if se > 1.0:
        problems.append(f"se {se:.3g} > 1 nat")
    if problems:
        note = "unreliable: " + "; ".join(problems) + " (use more rungs/draws); " + note
    rec = FreeEnergy(value=-log_z, se=se, kind="estimate", estimator="ti", wall_time_s=wall, note=note)
    if return_details:
        details = {"ladder": t, "means": means, "variances": variances,
                   "mcse_means": se_m, "mcse_variances": se_v,
                   "trapezoid": rules["trapezoid"], "corrected": rules["corrected"], "log_z": log_z,
                   "log_z_prior_segment": log_z_prior, "se_prior_segment": se_prior,
                   "mc_se": mc_se, "discretisation": disc, "discretisation_method": disc_how,
                   "rule_gap": rule_gap, "divergences": divergences, "unreliable": bool(problems)}
        return rec, details
    return rec


#: :func:`thermodynamic_integration` with ``fe_tol`` / ``fe_time_cap`` (:mod:`.adaptive`): draws are the
#: Monte Carlo knob, ``n_rungs`` and ``rungs_per_decade`` (Hermite rules, error ∝ h^4) the bias knobs
ti_to_tolerance = with_tolerance(thermodynamic_integration,
                                 (Knob("draws", "monte_carlo", 0.5), Knob("n_rungs", "bias", 4.0),
                                  Knob("rungs_per_decade", "bias", 4.0, float, work=True)),
                                 split_details, return_details=True)


def estimate_ti(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: runs its own sampling; ``result`` is not needed. Option ``fe_tol`` > 0 (nats):
    grow draws and rungs until the se (MCSE ⊕ discretisation) <= fe_tol (:mod:`.adaptive`)."""
    return ti_to_tolerance(model, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="ti", estimate=estimate_ti, applies_to=("any",),
    description="thermodynamic integration over power posteriors (Friel & Pettitt 2008), NUTS per rung"))
