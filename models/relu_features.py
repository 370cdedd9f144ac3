r"""Double descent with random ReLU features of a d-dimensional input (the Mei–Montanari setting).

Data: :math:`x \sim N(0, I_d)`, a linear teacher :math:`y = \beta^\top x + \varepsilon`, ‖β‖ = r,
ε ~ N(0, σ²). Features: p rows :math:`w_j` uniform on the unit sphere :math:`S^{d-1}` (so
:math:`w_j^\top x \sim N(0, 1)`), :math:`\phi_j(x) = \mathrm{relu}(w_j^\top x) - \mu_0`, centred by the
known mean μ₀ = E relu(G) = 1/√(2π). Fit: minimum-norm least squares :math:`\hat\theta = \Phi^+ y` on n
samples; γ = p/n, δ = d/n.

Excess test risk given (W, θ̂), exact (no test set): with the arc-cosine kernel of degree 1 (Cho & Saul 2009)
:math:`E[\mathrm{relu}(u)\mathrm{relu}(v)] = \frac{1}{2\pi}(\sin\vartheta + (\pi-\vartheta)\cos\vartheta)`,
cos ϑ = w_i·w_j, and Stein's lemma :math:`E[\phi(x)\,x^\top] = \mu_1 W`,

.. math:: R = E_x\big(\hat\theta^\top\phi(x) - \beta^\top x\big)^2
          = \hat\theta^\top K \hat\theta - 2\mu_1\,\hat\theta^\top W\beta + r^2, \qquad K_{ij} = \kappa(w_i\!\cdot\!w_j) - \mu_0^2 .

Theory by Gaussian equivalence (Mei & Montanari 2019, arXiv:1908.05355; Goldt et al. 2020): in the
proportional limit the features act as :math:`\phi = \mu_1 W x + \mu_* z`, z ~ N(0, I_p) independent, with
:math:`\mu_1 = E[G\,\mathrm{relu}(G)] = 1/2` and :math:`\mu_*^2 = E\,\mathrm{relu}^2 - \mu_0^2 - \mu_1^2 = \tfrac12 - \tfrac1{2\pi} - \tfrac14`
(:func:`gaussian_equivalent_coefficients` checks them by quadrature). That is a linear model with feature
covariance :math:`\Sigma = \mu_1^2 WW^\top + \mu_*^2 I`, best linear coefficient θ* = Σ⁻¹μ₁Wβ and
effective noise :math:`\sigma_{\rm eff}^2 = \sigma^2 + r^2 - \mu_1^2\beta^\top W^\top\Sigma^{-1}W\beta`.
WWᵀ has the Marchenko–Pastur spectrum of ratio c = p/d (:math:`\rho_c`; mass 1 − 1/c at 0 when c > 1),
and Wβ spreads r² evenly over its d directions, so H (the spectrum of Σ) and the θ*-weighted measure G are

.. math:: dH = (1-\tfrac1c)_+\,\delta_{\mu_*^2} + \rho_c(s)\,ds \ \text{at}\ \lambda = \mu_*^2 + \mu_1^2 s, \qquad
          dG = c\,r^2\,\frac{\mu_1^2 s}{\lambda^2}\,\rho_c(s)\,ds .

The min-norm risk of anisotropic Gaussian features (Hastie, Montanari, Rosset & Tibshirani 2019, Thm 3):
γ < 1: :math:`\sigma_{\rm eff}^2\gamma/(1-\gamma)`; γ > 1: with c₀ ≥ 0 solving
:math:`1 - 1/\gamma = \int dH/(1 + c_0\gamma\lambda)`,

.. math:: B = \Big(1 + \gamma c_0\frac{\int\lambda^2(1+c_0\gamma\lambda)^{-2}dH}{\int\lambda(1+c_0\gamma\lambda)^{-2}dH}\Big)
          \int\frac{\lambda\,dG}{(1+c_0\gamma\lambda)^2}, \qquad
          V = \sigma_{\rm eff}^2\,\gamma c_0\,\frac{\int\lambda^2(1+c_0\gamma\lambda)^{-2}dH}{\int\lambda(1+c_0\gamma\lambda)^{-2}dH};

and R = B + V + (σ²_eff − σ²) (the last term: what no linear function of the features can fit). The
integrals over ρ_c use Gauss–Legendre in the angle of s = (a+b)/2 + (b−a)/2 cos ϑ (smooth integrand).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, stats

MU0 = 1.0 / math.sqrt(2.0 * math.pi)
MU1 = 0.5
MU_STAR2 = 0.5 - 1.0 / (2.0 * math.pi) - 0.25
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(400)


def gaussian_equivalent_coefficients(activation=lambda g: np.maximum(g, 0.0)) -> dict:
    """μ₀ = E σ(G), μ₁ = E[G σ(G)], μ*² = E σ(G)² − μ₀² − μ₁² for G ~ N(0, 1), by quadrature."""
    def moment(f):
        return integrate.quad(lambda g: f(g) * stats.norm.pdf(g), -np.inf, np.inf, epsabs=1e-13, limit=200)[0]
    mu0, mu1 = moment(activation), moment(lambda g: g * activation(g))
    return {"mu0": mu0, "mu1": mu1, "mu_star2": moment(lambda g: activation(g) ** 2) - mu0**2 - mu1**2}


def _check(name: str, value, *, minimum: float = 0.0, strict: bool = True) -> float:
    v = float(value)
    if not (math.isfinite(v) and (v > minimum if strict else v >= minimum)):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum}, got {value!r}")
    return v


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def sample_relu_problem(n: int, p: int, d: int, r: float, sigma: float, rng: np.random.Generator) -> dict:
    """One data set and feature draw: W (p, d) rows on S^{d−1}, β on the sphere of radius r, X (n, d),
    y = Xβ + σε, and the centred ReLU features Φ = relu(X Wᵀ) − μ₀ (n, p)."""
    n, p, d = _count("n", n, 2), _count("p", p, 1), _count("d", d, 1)
    r, sigma = _check("r", r, strict=False), _check("sigma", sigma, strict=False)
    W = rng.standard_normal((p, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    beta = rng.standard_normal(d)
    beta *= r / np.linalg.norm(beta)
    X = rng.standard_normal((n, d))
    y = X @ beta + sigma * rng.standard_normal(n)
    return {"W": W, "beta": beta, "X": X, "y": y, "features": np.maximum(X @ W.T, 0.0) - MU0}


def relu_kernel(W: np.ndarray) -> np.ndarray:
    """K_ij = E[φ_i φ_j] of the centred ReLU features: the degree-1 arc-cosine kernel minus μ₀²."""
    cos = np.clip(W @ W.T, -1.0, 1.0)
    angle = np.arccos(cos)
    return (np.sqrt(1.0 - cos * cos) + (np.pi - angle) * cos) / (2.0 * np.pi) - MU0**2


def relu_excess_risk(theta: np.ndarray, W: np.ndarray, beta: np.ndarray) -> float:
    """E_x(θᵀφ(x) − βᵀx)² exactly (module docstring)."""
    return float(theta @ relu_kernel(W) @ theta - 2.0 * MU1 * theta @ (W @ beta) + beta @ beta)


def relu_minnorm_risk(problem: dict) -> float:
    """The excess risk of θ̂ = Φ⁺y on one problem from :func:`sample_relu_problem`."""
    theta = np.linalg.lstsq(problem["features"], problem["y"], rcond=None)[0]
    return relu_excess_risk(theta, problem["W"], problem["beta"])


def spectral_measures(c: float, r2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(λ, dH, dG) on quadrature nodes of Σ's spectrum (module docstring) and the fitted signal r² − misfit."""
    lo, hi = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    angle = 0.5 * np.pi * (_NODES + 1.0)
    s = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(angle)
    # ρ_c(s) ds = sqrt((hi − s)(s − lo)) / (2π c s) ds,  ds = (hi − lo)/2 sin ϑ dϑ,  dϑ = π/2 dnode
    mass = (0.5 * (hi - lo) * np.sin(angle)) ** 2 / (2.0 * np.pi * c * s) * (0.5 * np.pi) * _WEIGHTS
    lam = MU_STAR2 + MU1**2 * s
    dg = c * r2 * MU1**2 * s / lam**2 * mass
    fitted = c * r2 * float(np.sum(MU1**2 * s / lam * mass))
    atom = max(0.0, 1.0 - 1.0 / c)
    return np.append(lam, MU_STAR2), np.append(mass, atom), np.append(dg, 0.0), fitted


