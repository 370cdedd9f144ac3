r"""Local free energy (local entropy) of a point on a loss landscape, by Laplace and by TI over the coupling γ.

For a loss :math:`L(w)` on :math:`\mathbb{R}^n` and a point :math:`w`,

.. math:: F_\gamma(w) = -\ln Z_\gamma(w), \qquad Z_\gamma(w) = \int e^{-L(w') - \frac{\gamma}{2}\lVert w' - w\rVert^2}\,dw'

(Baldassi et al. 2016; Chaudhari et al. 2017, "Entropy-SGD"): a wide, flat basin around :math:`w` has a
low :math:`F_\gamma`, a sharp one a high :math:`F_\gamma` at the same depth.

* **Laplace** (:func:`laplace_local_free_energy`): minimise :math:`\Phi(w') = L(w') + \frac{\gamma}{2}
  \lVert w'-w\rVert^2` at :math:`w^\circ`, then
  :math:`F_\gamma \approx \Phi(w^\circ) + \tfrac12 \ln\det(\nabla^2 L(w^\circ) + \gamma I) - \tfrac n2 \ln 2\pi`
  (exact for a quadratic loss).
* **TI over γ** (:func:`ti_local_free_energy`): with :math:`\gamma = \gamma_{\max} t`,
  :math:`\ln f_t = -L - \frac{\gamma_{\max} t}{2} r^2`, :math:`r = \lVert w' - w\rVert`, the integrand is
  :math:`U = \partial_t \ln f_t = -\gamma_{\max} r^2/2` and

  .. math:: F_\gamma = F_{\gamma_{\max}} + \int_{\gamma/\gamma_{\max}}^{1} \mathbb{E}_t[U]\,dt,

  the anchor :math:`F_{\gamma_{\max}}` by Laplace (the coupling dominates there: its error is
  :math:`O(1/\gamma_{\max})` for a smooth loss, zero for a quadratic one), the integral by the project's TI
  core (:mod:`physml.inference.evidence.thermodynamic_integration`: cubic-Hermite rule in :math:`\ln t`,
  exact for :math:`\mathbb{E}_t[U] = a + b/t`, Richardson discretisation error, ArviZ MCSEs) on draws from
  MALA (Metropolis-adjusted Langevin; Roberts & Tweedie 1996) started from the Laplace Gaussian at each
  rung, step :math:`\epsilon^2 = c/(\kappa + \gamma)` with :math:`\kappa` the loss's largest curvature
  (given). The record's se is MCSE ⊕ discretisation; a rung whose acceptance falls below 0.3 makes the
  record ``unreliable:``.

``loss_grad(W)`` is vectorised: W (chains, n) → (values (chains,), gradients (chains, n)).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import optimize

from ..evidence.thermodynamic_integration import ladder_stats, log_discretisation_error, log_trapezoid_rules
from ..records import FreeEnergy

__all__ = ["laplace_local_free_energy", "ti_local_free_energy", "mala_draws"]


def _minimise(loss_grad, w: np.ndarray, gamma: float) -> np.ndarray:
    def phi(x):
        value, grad = loss_grad(x[None, :])
        d = x - w
        return float(value[0]) + 0.5 * gamma * float(d @ d), grad[0] + gamma * d
    return optimize.minimize(phi, w, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "maxiter": 10_000}).x


def laplace_local_free_energy(loss_grad, hessian, w, gamma: float) -> tuple[float, np.ndarray]:
    """(F_γ by Laplace, the minimiser w°); ``hessian(x) -> (n, n)`` of L."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    w = np.asarray(w, dtype=float)
    x = _minimise(loss_grad, w, gamma)
    value = float(loss_grad(x[None, :])[0][0]) + 0.5 * gamma * float((x - w) @ (x - w))
    sign, logdet = np.linalg.slogdet(hessian(x) + gamma * np.eye(len(w)))
    if sign <= 0:
        raise ValueError("the Hessian plus γI is not positive definite at the minimiser: Laplace is undefined")
    return value + 0.5 * logdet - 0.5 * len(w) * math.log(2 * math.pi), x


