r"""Diffusion models on Gaussian-mixture data: the forward marginals p_t, their density, score and KL, exactly.

Data: an isotropic Gaussian mixture :math:`p_0(x) = \sum_k w_k\,N(x;\,m_k,\,s_k^2 I_d)` (built-ins: a
two-component 1-D mixture, a ring of 8 Gaussians and a 24-component mixture shaped as two moons in 2-D;
a CSV of points becomes the Gaussian kernel density estimate with Scott's bandwidth, i.e. a mixture of n equal components). Under the VP-SDE
(``physml.inference.diffusion``) :math:`x_t = \alpha(t) x_0 + \sigma(t)\,\varepsilon`, so the forward marginal
is again a Gaussian mixture in closed form:

.. math:: p_t(x) = \sum_k w_k\, N\big(x;\ \alpha m_k,\ v_k I\big), \qquad v_k(t) = \alpha^2 s_k^2 + \sigma^2.

With responsibilities :math:`r_k(x) \propto w_k N(x; \alpha m_k, v_k I)` and :math:`u_k = -(x-\alpha m_k)/v_k`,

.. math:: \nabla\ln p_t = \sum_k r_k u_k = \bar u, \qquad
          \nabla\!\cdot\nabla\ln p_t = \sum_k r_k\big(|u_k|^2 - d/v_k\big) - |\bar u|^2 .

KL to the stationary law :math:`\varphi = N(0, I)` and its rate (the entropy production of the relaxation;
de Bruijn's identity for the OU semigroup, e.g. Jordan, Kinderlehrer & Otto 1998):

.. math:: \mathrm{KL}(p_t\|\varphi) = E_{p_t}[\ln p_t - \ln\varphi], \qquad
          -\frac{d}{dt}\mathrm{KL} = \tfrac12\beta(t)\, E_{p_t}\big|\nabla\ln p_t + x\big|^2 \;\ge 0 .

Neither has a closed form for a mixture: in 1-D they are computed by quadrature (kind ``quadrature``: the
trapezoid rule on a fine grid, exponentially accurate here, with its error from halving the grid), in d ≥ 2 by Monte Carlo with exact samples of p_t (kind
``monte_carlo``, with its standard error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from ..inference.diffusion import LinearBetaSchedule, check_time

#: stored float64 values per chunk of points × components × dimensions
_CHUNK_VALUES = 4_000_000


@dataclass(frozen=True)
class GaussianMixture:
    """Σ_k w_k N(m_k, s_k² I): ``weights`` (K,), ``means`` (K, d), ``variances`` (K,) (all validated)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    source: str = "custom"

    def __post_init__(self):
        w, m, v = (np.asarray(a, dtype=float) for a in (self.weights, self.means, self.variances))
        if m.ndim != 2 or w.shape != (m.shape[0],) or v.shape != (m.shape[0],) or m.shape[0] < 1:
            raise ValueError(f"means must be (K, d) with weights and variances (K,), got {m.shape}, {w.shape}, {v.shape}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
            raise ValueError("mixture weights, means and variances must be finite")
        if np.any(w <= 0) or abs(w.sum() - 1) > 1e-9 or np.any(v <= 0):
            raise ValueError("mixture weights must be > 0 and sum to 1, variances > 0")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "variances", v)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def second_moment(self) -> float:
        """E|x|² = Σ_k w_k (|m_k|² + d s_k²)."""
        return float(self.weights @ (np.sum(self.means**2, axis=1) + self.dim * self.variances))

    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(self.weights.size, size=int(n), p=self.weights)
        return self.means[k] + np.sqrt(self.variances[k])[:, None] * rng.standard_normal((int(n), self.dim))

    def marginal(self, axis: int) -> GaussianMixture:
        """The 1-D mixture of coordinate ``axis`` (isotropic components project to 1-D Gaussians)."""
        return GaussianMixture(self.weights, self.means[:, [axis]], self.variances, f"{self.source}, x{axis}")

    def cdf(self, x) -> np.ndarray:
        """The CDF of a 1-D mixture at points ``x`` (any shape)."""
        if self.dim != 1:
            raise ValueError(f"cdf needs a 1-D mixture, got d = {self.dim}")
        x = np.asarray(x, dtype=float)[..., None]
        return np.sum(self.weights * stats.norm.cdf(x, self.means[:, 0], np.sqrt(self.variances)), axis=-1)

    def _terms(self, x: np.ndarray):
        """Per-component ln w_k N(x; m_k, s_k²I) and u_k = −(x − m_k)/s_k², for x (n, d)."""
        diff = x[:, None, :] - self.means[None, :, :]
        log_terms = (np.log(self.weights) - 0.5 * self.dim * np.log(2 * np.pi * self.variances)
                     - 0.5 * np.sum(diff**2, axis=2) / self.variances)
        return log_terms, -diff / self.variances[None, :, None]

    def _per_chunk(self, x, stat):
        """``stat(log_terms, u, r)`` over chunks of the points (r: responsibilities), concatenated."""
        x = _check_points(x, self.dim)
        size = max(1, _CHUNK_VALUES // (self.weights.size * self.dim))
        out = []
        for i in range(0, x.shape[0], size):
            log_terms, u = self._terms(x[i:i + size])
            out.append(stat(log_terms, u, special.softmax(log_terms, axis=1)))
        return np.concatenate(out)

    def log_density(self, x) -> np.ndarray:
        return self._per_chunk(x, lambda log_terms, u, r: special.logsumexp(log_terms, axis=1))

    def score(self, x) -> np.ndarray:
        """∇ ln p(x) = Σ_k r_k u_k, shape (n, d)."""
        return self._per_chunk(x, lambda log_terms, u, r: np.einsum("nk,nkd->nd", r, u))

    def score_divergence(self, x) -> np.ndarray:
        """∇·∇ ln p(x) = Σ r_k(|u_k|² − d/s_k²) − |ū|², shape (n,)."""
        def stat(log_terms, u, r):
            ubar = np.einsum("nk,nkd->nd", r, u)
            return np.sum(r * (np.sum(u**2, axis=2) - self.dim / self.variances), axis=1) - np.sum(ubar**2, axis=1)
        return self._per_chunk(x, stat)


def _check_points(x, dim: int) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1 and dim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"x must be shaped (n, {dim}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (it holds NaN or inf)")
    return x


