r"""Bridge sampling of the evidence from posterior draws (Meng & Wong 1996; Gronau et al. 2017).

Works in the model's flat unconstrained space (:mod:`.model_density`), where the
unnormalised posterior is :math:`q(\theta) = p(\theta)\,p(\text{data}\mid\theta)` (prior incl.
the transforms' Jacobian) and :math:`Z = \int q`.  As in the ``bridgesampling`` R package:

1. split every chain in halves; fit a multivariate-normal proposal :math:`g` (mean and
   covariance) on the first halves;
2. draw :math:`N_2 = N_1` proposal points; with :math:`l_{1,i} = \ln q - \ln g` at the
   :math:`N_1` second-half posterior draws and :math:`l_{2,j}` at the proposal draws, iterate
   the optimal bridge function fixed point

   .. math:: \hat r^{(t+1)} = \frac{\frac1{N_2}\sum_j \frac{e^{l_{2,j}}}{s_1 e^{l_{2,j}} + s_2 \hat r^{(t)}}}
                                   {\frac1{N_1}\sum_i \frac{1}{s_1 e^{l_{1,i}} + s_2 \hat r^{(t)}}},
             \qquad s_1 = \frac{N_{1,\mathrm{eff}}}{N_{1,\mathrm{eff}} + N_2},\ s_2 = 1 - s_1,

   (in log space, scaled by the median of :math:`l_1`), :math:`N_{1,\mathrm{eff}}` the median ESS
   of the parameters;
3. error: the relative mean-squared error of :math:`\hat Z` (Frühwirth-Schnatter 2004),

   .. math:: \mathrm{RE}^2 = \frac{\mathrm{Var}(f_1)}{N_2\,\bar f_1^2} + \frac{\mathrm{Var}(f_2)}{\mathrm{ESS}(f_2)\,\bar f_2^2},
             \quad f_1 = \frac{p(\theta_g)}{s_1 p(\theta_g) + s_2 g(\theta_g)},\
             f_2 = \frac{g(\theta_p)}{s_1 p(\theta_p) + s_2 g(\theta_p)},

   with :math:`p = q/\hat Z` and the autocorrelation of the MCMC draws entering through the
   ESS of :math:`f_2` (ArviZ); the se of :math:`\ln\hat Z` is :math:`\mathrm{RE}` (delta method).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.special import logsumexp

from ..model_density import model_density
from ..priors import require_proper_prior
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["bridge_sampling", "bridge_from_log_ratios", "estimate_bridge", "fit_problems"]


def _log_mvn(x, mean, chol):
    """ln N(x | mean, L Lᵀ) for rows of x."""
    from scipy.linalg import solve_triangular

    d = mean.size
    z = solve_triangular(chol, (x - mean).T, lower=True)
    return (-0.5 * np.sum(z**2, axis=0) - np.sum(np.log(np.diag(chol)))
            - 0.5 * d * np.log(2 * np.pi))


def bridge_from_log_ratios(l1, l2, *, n1_eff=None, max_iter: int = 1000, tol: float = 1e-10):
    """Iterate the optimal bridge fixed point.

    ``l1``: ln q − ln g at posterior draws (any shape; flattened); ``l2``: at proposal draws.
    Returns ``(log_z, n_iter, s1, s2)``.
    """
    l1 = np.asarray(l1, float).ravel()
    l2 = np.asarray(l2, float).ravel()
    n1, n2 = l1.size, l2.size
    n1e = float(n1 if n1_eff is None else min(max(n1_eff, 1.0), n1))
    s1 = n1e / (n1e + n2)
    s2 = n2 / (n1e + n2)
    lstar = float(np.median(l1))
    a1 = l1 - lstar
    a2 = l2 - lstar
    log_s1, log_s2 = np.log(s1), np.log(s2)
    log_r = 0.0
    for it in range(1, int(max_iter) + 1):
        num = logsumexp(a2 - np.logaddexp(log_s1 + a2, log_s2 + log_r)) - np.log(n2)
        den = logsumexp(-np.logaddexp(log_s1 + a1, log_s2 + log_r)) - np.log(n1)
        new = num - den
        if not np.isfinite(new):
            raise FloatingPointError("bridge sampling iteration produced a non-finite value")
        done = abs(new - log_r) < tol
        log_r = new
        if done:
            break
    return log_r + lstar, it, s1, s2


def bridge_sampling(model, posterior, *, seed: int = 0, max_iter: int = 1000, tol: float = 1e-10,
                    return_details: bool = False, inherited: tuple[str, ...] = ()):
    """−ln p(data) by bridge sampling from posterior draws; returns a :class:`FreeEnergy`.

    ``posterior``: the ``posterior`` group (Dataset/DataTree, dims chain, draw) or a whole
    result DataTree.  Needs at least 8 draws per chain.  ``inherited``: problems of the fit that
    produced the draws (:func:`fit_problems`), which make the record ``unreliable:`` too.
    """
    from arviz_stats import ess

    require_proper_prior(model, "bridge sampling")
    t0 = time.perf_counter()
    if hasattr(posterior, "children") and "posterior" in posterior.children:
        posterior = posterior["posterior"]
    dens = model_density(model)
    theta = dens.to_unconstrained(posterior)  # (chain, draw, d)
    n_chain, n_draw, d = theta.shape
    if n_draw < 8:
        raise ValueError(f"bridge sampling needs >= 8 draws per chain, got {n_draw}")
    half = n_draw // 2
    fit = theta[:, :half].reshape(-1, d)
    it = theta[:, half:]  # (chain, n_iter, d)
    n_iter = it.shape[1]
    mean = fit.mean(axis=0)
    cov = np.atleast_2d(np.cov(fit, rowvar=False))
    cov = cov + np.eye(d) * 1e-12 * max(np.trace(cov) / d, 1e-300)
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(seed)
    n1 = n_chain * n_iter
    n2 = n1
    gen = mean + rng.standard_normal((n2, d)) @ chol.T
    it_flat = it.reshape(-1, d)
    q11 = dens.log_joint(it_flat)
    q12 = _log_mvn(it_flat, mean, chol)
    q21 = dens.log_joint(gen)
    q22 = _log_mvn(gen, mean, chol)
    q21 = np.where(np.isfinite(q21), q21, -np.inf)  # proposal points outside the support
    if not np.all(np.isfinite(q11)):
        raise ValueError("non-finite log density at posterior draws")
    l1 = q11 - q12
    l2 = q21 - q22
    with np.errstate(all="ignore"):
        ess_par = np.asarray([float(ess(it[:, :, j], method="bulk")) for j in range(d)])
    n1_eff = float(np.nanmedian(ess_par)) if np.any(np.isfinite(ess_par)) else float(n1)
    log_z, n_it, s1, s2 = bridge_from_log_ratios(l1, l2, n1_eff=n1_eff, max_iter=max_iter, tol=tol)

    # relative mean-squared error (Frühwirth-Schnatter 2004), f1 on proposal draws, f2 on posterior
    with np.errstate(over="ignore"):
        f1 = 1.0 / (s1 + s2 * np.exp(-(l2 - log_z)))
        f2 = 1.0 / (s1 * np.exp(l1 - log_z) + s2)
    f2c = f2.reshape(n_chain, n_iter)
    with np.errstate(all="ignore"):
        ess_f2 = float(ess(f2c, method="mean"))
    if not np.isfinite(ess_f2) or ess_f2 <= 0:
        ess_f2 = float(n1)
    ess_f2 = min(ess_f2, float(n1))
    re2 = np.var(f1, ddof=1) / (n2 * np.mean(f1) ** 2) + np.var(f2, ddof=1) / (ess_f2 * np.mean(f2) ** 2)
    se = float(np.sqrt(re2))
    wall = time.perf_counter() - t0
    note = (f"bridge sampling (Meng-Wong iterative, {n_it} iterations), MVN proposal fitted on first "
            f"halves of {n_chain} chains; N1={n1} (ESS {n1_eff:.0f}), N2={n2}; "
            f"se from relative MSE (Fruhwirth-Schnatter 2004), ESS(f2)={ess_f2:.0f}")
    problems = list(inherited) + _draw_problems(it, ess_par, ess_f2)
    if problems:
        note = "unreliable: " + "; ".join(problems) + " (the se assumes equilibrated draws); " + note
    rec = FreeEnergy(value=-float(log_z), se=se, kind="estimate", estimator="bridge",
                     wall_time_s=wall, note=note)
    if return_details:
        return rec, {"log_z": float(log_z), "n_iter": n_it, "s1": s1, "s2": s2, "n1": n1, "n2": n2,
                     "n1_eff": n1_eff, "ess_f2": ess_f2, "re2": float(re2)}
    return rec


MIN_ESS = 100  # effective draws below which the se of a mean is itself too uncertain to promise
MAX_RHAT = 1.05  # split R-hat above which the chains have visibly not mixed (not the 1.01 convergence target)


def _draw_problems(draws, ess_par, ess_f2) -> list[str]:
    """Self-check of the posterior draws the estimate rests on: few effective draws, or chains that
    disagree (rank-normalised split R-hat, ArviZ), make the Frühwirth-Schnatter se optimistic."""
    from arviz_stats import rhat

    out = []
    finite = ess_par[np.isfinite(ess_par)]
    if finite.size and finite.min() < MIN_ESS:
        out.append(f"min bulk ESS of the draws {finite.min():.0f} < {MIN_ESS}")
    if ess_f2 < MIN_ESS:
        out.append(f"ESS(f2) {ess_f2:.0f} < {MIN_ESS}")
    if draws.shape[0] > 1:
        with np.errstate(all="ignore"):
            r = np.asarray([float(rhat(draws[:, :, j])) for j in range(draws.shape[2])])
        r = r[np.isfinite(r)]
        if r.size and r.max() > MAX_RHAT:
            out.append(f"chains disagree: max R-hat {r.max():.3f} > {MAX_RHAT}")
    return out


def fit_problems(result) -> list[str]:
    """What the fit that made the draws recorded against them: divergent transitions (the draws miss
    the region where the sampler diverged, so q/g is never evaluated there) and R-hat > ``MAX_RHAT``
    over all the draws (the estimator's own check sees only the second halves)."""
    from ..records import diagnostics

    out = []
    stats = result["sample_stats"] if "sample_stats" in result.children else None
    if stats is not None and "diverging" in stats.data_vars:
        n_div = int(stats["diverging"].values.sum())
        if n_div:
            out.append(f"the fit had {n_div} divergent transitions (its draws miss part of the posterior)")
    rhat = float(diagnostics(result).get("max_rhat", float("nan")))
    if np.isfinite(rhat) and rhat > MAX_RHAT:
        out.append(f"the fit's max R-hat {rhat:.3f} > {MAX_RHAT}")
    return out


def estimate_bridge(model, result, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: needs ``result['posterior']`` (MCMC or SMC draws); inherits the fit's problems."""
    if result is None or "posterior" not in result.children:
        raise ValueError("bridge sampling needs a result with a 'posterior' group of draws")
    return bridge_sampling(model, result["posterior"], seed=seed, inherited=tuple(fit_problems(result)),
                           **options)


register_free_energy(FreeEnergyEstimator(
    name="bridge", estimate=estimate_bridge, applies_to=("mcmc", "smc"),
    description="bridge sampling (Meng & Wong 1996, Gronau et al. 2017) with an MVN proposal"))
