r"""Free energy along a parallel-tempering ladder: stepping stone and BAR between neighbouring rungs.

Replica k samples :math:`P_k(s) \propto e^{\beta_k \ell(s)}` with :math:`\ell(s) = \sum_e K_e s_i s_j + \sum_i h_i s_i`
(the target's log weight, :math:`\beta_M = 1`). With :math:`\Delta_k = \beta_{k+1} - \beta_k`,

.. math::

    \ln\frac{Z_{k+1}}{Z_k} = \ln \big\langle e^{\Delta_k \ell}\big\rangle_{k}
    \quad\text{(stepping stone, Xie et al. 2011)}, \qquad
    \ln Z(1) = \ln Z(\beta_1) + \sum_k \ln\frac{Z_{k+1}}{Z_k},

and :math:`\ln Z(0) = N \ln 2` (at β = 0 couplings and field vanish), so a ladder starting at β_1 = 0 gives
−ln Z itself. Bennett's acceptance ratio (BAR, Bennett 1976; Shirts et al. 2003) uses both neighbours: with
the reduced works :math:`w_F = -\Delta_k \ell(s)`, :math:`s \sim P_k`, and :math:`w_R = \Delta_k \ell(s)`,
:math:`s \sim P_{k+1}` (equal sample sizes), :math:`\Delta f_k = -\ln(Z_{k+1}/Z_k)` solves

.. math::

    g_k(\Delta f) = \overline{\sigma(\Delta f - w_F)} - \overline{\sigma(-\Delta f - w_R)} = 0,
    \qquad \sigma(x) = \frac{1}{1 + e^{-x}} .

Standard errors by the delta method on the *joint* time series (all rungs at one PT step are correlated
through swaps): stepping stone :math:`y_t = \sum_k w_{k,t}/\bar w_k`, BAR :math:`y_t = \sum_k z_{k,t}/g_k'`
with :math:`z_{k,t}` the summand of :math:`g_k`; se = ArviZ MCSE of :math:`\bar y` over (chain, draw), which
includes the autocorrelation. The records flag themselves ``unreliable:`` when a neighbour pair's swap
acceptance is below ``MIN_SWAP_ACCEPTANCE``, a rung's stepping-stone weights have a Kish ESS below
``MIN_WEIGHT_ESS``, or R-hat of :math:`y` over chains exceeds 1.05.

Thermodynamic integration over the same ladder (:func:`ladder_thermodynamic_integration`):
:math:`\ln Z(\beta_M) - \ln Z(\beta_1) = \int \langle \ell\rangle_\beta\,d\beta`, by the Friel–Pettitt
corrected trapezoid (:func:`~physml.inference.evidence.thermodynamic_integration.trapezoid_rules`, which
uses :math:`d\langle\ell\rangle/d\beta = \mathrm{Var}_\beta\,\ell`); its Monte Carlo se by the delta method
on the joint series :math:`y_t = \sum_k a_k \ell_{k,t} + c_k(\ell_{k,t} - \bar\ell_k)^2` (the rule's weights),
its discretisation error by Richardson on every other rung
(:func:`~physml.inference.evidence.thermodynamic_integration.discretisation_error`), added in quadrature.
It flags itself when the discretisation error exceeds ``MAX_DISCRETISATION_RATIO`` × the Monte Carlo se
(the ladder does not resolve ⟨ℓ⟩_β) or the bulk ESS of :math:`y` is below ``MIN_WEIGHT_ESS``.
:func:`ladder_records` builds all three records for any :math:`\ln Z(\beta_1)` (spins at β = 0:
:math:`N\ln 2`; a PyMC model's tempered likelihood at β = 0: the normalised prior, 0).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from ..evidence.thermodynamic_integration import discretisation_error, ladder_stats, trapezoid_rules
from ..records import FreeEnergy

__all__ = ["stepping_stone", "bennett_acceptance_ratio", "ladder_thermodynamic_integration", "ladder_records",
           "ladder_free_energies", "MIN_SWAP_ACCEPTANCE", "MIN_WEIGHT_ESS", "MAX_DISCRETISATION_RATIO"]

MIN_SWAP_ACCEPTANCE = 0.05
MIN_WEIGHT_ESS = 100.0
MAX_RHAT = 1.05
MAX_DISCRETISATION_RATIO = 2.0


def _check_log_weights(log_weights, betas) -> tuple[np.ndarray, np.ndarray]:
    lw = np.asarray(log_weights, dtype=float)
    betas = np.asarray(betas, dtype=float)
    if lw.ndim != 3 or lw.shape[2] != betas.size or betas.size < 2:
        raise ValueError(f"log_weights must be shaped (chain, draw, rung) with rung = len(betas) >= 2, "
                         f"got {lw.shape} and {betas.size} betas")
    if np.any(np.diff(betas) <= 0):
        raise ValueError("betas must be strictly increasing")
    return lw, betas


def _mcse_and_rhat(y: np.ndarray) -> tuple[float, float]:
    import arviz_stats as azs
    mcse = float(azs.mcse(y, method="mean"))
    rhat = float(azs.rhat(y)) if y.shape[0] > 1 else float("nan")
    return mcse, rhat


def stepping_stone(log_weights, betas) -> dict:
    r""":math:`\ln Z(\beta_M) - \ln Z(\beta_1)` by the stepping stone, with se; ``log_weights`` (chain, draw, rung)
    holds :math:`\ell` of each rung's replica. Returns value, se, per-pair ln ratios, Kish ESS, R-hat."""
    lw, betas = _check_log_weights(log_weights, betas)
    delta = np.diff(betas)
    log_w = lw[:, :, :-1] * delta  # (chain, draw, pair)
    n = log_w.shape[0] * log_w.shape[1]
    log_mean = special.logsumexp(log_w, axis=(0, 1)) - math.log(n)
    ratio = np.exp(log_w - log_mean)  # w / mean w
    kish = n / np.mean(ratio ** 2, axis=(0, 1))
    se, rhat = _mcse_and_rhat(ratio.sum(axis=2))
    return {"value": float(log_mean.sum()), "se": se, "pair_log_ratio": log_mean, "kish_ess": kish, "rhat": rhat}


