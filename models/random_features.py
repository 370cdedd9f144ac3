r"""Double descent: least squares with p isotropic Gaussian features and n samples, γ = p/n.

Data: rows :math:`x_i \sim \mathcal N(0, I_p)`, :math:`y_i = x_i^\top\beta + \varepsilon_i`,
:math:`\varepsilon_i \sim \mathcal N(0, \sigma^2)`, :math:`\|\beta\|^2 = r^2`. The (excess) test risk of an
estimate :math:`\hat\beta` on a fresh isotropic input is exact given the fit,

.. math:: R(\hat\beta) = \mathbb E_{x_0}\big[(x_0^\top\hat\beta - x_0^\top\beta)^2\big] = \|\hat\beta - \beta\|^2

(the prediction MSE is R + σ²).

Estimators. Minimum-norm least squares :math:`\hat\beta = X^+ y` (the interpolator for p > n); ridge
:math:`\hat\beta_\lambda = (X^\top X/n + \lambda I)^{-1} X^\top y/n`, whose limit λ → 0 is X⁺y; and the
posterior mean of the conjugate Bayesian model of :mod:`physml.models.regression` with
:math:`V_0 = v_0 I`, :math:`m_0 = 0` (β | σ² ~ N(0, σ² v_0 I), σ² ~ InvGamma(a_0, b_0)), which is ridge with
λ = 1/(n v_0); the prior scale v_0 is chosen by maximising the exact evidence (minimising the free energy
F = −ln p(y)).

Exact asymptotics (n, p → ∞, p/n → γ; Hastie, Montanari, Rosset & Tibshirani, arXiv:1903.08560):

* min-norm (Thm 1): :math:`R = \sigma^2\gamma/(1-\gamma)` for γ < 1, :math:`r^2(1 - 1/\gamma) +
  \sigma^2/(\gamma-1)` for γ > 1 — the interpolation peak at γ = 1;
* ridge (isotropic case; Dobriban & Wager 2018, HMRT §5), with m(z) the Stieltjes transform of the
  Marchenko–Pastur law of ratio γ:
  :math:`R(\lambda) = r^2\lambda^2 m'(-\lambda) + \sigma^2\gamma\,[m(-\lambda) - \lambda m'(-\lambda)]`;
* optimally tuned ridge, λ* = σ²γ/r² (the Bayes posterior mean under β ~ N(0, r²/p I)):
  :math:`R^* = \sigma^2\gamma\, m(-\lambda^*)` — finite at γ = 1, no peak.

Exact at finite n (Gaussian design; inverse-Wishart means E[W⁻¹] = I/(n − p − 1) for W ~ Wishart_p(n, I)):
E R = σ² p/(n − p − 1) for p < n − 1 and r²(1 − n/p) + σ² n/(p − n − 1) for p > n + 1 (infinite between):
the finite-size curves that approach the asymptote as n grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .regression import RegressionData

# ---------------------------------------------------------------------------
# Input checks


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def _gammas(gamma) -> np.ndarray:
    g = np.asarray(gamma, dtype=float)
    if not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gamma = p/n must be finite and > 0, got {gamma!r}")
    return g


# ---------------------------------------------------------------------------
# Marchenko–Pastur Stieltjes transform and the asymptotic risks


def mp_stieltjes(gamma, lam) -> np.ndarray:
    r""":math:`m(-\lambda) = \int d\mu_{MP,\gamma}(s)/(s + \lambda)` for λ > 0, the root of
    γ z m² − (1 − γ − z) m + 1 = 0 at z = −λ that is positive:
    :math:`m = [-(1-\gamma+\lambda) + \sqrt{(1-\gamma+\lambda)^2 + 4\gamma\lambda}]/(2\gamma\lambda)`."""
    g, lam = _gammas(gamma), np.asarray(lam, dtype=float)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError(f"lam must be finite and > 0, got {lam!r}")
    b = 1.0 - g + lam
    disc = np.sqrt(b * b + 4.0 * g * lam)
    # the two algebraically equal forms; the second avoids cancellation when b > 0
    return np.where(b > 0, 2.0 / (b + disc), (disc - b) / (2.0 * g * lam))


def mp_stieltjes_derivative(gamma, lam) -> np.ndarray:
    """m'(z) at z = −λ, from differentiating γ z m² − (1 − γ − z) m + 1 = 0:
    m' = (γ m² + m) / ((1 − γ − z) − 2γ z m)."""
    g, lam = _gammas(gamma), np.asarray(lam, dtype=float)
    m = mp_stieltjes(g, lam)
    z = -lam
    return (g * m * m + m) / ((1.0 - g - z) - 2.0 * g * z * m)


