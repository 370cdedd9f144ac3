r"""Bayesian finite-size scaling of the 2D Ising transition.

Near the critical coupling :math:`K_c` an observable of an L×L lattice obeys the scaling form
(Fisher & Barber, PRL 28, 1516 (1972); Landau & Binder, *A Guide to Monte Carlo Simulations*, ch. 4)

.. math::

    U_4 &= g(x)\,+\,c_U L^{-\omega}, \\
    \ln \chi' &= \tfrac{\gamma}{\nu}\ln L + a(x) + c_\chi L^{-\omega}, \qquad \chi' = N\langle m^2\rangle, \\
    \ln\langle|m|\rangle &= -\tfrac{\beta}{\nu}\ln L + b(x) + c_m L^{-\omega}, \qquad x = (K - K_c)\,L^{1/\nu},

with smooth scaling functions g, a, b (polynomials of degree ``degree`` here) and one correction-to-scaling
amplitude per observable (ω fixed; the 2D Ising χ′ has an analytic background, relative size L^{-7/4}).
The negative log likelihood ("energy") of measured values y ± se (MCSEs from the block jackknife) is

.. math::

    E(\theta) = \tfrac12 \sum_{\text{obs}} \Big(\frac{y - f_\theta(L, K)}{\mathrm{se}}\Big)^2 + \text{const},

with U₄ in its own units and χ′, ⟨|m|⟩ on the log scale (se/y). The three observables at one (L, K) come
from the same draws and are treated as independent (their correlation is positive: the posterior sd is
somewhat optimistic). Priors: uniform on the K range of the data for K_c, ν ∈ U(0.5, 2), γ/ν ∈ U(0.5, 3),
β/ν ∈ U(0, 0.5), N(0, 10) for polynomial and correction coefficients.

Exact (Onsager 1944; Yang 1952): :math:`K_c = \tfrac12\ln(1+\sqrt2) = 0.4406868`, ν = 1, γ/ν = 7/4, β/ν = 1/8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymc as pm

K_CRITICAL = 0.5 * math.log1p(math.sqrt(2.0))
EXACT = {"K_c": K_CRITICAL, "nu": 1.0, "gamma_over_nu": 1.75, "beta_over_nu": 0.125}
PARAMETERS = tuple(EXACT)
OBSERVABLES = ("binder", "log_chi_prime", "log_abs_m")


@dataclass(frozen=True)
class ScalingData:
    """Per simulated (L, K): U₄, χ′ = N⟨m²⟩, ⟨|m|⟩ and their standard errors."""

    L: np.ndarray
    K: np.ndarray
    binder: np.ndarray
    binder_se: np.ndarray
    chi_prime: np.ndarray
    chi_prime_se: np.ndarray
    abs_m: np.ndarray
    abs_m_se: np.ndarray

    def __post_init__(self):
        n = len(self.L)
        for name, v in vars(self).items():
            if np.shape(v) != (n,) or not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be a finite array of length {n}")
        if len(np.unique(self.L)) < 2:
            raise ValueError(f"L needs at least 2 distinct sizes, got {sorted(set(self.L.tolist()))}")
        if np.any(self.binder_se <= 0) or np.any(self.chi_prime_se <= 0) or np.any(self.abs_m_se <= 0):
            raise ValueError("standard errors must be > 0")

    def targets(self) -> dict:
        """{observable: (y, se)} on the model's scale (logs for χ′ and ⟨|m|⟩)."""
        return {"binder": (self.binder, self.binder_se),
                "log_chi_prime": (np.log(self.chi_prime), self.chi_prime_se / self.chi_prime),
                "log_abs_m": (np.log(self.abs_m), self.abs_m_se / self.abs_m)}


def scaling_prediction(params: dict, L, K, omega: float, degree: int):
    """{observable: prediction} of the scaling form; ``params`` (numbers or PyMC variables) holds K_c, nu,
    gamma_over_nu, beta_over_nu and per observable ``coef_<obs>`` (``degree`` + 1 polynomial coefficients,
    lowest order first) and ``corr_<obs>``."""
    x = (K - params["K_c"]) * L ** (1.0 / params["nu"])
    lead = {"binder": 0.0, "log_chi_prime": params["gamma_over_nu"] * np.log(L),
            "log_abs_m": -params["beta_over_nu"] * np.log(L)}
    out = {}
    for obs in OBSERVABLES:
        coef = params[f"coef_{obs}"]
        poly = sum(coef[d] * x ** d for d in range(degree + 1))
        out[obs] = lead[obs] + poly + params[f"corr_{obs}"] * L ** (-omega)
    return out


def log_likelihood(params: dict, data: ScalingData, omega: float, degree: int) -> float:
    """Gaussian log likelihood of the data under the scaling form (numpy; the model's −energy)."""
    pred = scaling_prediction(params, data.L.astype(float), data.K, omega, degree)
    total = 0.0
    for obs, (y, se) in data.targets().items():
        total += float(np.sum(-0.5 * ((y - pred[obs]) / se) ** 2 - np.log(se) - 0.5 * math.log(2 * math.pi)))
    return total


def fss_model(data: ScalingData, *, degree: int = 3, omega: float = 1.75) -> pm.Model:
    """The PyMC model of the module docstring."""
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 6:
        raise ValueError(f"degree must be an integer in [1, 6], got {degree!r}")
    if not 0.1 <= omega <= 5:
        raise ValueError(f"omega must be in [0.1, 5], got {omega!r}")
    L = data.L.astype(float)
    coords = {"power": np.arange(degree + 1), "point": np.arange(len(L))}
    with pm.Model(coords=coords) as model:
        params = {"K_c": pm.Uniform("K_c", float(data.K.min()), float(data.K.max())),
                  "nu": pm.Uniform("nu", 0.5, 2.0),
                  "gamma_over_nu": pm.Uniform("gamma_over_nu", 0.5, 3.0),
                  "beta_over_nu": pm.Uniform("beta_over_nu", 0.0, 0.5)}
        for obs in OBSERVABLES:
            params[f"coef_{obs}"] = pm.Normal(f"coef_{obs}", 0.0, 10.0, dims="power")
            params[f"corr_{obs}"] = pm.Normal(f"corr_{obs}", 0.0, 10.0)
        pred = scaling_prediction(params, L, data.K, omega, degree)
        for obs, (y, se) in data.targets().items():
            pm.Normal(f"y_{obs}", mu=pred[obs], sigma=se, observed=y, dims="point")
    return model


def synthetic_data(params: dict, L, K, se: dict, omega: float, degree: int,
                   rng: np.random.Generator) -> ScalingData:
    """Data drawn from the scaling form at ``params`` with Gaussian noise of sd ``se[obs]`` (on the model's
    scale; χ′ and ⟨|m|⟩ returned with se = value × log-scale sd)."""
    L = np.asarray(L, dtype=float)
    K = np.asarray(K, dtype=float)
    pred = scaling_prediction(params, L, K, omega, degree)
    noisy = {o: pred[o] + se[o] * rng.standard_normal(len(L)) for o in OBSERVABLES}
    chi, m = np.exp(noisy["log_chi_prime"]), np.exp(noisy["log_abs_m"])
    ones = np.ones(len(L))
    return ScalingData(L, K, noisy["binder"], se["binder"] * ones, chi, se["log_chi_prime"] * chi,
                       m, se["log_abs_m"] * m)