def _bar_pair(w_f: np.ndarray, w_r: np.ndarray) -> float:
    def g(df):
        return float(np.mean(special.expit(df - w_f)) - np.mean(special.expit(-df - w_r)))
    lo = float(min(np.min(w_f), -np.max(w_r))) - 1.0
    hi = float(max(np.max(w_f), -np.min(w_r))) + 1.0
    return optimize.brentq(g, lo, hi, xtol=1e-12)


def bennett_acceptance_ratio(log_weights, betas) -> dict:
    r""":math:`\ln Z(\beta_M) - \ln Z(\beta_1)` by BAR between neighbouring rungs, with the delta-method se."""
    lw, betas = _check_log_weights(log_weights, betas)
    delta = np.diff(betas)
    w_f = -lw[:, :, :-1] * delta
    w_r = lw[:, :, 1:] * delta
    df = np.array([_bar_pair(w_f[:, :, k].ravel(), w_r[:, :, k].ravel()) for k in range(delta.size)])
    a = special.expit(df - w_f)
    b = special.expit(-df - w_r)
    slope = np.mean(a * (1 - a), axis=(0, 1)) + np.mean(b * (1 - b), axis=(0, 1))
    se, rhat = _mcse_and_rhat(((a - b) / slope).sum(axis=2))
    return {"value": float(-df.sum()), "se": se, "pair_log_ratio": -df, "rhat": rhat}


def _flags(acceptance, kish, rhat) -> list[str]:
    out = []
    acceptance = np.asarray(acceptance, dtype=float)
    if np.any(acceptance < MIN_SWAP_ACCEPTANCE):
        out.append(f"swap acceptance {acceptance.min():.3f} < {MIN_SWAP_ACCEPTANCE} between rungs "
                   f"{int(np.argmin(acceptance))} and {int(np.argmin(acceptance)) + 1}")
    if np.min(kish) < MIN_WEIGHT_ESS:
        out.append(f"stepping-stone weight ESS {np.min(kish):.0f} < {MIN_WEIGHT_ESS:.0f}")
    if np.isfinite(rhat) and rhat > MAX_RHAT:
        out.append(f"R-hat {rhat:.3f} > {MAX_RHAT} over chains")
    return out