def bimodal_1d() -> GaussianMixture:
    """Built-in 1-D data: 0.3 N(−2, 0.35²) + 0.7 N(1.5, 0.6²)."""
    return GaussianMixture(np.array([0.3, 0.7]), np.array([[-2.0], [1.5]]), np.array([0.35, 0.6]) ** 2, "bimodal_1d")


def ring8(radius: float = 2.0, sd: float = 0.25) -> GaussianMixture:
    """Built-in 2-D data: 8 equal Gaussians N(m_k, sd² I) on a circle of ``radius``, m_k at angles 2πk/8."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    return GaussianMixture(np.full(8, 1 / 8), means, np.full(8, sd**2), "ring8")


def two_moons(per_moon: int = 12, sd: float = 0.12) -> GaussianMixture:
    """Built-in 2-D data: a Gaussian-mixture approximation of two moons (the shape of scikit-learn's
    ``make_moons``): ``per_moon`` equal Gaussians N(m_k, sd² I) with means evenly spaced along each half
    circle, the upper (cos θ, sin θ) and the lower (1 − cos θ, ½ − sin θ), θ ∈ [0, π], centred and scaled by
    1.5. Not a kernel density estimate: a mixture, so p_t, the score and −ln p stay exact."""
    theta = np.linspace(0, np.pi, per_moon)
    upper = np.column_stack([np.cos(theta), np.sin(theta)])
    lower = np.column_stack([1 - np.cos(theta), 0.5 - np.sin(theta)])
    means = np.concatenate([upper, lower])
    means = 1.5 * (means - means.mean(axis=0))
    return GaussianMixture(np.full(2 * per_moon, 1 / (2 * per_moon)), means, np.full(2 * per_moon, sd**2),
                           "two_moons")


BUILTINS = {"bimodal_1d": bimodal_1d, "ring8": ring8, "two_moons": two_moons}


def mixture_from_points(points, source: str = "points") -> GaussianMixture:
    """The Gaussian KDE of ``points`` (n ≥ 2, finite) as a mixture: equal weights at the points, isotropic
    bandwidth² = (Scott's factor n^(−1/(d+4)))² × the mean per-coordinate variance of the points."""
    x = np.asarray(points, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"data must hold at least 2 points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("data must be finite (it holds NaN or inf)")
    n, d = x.shape
    spread = float(np.mean(np.var(x, axis=0, ddof=1)))
    if spread <= 0:
        raise ValueError("data points must not all coincide (zero variance)")
    bandwidth2 = n ** (-2 / (d + 4)) * spread
    return GaussianMixture(np.full(n, 1 / n), x, np.full(n, bandwidth2), source)


def load_points(path: str) -> np.ndarray:
    """Points from a CSV file (one row per point, numeric columns; an optional header row)."""
    import pandas as pd

    frame = pd.read_csv(path, header=None)
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    if len(numeric) and numeric.iloc[0].isna().all():  # a header row
        numeric = numeric.iloc[1:]
    x = numeric.to_numpy(dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"--data {path}: every value must be a finite number (found text, NaN or inf)")
    return x


@dataclass(frozen=True)
class ForwardProcess:
    """The data mixture under the VP-SDE: closed-form marginals p_t and their score (a ``Score`` callable)."""

    data: GaussianMixture
    schedule: LinearBetaSchedule

    def at(self, t: float) -> GaussianMixture:
        """p_t: means α m_k, variances α² s_k² + σ²."""
        t = float(check_time(t))
        a, s2 = float(self.schedule.alpha(t)), float(self.schedule.sigma2(t))
        return GaussianMixture(self.data.weights, a * self.data.means, a * a * self.data.variances + s2,
                               f"{self.data.source} at t={t:g}")

    def log_density(self, x, t: float) -> np.ndarray:
        return self.at(t).log_density(x)

    def score(self, x, t: float) -> np.ndarray:
        return self.at(t).score(x)

    def divergence(self, x, t: float) -> np.ndarray:
        return self.at(t).score_divergence(x)

    def kl_to_prior(self, t: float, *, n_mc: int = 20000, rng: np.random.Generator | None = None) -> dict:
        """KL(p_t ‖ N(0, I)) in nats: ``{"value", "error", "kind"}`` (quadrature in 1-D, Monte Carlo otherwise)."""
        p = self.at(t)
        return _expectation(p, lambda x: p.log_density(x) - _std_normal_log_density(x), n_mc, rng)

    def entropy_production(self, t: float, *, n_mc: int = 20000, rng: np.random.Generator | None = None) -> dict:
        """−dKL(p_t‖N(0, I))/dt = ½β(t) E_{p_t}|∇ln p_t + x|² (nats per unit time)."""
        p, b = self.at(t), float(self.schedule.beta(t))
        rec = _expectation(p, lambda x: 0.5 * b * np.sum((p.score(x) + x) ** 2, axis=1), n_mc, rng)
        return rec


def _std_normal_log_density(x) -> np.ndarray:
    return np.sum(stats.norm.logpdf(x), axis=1)


def _expectation(p: GaussianMixture, f, n_mc: int, rng) -> dict:
    """E_p[f(x)]: in 1-D the trapezoid rule on a uniform grid (spacing ≤ min s_k / 16, ±12 max s_k beyond the
    means; exponentially accurate for smooth, decaying integrands), with error |T(h) − T(2h)|; in d ≥ 2 Monte
    Carlo over exact draws with its standard error."""
    if p.dim == 1:
        sd = np.sqrt(p.variances)
        lo, hi = p.means.min() - 12 * sd.max(), p.means.max() + 12 * sd.max()
        n = 2 * int(np.ceil((hi - lo) / (sd.min() / 16) / 2)) + 1
        z = np.linspace(lo, hi, n)[:, None]
        g = np.exp(p.log_density(z)) * f(z)
        fine, coarse = integrate.trapezoid(g, dx=z[1, 0] - z[0, 0]), integrate.trapezoid(g[::2], dx=2 * (z[1, 0] - z[0, 0]))
        return {"value": float(fine), "error": float(abs(fine - coarse)), "kind": "quadrature"}
    rng = rng if rng is not None else np.random.default_rng(0)
    vals = f(p.sample(n_mc, rng))
    return {"value": float(vals.mean()), "error": float(vals.std(ddof=1) / np.sqrt(vals.size)), "kind": "monte_carlo"}