def mala_draws(loss_grad, w: np.ndarray, gamma: float, start: np.ndarray, *, step: float, draws: int,
               burn: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """MALA on exp(−L(x) − γ/2 |x − w|²) from ``start`` (chains, n): (draws (chains, draws, n), acceptance)."""
    def logp_grad(x):
        value, grad = loss_grad(x)
        d = x - w
        return -value - 0.5 * gamma * np.sum(d * d, axis=1), -grad - gamma * d

    x = np.array(start, dtype=float)
    lp, g = logp_grad(x)
    out = np.empty((x.shape[0], draws, x.shape[1]))
    accepted = 0
    for i in range(burn + draws):
        prop = x + 0.5 * step * g + math.sqrt(step) * rng.standard_normal(x.shape)
        lp_p, g_p = logp_grad(prop)
        fwd = -np.sum((prop - x - 0.5 * step * g) ** 2, axis=1) / (2 * step)
        back = -np.sum((x - prop - 0.5 * step * g_p) ** 2, axis=1) / (2 * step)
        accept = np.log(rng.uniform(size=len(x))) < lp_p - lp + back - fwd
        x[accept], lp[accept], g[accept] = prop[accept], lp_p[accept], g_p[accept]
        if i >= burn:
            out[:, i - burn] = x
            accepted += int(accept.sum())
    return out, accepted / (draws * len(x))


def ti_local_free_energy(loss_grad, hessian, w, gamma: float, *, gamma_max: float, curvature: float,
                         n_rungs: int = 13, chains: int = 4, draws: int = 500, burn: int = 100,
                         step_scale: float = 0.5, rng: np.random.Generator) -> FreeEnergy:
    """F_γ(w) by TI over γ ∈ [gamma, gamma_max] on a geometric ladder of ``n_rungs`` rungs (module docstring)."""
    if not 0 < gamma < gamma_max:
        raise ValueError(f"gamma must satisfy 0 < gamma < gamma_max, got {gamma!r}, {gamma_max!r}")
    if int(n_rungs) < 3 or not curvature >= 0:
        raise ValueError(f"n_rungs must be >= 3 and curvature >= 0, got {n_rungs!r}, {curvature!r}")
    t0, w = time.perf_counter(), np.asarray(w, dtype=float)
    anchor, _ = laplace_local_free_energy(loss_grad, hessian, w, gamma_max)
    ladder = np.geomspace(gamma / gamma_max, 1.0, int(n_rungs))
    series, worst = [], 1.0
    for t in ladder:
        g = gamma_max * t
        centre = _minimise(loss_grad, w, g)
        cov = np.linalg.inv(hessian(centre) + g * np.eye(len(w)))
        start = rng.multivariate_normal(centre, 0.5 * (cov + cov.T), size=chains)
        x, acceptance = mala_draws(loss_grad, w, g, start, step=step_scale / (curvature + g), draws=draws,
                                   burn=burn, rng=rng)
        worst = min(worst, acceptance)
        series.append(-0.5 * gamma_max * np.sum((x - w) ** 2, axis=2))
    stats = ladder_stats(series)
    rule = log_trapezoid_rules(ladder, stats.means, stats.variances, stats.se_means, stats.se_variances)
    disc, how = log_discretisation_error(ladder, stats.means, stats.variances, stats.se_means, stats.se_variances)
    note = f"anchor: Laplace at gamma_max = {gamma_max:g}; discretisation {disc:.3g} ({how}); min acceptance {worst:.2f}"
    if worst < 0.3:
        note = "unreliable: MALA acceptance below 0.3 at some rung; " + note
    return FreeEnergy(anchor + rule["corrected"], math.hypot(rule["mc_se"], disc), "estimate", "ti_gamma",
                      time.perf_counter() - t0, note=note)