def relu_minnorm_risk_theory(gamma, delta: float, r2: float = 1.0, sigma2: float = 0.25) -> np.ndarray:
    """Asymptotic excess risk of min-norm least squares on centred random ReLU features at γ = p/n, δ = d/n
    (Gaussian equivalence + HMRT Thm 3; module docstring). Infinite at γ = 1."""
    g = np.atleast_1d(np.asarray(gamma, dtype=float))
    if not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gamma = p/n must be finite and > 0, got {gamma!r}")
    delta, r2, sigma2 = _check("delta", delta), _check("r2", r2, strict=False), _check("sigma2", sigma2, strict=False)
    out = np.empty(g.shape)
    for i, ga in enumerate(g):
        lam, dh, dg, fitted = spectral_measures(ga / delta, r2)
        noise = sigma2 + r2 - fitted
        if ga < 1:
            out[i] = noise * ga / (1 - ga)
        elif ga == 1:
            out[i] = np.inf
        else:
            c0 = optimize.brentq(lambda c: np.sum(dh / (1 + c * ga * lam)) - (1 - 1 / ga), 0.0, 1e3 / MU_STAR2,
                                 xtol=1e-15, rtol=1e-14)
            den = (1 + c0 * ga * lam) ** 2
            ratio = np.sum(lam**2 * dh / den) / np.sum(lam * dh / den)
            out[i] = (1 + ga * c0 * ratio) * np.sum(lam * dg / den) + noise * ga * c0 * ratio
        out[i] += noise - sigma2
    return out if np.ndim(gamma) else out[0]