def ladder_thermodynamic_integration(log_weights, betas) -> dict:
    r""":math:`\ln Z(\beta_M) - \ln Z(\beta_1) = \int\langle\ell\rangle_\beta d\beta` by the corrected trapezoid on the
    ladder, with the delta-method Monte Carlo se on the joint series, the Richardson discretisation error,
    their quadrature sum ``se``, the bulk ESS and R-hat of the series."""
    import arviz_stats as azs

    lw, betas = _check_log_weights(log_weights, betas)
    t = (betas - betas[0]) / (betas[-1] - betas[0])  # the TI core integrates over [0, 1]
    width = betas[-1] - betas[0]
    st = ladder_stats([lw[:, :, k] for k in range(betas.size)])
    means, variances = st.means, st.variances
    rule = trapezoid_rules(t, means, variances)
    y = (lw * rule["weights_mean"] + (lw - means) ** 2 * rule["weights_var"]).sum(axis=2) * width
    mc_se, rhat = _mcse_and_rhat(y)
    disc, how = discretisation_error(t, means, variances, st.se_means, st.se_variances)
    disc *= width
    return {"value": rule["corrected"] * width, "se": math.hypot(mc_se, disc), "mc_se": mc_se,
            "discretisation": disc, "discretisation_how": how, "rhat": rhat,
            "ess": float(azs.ess(y, method="bulk")), "rung_means": means}


def _ti_flags(ti: dict) -> list[str]:
    out = []
    if ti["discretisation"] > MAX_DISCRETISATION_RATIO * ti["mc_se"]:
        out.append(f"TI discretisation error {ti['discretisation']:.3g} > {MAX_DISCRETISATION_RATIO:g} x MC se "
                   f"{ti['mc_se']:.3g} (ladder too coarse for <l>_beta)")
    if not ti["ess"] >= MIN_WEIGHT_ESS:
        out.append(f"TI series ESS {ti['ess']:.0f} < {MIN_WEIGHT_ESS:.0f}")
    return out


def ladder_records(log_weights, betas, log_z_first: float, acceptance, *, wall_time_s=float("nan"),
                   what: str = "", run_flags: tuple[str, ...] = ()) -> list[FreeEnergy]:
    """−ln Z records ``pt_stepping_stone``, ``pt_bar``, ``pt_ti`` from one PT run, given ``log_z_first`` =
    ln Z(β_1) (the ladder's hot end, known in closed form); ``what`` names that end in the notes; ``run_flags``:
    failures the caller saw in the run itself (e.g. an unmixed β = 1 posterior), added to every record's flags."""
    lw, betas = _check_log_weights(log_weights, betas)
    ss = stepping_stone(lw, betas)
    ti = ladder_thermodynamic_integration(lw, betas)
    out = []
    for name, res in (("pt_stepping_stone", ss), ("pt_bar", bennett_acceptance_ratio(lw, betas)), ("pt_ti", ti)):
        flags = (_flags(acceptance, ss["kish_ess"], res["rhat"]) + (_ti_flags(ti) if name == "pt_ti" else [])
                 + list(run_flags))
        note = ("unreliable: " + "; ".join(flags)) if flags else f"{betas.size} rungs from beta = {betas[0]:g}{what}"
        out.append(FreeEnergy(value=-(log_z_first + res["value"]), se=res["se"], kind="estimate", estimator=name,
                              wall_time_s=wall_time_s, note=note))
    return out


def ladder_free_energies(log_weights, betas, n_spins: int, acceptance, *,
                         wall_time_s=float("nan")) -> list[FreeEnergy]:
    """−ln Z records (``pt_stepping_stone``, ``pt_bar``, ``pt_ti``) of a spin PT run; the ladder must start at
    β = 0, where ln Z = N ln 2."""
    lw, betas = _check_log_weights(log_weights, betas)
    if betas[0] != 0.0:
        raise ValueError(f"the ladder must start at beta = 0 for an absolute free energy, got {betas[0]}")
    return ladder_records(lw, betas, n_spins * math.log(2.0), acceptance, wall_time_s=wall_time_s)