def minnorm_risk(gamma, r2: float = 1.0, sigma2: float = 1.0) -> np.ndarray:
    """HMRT Thm 1: asymptotic excess risk of min-norm least squares (inf at γ = 1)."""
    g = _gammas(gamma)
    r2, sigma2 = _positive("r2", r2, allow_zero=True), _positive("sigma2", sigma2, allow_zero=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        under = sigma2 * g / (1.0 - g)
        over = r2 * (1.0 - 1.0 / g) + sigma2 / (g - 1.0)
    return np.where(g < 1, under, np.where(g > 1, over, np.inf))


def ridge_risk(gamma, lam, r2: float = 1.0, sigma2: float = 1.0) -> np.ndarray:
    """Asymptotic excess risk of ridge at penalty λ > 0 (isotropic features; see the module docstring)."""
    r2, sigma2 = _positive("r2", r2, allow_zero=True), _positive("sigma2", sigma2, allow_zero=True)
    g, lam = _gammas(gamma), np.asarray(lam, dtype=float)
    m, dm = mp_stieltjes(g, lam), mp_stieltjes_derivative(g, lam)
    return r2 * lam**2 * dm + sigma2 * g * (m - lam * dm)


def optimal_ridge_lambda(gamma, r2: float = 1.0, sigma2: float = 1.0) -> np.ndarray:
    """λ* = σ²γ/r², the penalty of the Bayes posterior mean under β ~ N(0, r²/p I)."""
    return _positive("sigma2", sigma2) * _gammas(gamma) / _positive("r2", r2)


def optimal_ridge_risk(gamma, r2: float = 1.0, sigma2: float = 1.0) -> np.ndarray:
    """R* = σ²γ m(−λ*): the optimally tuned ridge (= Bayes) risk, with no peak at γ = 1."""
    g = _gammas(gamma)
    return float(sigma2) * g * mp_stieltjes(g, optimal_ridge_lambda(g, r2, sigma2))


def finite_n_minnorm_risk(n: int, p: int, r2: float = 1.0, sigma2: float = 1.0) -> float:
    """Exact E R of min-norm least squares at finite n, p (Gaussian design; inf for |p − n| ≤ 1)."""
    n, p = _size("n", n), _size("p", p, minimum=1)
    r2, sigma2 = _positive("r2", r2, allow_zero=True), _positive("sigma2", sigma2, allow_zero=True)
    if p < n - 1:
        return sigma2 * p / (n - p - 1)
    if p > n + 1:
        return r2 * (1.0 - n / p) + sigma2 * n / (p - n - 1)
    return math.inf


def heavy_tailed(n: int, p: int) -> bool:
    """True where the min-norm risk has no finite variance over data sets (|p − n| ≤ 3: the inverse
    Wishart's second moments need n − p − 3 > 0), so a Monte Carlo se of its mean is not a promise."""
    return abs(int(p) - int(n)) <= 3


def _size(name: str, value, minimum: int = 2) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# Data and fits


def sample_data(n: int, p: int, r: float, sigma: float, rng: np.random.Generator) -> tuple[RegressionData, np.ndarray]:
    """One data set: X (n × p) iid N(0, 1), β uniform on the sphere of radius r, y = Xβ + σ ε."""
    n, p = _size("n", n), _size("p", p, minimum=1)
    r, sigma = _positive("r", r, allow_zero=True), _positive("sigma", sigma, allow_zero=True)
    beta = rng.standard_normal(p)
    beta *= r / np.linalg.norm(beta)
    X = rng.standard_normal((n, p))
    y = X @ beta + sigma * rng.standard_normal(n)
    return RegressionData(X, y, tuple(f"x{j + 1}" for j in range(p)), "y", f"isotropic (n={n}, p={p})"), beta


def excess_risk(beta_hat: np.ndarray, beta: np.ndarray) -> float:
    """‖β̂ − β‖², the excess test risk on an isotropic input."""
    return float(np.sum((np.asarray(beta_hat) - np.asarray(beta)) ** 2))


def minnorm_fit(data: RegressionData) -> np.ndarray:
    """β̂ = X⁺ y, the minimum-norm least-squares solution (Moore–Penrose pseudo-inverse)."""
    return np.linalg.pinv(data.X) @ data.y


@dataclass(frozen=True)
class SpectralDesign:
    r"""Eigen-decomposition of the smaller Gram matrix: every ridge fit and evidence value in O(min(n, p)).

    With the thin SVD X = U diag(s) Vᵀ and c = Uᵀy, ridge is
    :math:`\hat\beta_\lambda = V\,\mathrm{diag}(s/(s^2 + n\lambda))\,c`; with n λ = 1/v_0 it is the conjugate
    posterior mean :math:`\mu_n = (X^\top X + I/v_0)^{-1} X^\top y`. Stored as
    :math:`\hat\beta_\lambda = M\,\mathrm{diag}(1/(s^2 + n\lambda))\,t` — for p ≥ n from XXᵀ = U s² Uᵀ
    (M = XᵀU, t = c), for p < n from XᵀX = V s² Vᵀ (M = V, t = VᵀXᵀy = s c) — and
    :math:`w_i = s_i^2 c_i^2`, the squared projections the evidence needs.
    """

    s2: np.ndarray
    M: np.ndarray
    t: np.ndarray
    w: np.ndarray
    yy: float
    n: int

    @classmethod
    def of(cls, data: RegressionData) -> SpectralDesign:
        X, y = data.X, data.y
        if data.d >= data.n:
            s2, U = np.linalg.eigh(X @ X.T)
            c = U.T @ y
            return cls(np.clip(s2, 0.0, None), X.T @ U, c, np.clip(s2, 0.0, None) * c**2, float(y @ y), data.n)
        s2, V = np.linalg.eigh(X.T @ X)
        t = V.T @ (X.T @ y)
        return cls(np.clip(s2, 0.0, None), V, t, t**2, float(y @ y), data.n)

    def ridge(self, lam: float) -> np.ndarray:
        """Ridge estimate at λ ≥ 0 (λ = 0: the min-norm solution, zero eigenvalues dropped)."""
        lam = _positive("lam", lam, allow_zero=True)
        tol = self.s2.max() * max(self.M.shape) * np.finfo(float).eps if self.s2.size else 0.0
        keep = self.s2 > tol
        shrink = np.zeros_like(self.s2)
        shrink[keep] = 1.0 / (self.s2[keep] + self.n * lam)
        return self.M @ (shrink * self.t)

    def log_evidence(self, v0: float, a0: float, b0: float) -> float:
        r"""Exact ln p(y) of the conjugate model with V_0 = v_0 I, m_0 = 0: y is multivariate t with
        ν = 2a_0 and shape S = (b_0/a_0)(I + v_0 X Xᵀ), so with the eigenvalues s² of XXᵀ,

        .. math:: \ln p(y) = \ln\Gamma(\tfrac{\nu+n}2) - \ln\Gamma(\tfrac\nu2) - \tfrac n2\ln(\nu\pi b_0/a_0)
                  - \tfrac12\sum_i\ln(1 + v_0 s_i^2) - \tfrac{\nu+n}2\ln\Big(1 + \frac{Q}{\nu b_0/a_0}\Big),
                  \quad Q = y^\top y - \sum_i \frac{v_0 w_i}{1 + v_0 s_i^2}.
        """
        v0, a0, b0 = _positive("v0", v0), _positive("a0", a0), _positive("b0", b0)
        return float(self.log_evidence_expression(v0, a0, b0, np))

    def log_evidence_expression(self, v0, a0: float, b0: float, xp):
        """The formula of :meth:`log_evidence` in the array module ``xp`` (numpy, or pytensor.tensor for a
        symbolic v0 in :func:`hierarchical_scale_model`)."""
        nu, scale, n = 2.0 * a0, b0 / a0, self.n
        ev = v0 * self.s2
        quad = self.yy - xp.sum(v0 * self.w / (1.0 + ev))
        const = (special.gammaln(0.5 * (nu + n)) - special.gammaln(0.5 * nu) - 0.5 * n * math.log(nu * math.pi * scale))
        return const - 0.5 * xp.sum(xp.log1p(ev)) - 0.5 * (nu + n) * xp.log1p(quad / (nu * scale))


def evidence_optimal_scale(design: SpectralDesign, a0: float = 2.0, b0: float = 2.0,
                           bounds: tuple[float, float] = (1e-8, 1e6)) -> tuple[float, float]:
    """(v_0, ln p(y)) maximising the exact evidence over ln v_0 in ``bounds`` (a bracketing grid of 81
    points, then Brent's method on the best bracket). A maximiser on a bound is returned as is."""
    lo, hi = (math.log(_positive("bounds", b)) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be increasing, got {bounds!r}")
    grid = np.linspace(lo, hi, 81)
    values = np.array([design.log_evidence(math.exp(u), a0, b0) for u in grid])
    k = int(np.argmax(values))
    if k in (0, len(grid) - 1):
        return math.exp(grid[k]), float(values[k])
    res = optimize.minimize_scalar(lambda u: -design.log_evidence(math.exp(u), a0, b0),
                                   bounds=(grid[k - 1], grid[k + 1]), method="bounded", options={"xatol": 1e-9})
    best = max((float(-res.fun), float(res.x)), (float(values[k]), float(grid[k])))
    return math.exp(best[1]), best[0]


def hierarchical_scale_model(design: SpectralDesign, a0: float = 2.0, b0: float = 2.0, log_v0_sd: float = 3.0):
    """The hierarchical prior ln v_0 ~ N(0, log_v0_sd²) over the prior scale, with β and σ² integrated out
    exactly: a PyMC model of the one parameter ``log_v0`` whose likelihood is the exact evidence p(y | v_0).
    Since E[β | y, v_0, σ²] is the ridge estimate at λ = 1/(n v_0), the hierarchical posterior mean of β is
    the average of those ridge estimates over posterior draws of v_0 (:func:`hierarchical_posterior_mean`)."""
    import pymc as pm
    import pytensor.tensor as pt

    a0, b0, sd = _positive("a0", a0), _positive("b0", b0), _positive("log_v0_sd", log_v0_sd)
    with pm.Model() as model:
        log_v0 = pm.Normal("log_v0", mu=0.0, sigma=sd)
        pm.Potential("log_evidence", design.log_evidence_expression(pt.exp(log_v0), a0, b0, pt))
    return model


def log_v0_posterior_mean(design: SpectralDesign, a0: float = 2.0, b0: float = 2.0, log_v0_sd: float = 3.0) -> float:
    """Exact E[ln v_0 | y] under :func:`hierarchical_scale_model`, by 1-D quadrature (the reference for NUTS)."""
    from scipy import integrate, stats

    sd = _positive("log_v0_sd", log_v0_sd)
    prior = stats.norm(0.0, sd)
    u_hat = math.log(evidence_optimal_scale(design, a0, b0, bounds=(1e-12, 1e8))[0])
    peak = design.log_evidence(math.exp(u_hat), a0, b0) + prior.logpdf(u_hat)
    dens = lambda u: math.exp(design.log_evidence(math.exp(u), a0, b0) + prior.logpdf(u) - peak)  # noqa: E731
    lo, hi = -10 * sd - 30, 10 * sd + 30
    z, _ = integrate.quad(dens, lo, hi, points=[u_hat], limit=400, epsrel=1e-10)
    m, _ = integrate.quad(lambda u: u * dens(u), lo, hi, points=[u_hat], limit=400, epsrel=1e-10)
    return m / z


def hierarchical_posterior_mean(design: SpectralDesign, log_v0_draws) -> np.ndarray:
    """E[β | y] = mean over posterior draws of v_0 of the ridge estimate at λ = 1/(n v_0)."""
    draws = np.asarray(log_v0_draws, dtype=float).ravel()
    return np.mean([design.ridge(1.0 / (design.n * math.exp(u))) for u in draws], axis=0)
