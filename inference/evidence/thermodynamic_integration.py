r"""Thermodynamic integration (TI): one core for every path, with a pluggable rung sampler.

A path of unnormalised densities :math:`f_t`, :math:`t \in [0, 1]`, has

.. math:: \ln Z(1) - \ln Z(0) = \int_0^1 \mathbb{E}_t[U]\,dt, \qquad U = \frac{\partial \ln f_t}{\partial t},
          \qquad \frac{d\,\mathbb{E}_t[U]}{dt} = \mathrm{Var}_t[U] \ \ (\text{for } \ln f_t \text{ linear in } t),

(statistical physics: :math:`d\ln Z/d\beta = -\langle E\rangle_\beta`). A *rung sampler* gives draws of
:math:`U` at each rung :math:`t_k` of a ladder, shaped (chains, draws) (:class:`RungSampler`; power
posteriors :math:`f_t = p\,L^t` give :math:`U = \ln L`, :mod:`.power_posteriors`; an Ising coupling scale
:math:`\lambda` gives the bond sum, :mod:`physml.inference.spins.coupling_ti`).  Per rung, the mean
:math:`E_k`, variance :math:`V_k` and their Monte Carlo errors (ArviZ ``mcse``, autocorrelation included)
are the *rung statistics* (:func:`rung_stats`).  Every quadrature rule here is linear,
:math:`I = \sum_k a_k E_k + \sum_k c_k V_k`, so its Monte Carlo error is
:math:`\sqrt{\sum_k (a_k\,\mathrm{se}E_k)^2 + (c_k\,\mathrm{se}V_k)^2}` (rungs are independent):

* Friel & Pettitt's corrected trapezoid in :math:`t`, a cubic-Hermite rule, :math:`O(h^4)`:
  :math:`\sum_k \tfrac{h_k}{2}(E_k + E_{k+1}) - \sum_k \tfrac{h_k^2}{12}(V_{k+1} - V_k)` (:func:`trapezoid_rules`);
* the same Hermite rule in :math:`s = \ln t` for :math:`g(s) = tE_t`, exact for :math:`E_t = a + b/t`
  (:func:`log_trapezoid_rules`);
* composite Simpson on :math:`4m + 1` equally spaced rungs, :math:`O(h^4)`, no :math:`V` (:func:`simpson_rule`).

**Discretisation error** (one estimate for all rules, :func:`richardson_error`): the same draws on every
other rung form a coarser ladder; for an :math:`O(h^4)` rule Richardson's estimate of the fine rule's error
is :math:`|D|/15`, :math:`D = I_h - I_{2h}`.  :math:`D` carries Monte Carlo noise too, of variance
:math:`\sigma_D^2 = \sum_k (\Delta a_k\,\mathrm{se}E_k)^2 + (\Delta c_k\,\mathrm{se}V_k)^2` (the two rules'
weight differences); the error counted is the part of :math:`|D|` beyond its noise band,
:math:`\max(|D| - 2\sigma_D, 0)/15` (:math:`|D|/15` would count the Monte Carlo error a second time;
ladders that do not nest keep :math:`|D|` whole, and the rule in :math:`t` on an even rung count falls back
to the size of its correction, :func:`discretisation_error`).
The reported se is :math:`\text{MCSE} \oplus \text{discretisation}`.

In here: ladders (:func:`power_ladder`, :func:`first_rung`, :func:`auto_ladder`, :func:`simpson_ladder`),
rung statistics, the driver (:func:`sample_ladder`, :func:`ladder_stats`, :func:`integrand_on_ladder`) and
the rules with their error estimates.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np
from scipy import integrate

__all__ = ["power_ladder", "first_rung", "auto_ladder", "simpson_rungs", "simpson_ladder", "RungSampler",
           "RungStats", "rung_stats", "rung_sd_tau", "sample_ladder", "ladder_stats", "integrand_on_ladder",
           "trapezoid_rules", "log_trapezoid_rules", "hermite_rule_in_t", "simpson_rule", "richardson_error",
           "discretisation_error", "log_discretisation_error"]


# ------------------------------------------------------------------ ladders
def power_ladder(n_rungs: int = 20, power: float = 5.0) -> np.ndarray:
    """Temperatures ``t_k = (k / n)^power``, k = 0..n (Friel & Pettitt's default power is 5)."""
    if int(n_rungs) < 2:
        raise ValueError(f"n_rungs must be >= 2, got {n_rungs}")
    if not power > 0:
        raise ValueError(f"power must be > 0, got {power}")
    return (np.arange(int(n_rungs) + 1) / int(n_rungs)) ** float(power)


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


def simpson_rungs(n: float) -> int:
    """The smallest 4m + 1 >= n (Simpson with Richardson needs 4m + 1 rungs)."""
    return 4 * math.ceil((n - 1) / 4) + 1


def simpson_ladder(n_rungs: int) -> np.ndarray:
    """``n_rungs`` = 4m + 1 >= 5 equally spaced rungs on [0, 1] (Simpson, and Simpson on every other rung)."""
    if not (isinstance(n_rungs, int) and n_rungs >= 5 and (n_rungs - 1) % 4 == 0):
        raise ValueError(f"n_rungs must be an integer 4m + 1 >= 5, got {n_rungs!r}")
    return np.linspace(0.0, 1.0, n_rungs)


# ------------------------------------------------------------------ rung statistics and the driver
class RungSampler(Protocol):
    """Draws of the integrand U = d ln f_t / dt at rung ``k`` of a ladder (value ``t``), shaped (chains, draws);
    called once per rung in ladder order (a sampler may carry its chains from one rung to the next)."""

    def __call__(self, k: int, t: float) -> np.ndarray: ...


class RungStats(NamedTuple):
    """Per-rung means, variances and their Monte Carlo errors (arrays over the ladder; the variances are None
    when not computed)."""

    means: np.ndarray
    se_means: np.ndarray
    variances: np.ndarray | None = None
    se_variances: np.ndarray | None = None


def rung_stats(draws, *, variance: bool = True) -> tuple[float, float, float, float]:
    """(mean, MCSE of the mean, variance, MCSE of the variance) of draws shaped (chain, draw): ArviZ ``mcse``
    (autocorrelation included), iid formulas where it is not finite, zeros for constant draws; without
    ``variance`` the last two are nan."""
    from arviz_stats import mcse

    g = np.asarray(draws, dtype=float)
    mean = float(g.mean())
    nan = float("nan")
    if not g.std() > 0:
        return mean, 0.0, (0.0 if variance else nan), (0.0 if variance else nan)
    with np.errstate(all="ignore"):
        se_mean = float(mcse(g, method="mean"))
    if not variance:
        return mean, se_mean, nan, nan
    sq = (g - mean) ** 2
    var = float(sq.mean())
    with np.errstate(all="ignore"):
        se_var = float(mcse(sq, method="mean"))
    if not np.isfinite(se_mean):  # too few draws
        se_mean = float(np.sqrt(var / g.size))
    if not np.isfinite(se_var):
        se_var = float(np.std(sq) / np.sqrt(g.size))
    return mean, se_mean, var, se_var


def rung_sd_tau(draws) -> float:
    """sd·√τ of draws shaped (chain, draw), τ = n/ESS (ArviZ ``ess``): the Monte Carlo error of the rung's mean
    is sd·√(τ/n); 0 for constant draws."""
    import arviz_stats as azs

    g = np.asarray(draws, dtype=float)
    if not g.std() > 0:
        return 0.0
    ess = float(azs.ess(g, method="mean"))
    return float(g.std() * math.sqrt(g.size / max(ess, 1.0)))


def sample_ladder(ladder, sample_rung: RungSampler) -> list[np.ndarray]:
    """Draws of the integrand on every rung, in ladder order; ValueError at a rung with non-finite draws."""
    series = []
    for k, t in enumerate(ladder):
        g = np.asarray(sample_rung(k, t), dtype=float)
        if not np.all(np.isfinite(g)):
            raise ValueError(f"non-finite integrand draws at t={t:.3g}")
        series.append(g)
    return series


def ladder_stats(series, *, variance: bool = True, scale: float = 1.0) -> RungStats:
    """:class:`RungStats` of per-rung draws; the integrand is ``scale`` × the draws (means and MCSEs × scale,
    variances × scale²)."""
    stats = np.array([rung_stats(g, variance=variance) for g in series]).reshape(-1, 4)
    if not variance:
        return RungStats(stats[:, 0] * scale, stats[:, 1] * scale)
    return RungStats(stats[:, 0] * scale, stats[:, 1] * scale, stats[:, 2] * scale**2, stats[:, 3] * scale**2)


def integrand_on_ladder(ladder, sample_rung: RungSampler, *, variance: bool = True,
                        scale: float = 1.0) -> RungStats:
    """The driver: sample every rung of ``ladder`` with ``sample_rung`` and summarise (:func:`ladder_stats`)."""
    return ladder_stats(sample_ladder(ladder, sample_rung), variance=variance, scale=scale)


# ------------------------------------------------------------------ quadrature rules and their errors
def richardson_error(difference: float, weight_difference_means, se_means, factor: float,
                     weight_difference_variances=None, se_variances=None) -> float:
    r"""Bias estimate of a fine rule from ``difference`` :math:`D = I_\mathrm{fine} - I_\mathrm{coarse}`.

    ``D`` carries Monte Carlo noise as well as the discretisation difference: its variance
    :math:`\sigma_D^2 = \sum_k (\Delta a_k\,\mathrm{se}(E_k))^2 + (\Delta c_k\,\mathrm{se}(V_k))^2`
    follows from the two rules' weight differences and the per-rung MCSEs (rungs are independent).  The
    discretisation error is the part of :math:`|D|` beyond its 2σ noise band,
    :math:`\max(|D| - 2\sigma_D, 0)/\text{factor}` — not :math:`|D|/\text{factor}`, which counts
    the Monte Carlo error a second time (measured on a 1-D model over 40 seeds: z-scores with sd
    0.70, the se ~1.4× too large).  A bias hidden in the noise band is at most
    :math:`2\sigma_D/\text{factor}`, a small fraction of the Monte Carlo error for factor 15; for
    non-nested ladders (factor 1) that is not small, so there :math:`|D|` is kept whole, as it is
    without MCSEs (``se_means`` None).
    """
    if se_means is None or factor <= 1.0:
        return abs(difference) / factor
    var_d = float(np.sum((weight_difference_means * np.asarray(se_means, float)) ** 2))
    if se_variances is not None and weight_difference_variances is not None:
        var_d += float(np.sum((weight_difference_variances * np.asarray(se_variances, float)) ** 2))
    return max(abs(difference) - 2.0 * float(np.sqrt(var_d)), 0.0) / factor


def _nested_rule_error(fine: dict, coarse: dict, idx, factor: float, se_m, se_v) -> float:
    """:func:`richardson_error` of a fine rule against the same rule on rungs ``idx`` (rule dicts as returned
    by :func:`trapezoid_rules`)."""
    dw_e, dw_v = fine["weights_mean"].copy(), fine["weights_var"].copy()
    dw_e[idx] -= coarse["weights_mean"]
    dw_v[idx] -= coarse["weights_var"]
    return richardson_error(fine["corrected"] - coarse["corrected"], dw_e, se_m, factor, dw_v, se_v)


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


def discretisation_error(ladder, means, variances, mcse_means=None, mcse_variances=None) -> tuple[float, str]:
    r"""Estimated error of the corrected trapezoid rule on ``ladder``.

    With an odd number of rungs (``n`` even) the same draws give a second, coarser ladder
    (every other rung).  The corrected rule is a cubic-Hermite rule, error :math:`O(h^4)`,
    so Richardson's estimate of the fine ladder's error is :math:`|C_n - C_{n/2}| / 15`
    ("two ladders"), less the Monte Carlo noise of the difference when the MCSEs are given
    (:func:`richardson_error`).  Otherwise fall back to :math:`|C_n - T_n|` (the size of the
    Friel–Pettitt correction, an estimate of the *plain* rule's error, hence conservative).
    """
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    full = trapezoid_rules(t, e, v)
    if t.size % 2 == 1 and t.size >= 5:
        idx = np.arange(0, t.size, 2)
        half = trapezoid_rules(t[idx], e[idx], v[idx])
        return (_nested_rule_error(full, half, idx, 15.0, mcse_means, mcse_variances),
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
    of the difference is taken out (:func:`richardson_error`).
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
    return _nested_rule_error(full, half, idx, factor, mcse_means, mcse_variances), how


def hermite_rule_in_t(t, e, v) -> float:
    """Friel-Pettitt (cubic-Hermite) rule in t over any increasing ladder (no end-point checks)."""
    h = np.diff(t)
    return float(np.sum(h / 2 * (e[1:] + e[:-1])) - np.sum(h**2 / 12 * (v[1:] - v[:-1])))


def simpson_rule(ladder, means, se_means=None) -> tuple[float, float, float]:
    r"""Composite Simpson of :math:`\int E_t\,dt` on ``ladder`` (4m + 1 equally spaced rungs,
    ``scipy.integrate.simpson``): (value, Monte Carlo se from ``se_means``, discretisation error by
    :func:`richardson_error` against Simpson on every other rung).  Without ``se_means`` the se is nan and
    the error :math:`|D|/15`."""
    t = np.asarray(ladder, dtype=float)
    e = np.asarray(means, dtype=float)
    if t.ndim != 1 or t.size < 5 or (t.size - 1) % 4:
        raise ValueError(f"Simpson with Richardson needs 4m + 1 >= 5 rungs, got {t.size}")
    value = integrate.simpson(e, x=t)
    coarse = integrate.simpson(e[::2], x=t[::2])
    w = integrate.simpson(np.eye(t.size), x=t, axis=1)
    mc_se, dw = float("nan"), w.copy()
    if se_means is not None:
        mc_se = float(np.sqrt(np.sum((w * np.asarray(se_means, float)) ** 2)))
        dw[::2] -= integrate.simpson(np.eye(t[::2].size), x=t[::2], axis=1)
    return value, mc_se, richardson_error(value - coarse, dw, se_means, 15.0)
