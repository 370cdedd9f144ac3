r"""Evidence by importance sampling from a variational fit, Pareto-smoothed (PSIS).

With draws :math:`\theta_s \sim q` (the fitted variational density in the flat
unconstrained space) and :math:`\ln r_s = \ln p(\theta_s, \text{data}) - \ln q(\theta_s)`
(log joint incl. the transforms' Jacobian),

.. math:: \hat Z = \frac1S \sum_s \tilde r_s ,

where :math:`\tilde r` are the Pareto-smoothed ratios: ArviZ's PSIS
(``arviz_stats`` ``psislw``) replaces the largest :math:`M` ratios by expected order
statistics of a generalised Pareto fit and returns the shape :math:`\hat k`.  The se of
:math:`\ln\hat Z` is the delta-method :math:`\sqrt{\mathrm{Var}(\tilde r)/(S\,\bar r^2)}`
(independent draws from :math:`q`).  :math:`\hat k > 0.7` means the ratios' variance is
effectively infinite: the estimate and its se are then **unreliable** (Vehtari et al. 2024),
and the record's note says so.  Without smoothing :math:`\hat Z` is unbiased, so
:math:`\ln \hat Z` tends to err low and :math:`-\ln\hat Z` high.

Input (``result``): a group ``vi_log_weights`` with ``log_p`` and ``log_q`` over dim
``sample``; if absent, a ``vi_params`` group holding a Gaussian in the unconstrained space (``mean`` with ``chol``
(full rank) or ``sd`` (mean field), as written by :mod:`.vi`; also accepted: ``mu`` with ``rho``
(sd = softplus(rho), PyMC's mean-field), ``sigma``, ``L_tril`` (packed lower Cholesky,
row-major ``tril_indices``), ``L`` or ``cov``), from which ``n_draws`` fresh draws are taken.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from .weights import KHAT_RELIABLE, psis_smooth, relative_weights_se
from ..model_density import model_density
from ..priors import require_proper_prior
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["psis_log_evidence", "gaussian_log_weights", "vi_log_weights_tree", "importance_sampling",
           "estimate_psis_is", "gaussian_from_vi_params"]


def psis_log_evidence(log_p, log_q) -> dict:
    """PSIS estimate of ln E_q[p/q] from per-draw ``log_p`` and ``log_q`` (independent draws).

    Returns ``{"log_z", "se", "khat", "ess", "n"}``; ``ess`` is Kish's ESS of the smoothed weights.
    """
    log_r = np.asarray(log_p, float).ravel() - np.asarray(log_q, float).ravel()
    n = log_r.size
    ok = np.isfinite(log_r)
    if np.any(np.isnan(log_r)) or np.any(log_r == np.inf):
        raise ValueError("log_p - log_q contains nan or +inf")
    m = int(ok.sum())
    if m < 25:
        raise ValueError(f"PSIS needs at least 25 draws with finite weights, got {m}")
    lr = log_r[ok]
    lw, khat = psis_smooth(lr)
    # PSIS returns normalised log weights; draws below the tail are unchanged, so any of them
    # recovers the normaliser: lw_i = lr_i - ln Σ r̃  (the median draw is never in the tail).
    i0 = int(np.argsort(lr)[m // 2])
    log_sum = lr[i0] - lw[i0]
    log_z = float(log_sum - np.log(n))  # draws with zero weight (outside the support) count in n
    lw_all = np.concatenate([lw + log_sum, np.full(n - m, -np.inf)])
    se = relative_weights_se(lw_all)
    ess = float(1.0 / np.sum(np.exp(2 * lw)))
    return {"log_z": log_z, "se": se, "khat": khat, "ess": ess, "n": n}


def gaussian_log_weights(model, mean, *, sd=None, chol=None, n_draws: int = 2000, seed: int = 0):
    """Draw from a Gaussian q on the model's flat unconstrained space; return (log_p, log_q, draws).

    Give ``sd`` (mean-field) or ``chol`` (lower Cholesky factor of the covariance).
    """
    dens = model_density(model)
    mean = np.asarray(mean, float).ravel()
    if mean.size != dens.ndim:
        raise ValueError(f"q has dimension {mean.size}, the model's unconstrained space {dens.ndim}")
    if chol is None:
        if sd is None:
            raise ValueError("give sd or chol")
        chol = np.diag(np.asarray(sd, float).ravel())
    chol = np.atleast_2d(np.asarray(chol, float))
    d = mean.size
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n_draws), d))
    x = mean + z @ chol.T
    log_q = (-0.5 * np.sum(z**2, axis=1) - np.sum(np.log(np.abs(np.diag(chol))))
             - 0.5 * d * np.log(2 * np.pi))
    with np.errstate(all="ignore"):
        log_p = dens.log_joint(x)
    log_p = np.where(np.isnan(log_p), -np.inf, log_p)
    return log_p, log_q, x


def vi_log_weights_tree(log_p, log_q) -> xr.DataTree:
    """The ``vi_log_weights`` group (``log_p``, ``log_q`` over dim ``sample``) this module reads."""
    ds = xr.Dataset({"log_p": ("sample", np.asarray(log_p, float).ravel()),
                     "log_q": ("sample", np.asarray(log_q, float).ravel())},
                    attrs={"log_p": "log joint (prior incl. Jacobian + likelihood), unconstrained space",
                           "log_q": "log density of the variational approximation at the same draws"})
    return xr.DataTree(ds)


def gaussian_from_vi_params(ds: xr.Dataset, d: int):
    """(mean, sd, chol) of the Gaussian q in a ``vi_params`` dataset on a ``d``-dim unconstrained space: one
    of ``sd`` (mean field) and ``chol`` (lower Cholesky factor of the covariance) is None."""
    names = set(ds.data_vars)
    key_mean = "mean" if "mean" in names else "mu"
    if key_mean not in names:
        raise ValueError(f"vi_params has no 'mean' or 'mu' (found {sorted(names)})")
    mean = np.asarray(ds[key_mean].values, float).ravel()
    if "L_tril" in names:
        packed = np.asarray(ds["L_tril"].values, float).ravel()
        chol = np.zeros((d, d))
        chol[np.tril_indices(d)] = packed
        return mean, None, chol
    for key in ("chol", "L"):
        if key in names:
            return mean, None, np.tril(np.asarray(ds[key].values, float).reshape(d, d))
    if "cov" in names:
        return mean, None, np.linalg.cholesky(np.asarray(ds["cov"].values, float).reshape(d, d))
    for key in ("sd", "sigma", "std"):
        if key in names:
            return mean, np.asarray(ds[key].values, float).ravel(), None
    if "rho" in names:
        rho = np.asarray(ds["rho"].values, float).ravel()
        return mean, np.logaddexp(0.0, rho), None  # PyMC: sd = softplus(rho)
    raise ValueError("vi_params must hold 'mean' (or 'mu') with one of 'chol', 'sd', 'rho', 'sigma', 'L_tril', "
                     "'L', 'cov' "
                     f"(found {sorted(names)})")


def importance_sampling(model, result, *, seed: int = 0, n_draws: int = 2000):
    """−ln p(data) by PSIS from a VI result; returns a :class:`FreeEnergy` with ``pareto_k``."""
    require_proper_prior(model, "PSIS importance sampling")
    t0 = time.perf_counter()
    if result is not None and "vi_log_weights" in result.children:
        ds = result["vi_log_weights"].to_dataset()
        if "log_p" not in ds or "log_q" not in ds:
            raise ValueError("group 'vi_log_weights' must hold 'log_p' and 'log_q' over dim 'sample'")
        log_p, log_q = ds["log_p"].values, ds["log_q"].values
        source = "vi_log_weights"
    elif result is not None and "vi_params" in result.children:
        dens = model_density(model)
        mean, sd, chol = gaussian_from_vi_params(result["vi_params"].to_dataset(), dens.ndim)
        log_p, log_q, _ = gaussian_log_weights(model, mean, sd=sd, chol=chol, n_draws=n_draws, seed=seed)
        source = f"{n_draws} fresh draws from vi_params"
    else:
        raise ValueError("importance sampling needs a VI result: a 'vi_log_weights' group (log_p, log_q "
                         "over dim 'sample') or a 'vi_params' group (Gaussian q in the unconstrained space)")
    out = psis_log_evidence(log_p, log_q)
    note = f"PSIS importance sampling from q ({source}, S={out['n']}, ESS={out['ess']:.0f}), k-hat={out['khat']:.2f}"
    if not out["khat"] <= KHAT_RELIABLE:
        note = (f"unreliable: Pareto k-hat {out['khat']:.2f} > {KHAT_RELIABLE} (q misses posterior mass; "
                "estimate and se not trustworthy); ") + note
    return FreeEnergy(value=-out["log_z"], se=out["se"], kind="estimate", estimator="psis_is",
                      wall_time_s=time.perf_counter() - t0, pareto_k=out["khat"], note=note)


def estimate_psis_is(model, result, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry for VI results."""
    return importance_sampling(model, result, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="psis_is", estimate=estimate_psis_is, applies_to=("vi",),
    description="importance sampling from the VI approximation, Pareto-smoothed (PSIS), with k-hat"))
