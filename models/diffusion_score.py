r"""Learning the score the Bayesian way: denoising score matching with a score linear in features is
Bayesian linear regression.

Score model: :math:`s_w(x, t)_i = \sum_k \psi_k(x, t)\, W_{ki}` (``i`` the output coordinate), with basis
functions :math:`\psi = \phi\,T`: the features :math:`\phi(x, t) = [x,\ \sqrt{2/F}\cos(\omega_j\!\cdot\!x +
\nu_j t + b_j)]` (F random Fourier features; ω_j ~ N(0, ℓ_j⁻² I) with length scales ℓ_j log-uniform in
[0.25, 2.5], ν_j ~ N(0, 3²), b_j ~ U(0, 2π); Rahimi & Recht 2007) and a fixed whitening T (below).

Denoising score matching (Vincent 2011) with the usual weighting λ(t) = σ_t²: for x_0 ~ data, t ~ U(0, 1],
ε ~ N(0, I), x_t = α_t x_0 + σ_t ε,

.. math:: \mathcal L(w) = E\,\big|\sigma_t\, s_w(x_t, t) + \varepsilon\big|^2
          = E\,\big|X w - y\big|^2, \qquad X_{(n,i),(k,i')} = \sigma_{t_n}\psi_k(x_{t_n}, t_n)\,\delta_{ii'},
          \quad y_{(n,i)} = -\varepsilon_{n,i},

a least-squares problem with N·d rows and K·d weights (one block of K weights per output coordinate).
Its minimiser is unbiased for the best score in the span: E[ε | x_t] = −σ_t ∇ln p_t(x_t).

**The likelihood, honestly.** A Gaussian likelihood y ~ N(Xw, τ² I) is put on the DSM residuals
σ_t s_w(x_t, t) + ε, with τ² inferred (τ² ~ InvGamma(a₀, b₀), w | τ² ~ N(0, τ² v₀ I): the Normal–Inverse-Gamma
prior of ``models/regression.py``). It is a pseudo-likelihood (a Gibbs posterior ∝ prior × e^{−N·loss/2τ²}):
the residuals are neither Gaussian nor homoscedastic (their irreducible part ε − E[ε | x_t] has a variance
that depends on t and x), so the posterior width measures how sharply the DSM loss pins down w at the
fitted noise level τ², not a calibrated uncertainty about the true score. τ² comes out near the per-coordinate
DSM loss at its minimum.

**Whitening (Zellner's g-prior).** T = Q_K Λ_K^{−1/2} from the eigen-decomposition of the empirical second
moment (1/N) Σ_n σ_n² φ φᵀ of the training design, keeping the eigen-directions above 1e-9 of the largest
(the rest are not identified by the data). Then XᵀX = N·I, so the exact posterior is isotropic given τ²
(cheap for NUTS) and the prior w ~ N(0, τ² v₀ I) on whitened weights is Zellner's g-prior on the raw feature
weights with g = N v₀ (v₀ = 1: the unit-information prior).

The exact posterior is the conjugate NIG one (:func:`physml.models.regression.nig_posterior`); the same model
in PyMC (:func:`dsm_model`, independent normal weights — the NIG prior with V₀ = v₀I) is fitted by NUTS and
ADVI through ``physml.inference.fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
from scipy import special

from ..inference.diffusion import check_time
from .diffusion import ForwardProcess
from .regression import ConjugatePrior, NIGPosterior, RegressionData, nig_posterior

#: relative eigenvalue below which a whitened direction is dropped (not identified by the data)
EIGEN_CUTOFF = 1e-12
#: δ / λ_max of the whitening (module docstring): shrinks directions the data barely see
RIDGE = 1e-2


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _points_times(x, t, dim: int):
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"x must be shaped (n, {dim}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (it holds NaN or inf)")
    t = check_time(t)
    return x, np.broadcast_to(t, (x.shape[0],))


@dataclass(frozen=True)
class FourierFeatures:
    """φ(x, t) = [x, √(2/F) cos(ω·x + ν t + b)]: ``omega`` (F, d), ``nu`` (F,), ``phase`` (F,)."""

    omega: np.ndarray
    nu: np.ndarray
    phase: np.ndarray

    @property
    def dim(self) -> int:
        return self.omega.shape[1]

    @property
    def size(self) -> int:
        """Number of features: d linear ones and F cosines."""
        return self.dim + self.omega.shape[0]

    def __call__(self, x, t) -> np.ndarray:
        x, t = _points_times(x, t, self.dim)
        arg = x @ self.omega.T + np.outer(t, self.nu) + self.phase
        return np.concatenate([x, np.sqrt(2 / self.omega.shape[0]) * np.cos(arg)], axis=1)

    def gradient(self, x, t) -> np.ndarray:
        """∂φ_k/∂x_i, shaped (n, features, d)."""
        x, t = _points_times(x, t, self.dim)
        arg = x @ self.omega.T + np.outer(t, self.nu) + self.phase
        lin = np.broadcast_to(np.eye(self.dim), (x.shape[0], self.dim, self.dim))
        cos_grad = -np.sqrt(2 / self.omega.shape[0]) * np.sin(arg)[:, :, None] * self.omega[None, :, :]
        return np.concatenate([lin, cos_grad], axis=1)


def fourier_features(n_features: int, dim: int, rng: np.random.Generator) -> FourierFeatures:
    """F random Fourier features of (x, t) in d dimensions (module docstring for the distributions)."""
    n_features, dim = _count("n_features", n_features, 1), _count("dim", dim, 1)
    scales = np.exp(rng.uniform(np.log(0.25), np.log(2.5), n_features))
    return FourierFeatures(rng.standard_normal((n_features, dim)) / scales[:, None],
                           3.0 * rng.standard_normal(n_features), rng.uniform(0, 2 * np.pi, n_features))


@dataclass(frozen=True)
class TrainingSet:
    """DSM pairs: x_t (N, d), t (N,), σ_t (N,), ε (N, d) with x_t = α_t x_0 + σ_t ε."""

    x_t: np.ndarray
    t: np.ndarray
    sigma: np.ndarray
    eps: np.ndarray


def training_set(fp: ForwardProcess, n_points: int, rng: np.random.Generator) -> TrainingSet:
    """N data points x_0 ~ p_0, each with one t ~ U(0, 1] and one ε ~ N(0, I)."""
    n = _count("n_points", n_points, 2)
    x0 = fp.data.sample(n, rng)
    t = 1.0 - rng.uniform(0.0, 1.0, n)  # (0, 1]
    alpha, sigma = fp.schedule.alpha(t), np.sqrt(fp.schedule.sigma2(t))
    eps = rng.standard_normal(x0.shape)
    return TrainingSet(alpha[:, None] * x0 + sigma[:, None] * eps, t, sigma, eps)


@dataclass(frozen=True)
class ScoreBasis:
    """ψ(x, t) = φ(x, t) T, whitened on a training set (module docstring)."""

    features: FourierFeatures
    transform: np.ndarray

    @property
    def size(self) -> int:
        return self.transform.shape[1]

    def __call__(self, x, t) -> np.ndarray:
        return self.features(x, t) @ self.transform

    def gradient(self, x, t) -> np.ndarray:
        """∂ψ_k/∂x_i, shaped (n, K, d)."""
        return np.einsum("nfi,fk->nki", self.features.gradient(x, t), self.transform)


def whitened_basis(features: FourierFeatures, train: TrainingSet, ridge: float = RIDGE) -> ScoreBasis:
    """T = Q (Λ + δ)^{−1/2}, δ = ``ridge`` × the largest eigenvalue of G = (1/N) Σ σ² φ φᵀ = QΛQᵀ."""
    rows = train.sigma[:, None] * features(train.x_t, train.t)
    lam, q = np.linalg.eigh(rows.T @ rows / rows.shape[0])
    keep = lam > EIGEN_CUTOFF * lam.max()
    return ScoreBasis(features, q[:, keep] / np.sqrt(lam[keep] + ridge * lam.max()))


def regression_data(basis: ScoreBasis, train: TrainingSet) -> RegressionData:
    """The DSM least-squares problem as regression data: rows (n, i) in order n·d + i, weights (i, k) in order
    i·K + k (block i belongs to output coordinate i), response −ε."""
    psi = train.sigma[:, None] * basis(train.x_t, train.t)
    n, d, k = psi.shape[0], train.eps.shape[1], basis.size
    X = np.zeros((n, d, d * k))
    for i in range(d):
        X[:, i, i * k:(i + 1) * k] = psi
    names = tuple(f"x{i}_{j}" for i in range(d) for j in range(k))
    return RegressionData(X.reshape(n * d, d * k), -train.eps.reshape(-1), names, "minus_eps", "denoising pairs")


@dataclass(frozen=True)
class LinearScore:
    """s(x, t) = ψ(x, t) W = φ(x, t) (T W) with W (K, d); a ``Score`` callable with an exact divergence."""

    basis: ScoreBasis
    weights: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "coef", self.basis.transform @ self.weights)  # T W: (features, d)

    def __call__(self, x, t) -> np.ndarray:
        return self.basis.features(x, t) @ self.coef

    def divergence(self, x, t) -> np.ndarray:
        """∇·s = Σ_i Σ_f ∂_i φ_f (T W)_fi."""
        return np.einsum("nfi,fi->n", self.basis.features.gradient(x, t), self.coef)


def score_from_weights(basis: ScoreBasis, w) -> LinearScore:
    """The score of a flat weight vector w (length K·d, block i = output coordinate i)."""
    w = np.asarray(w, dtype=float)
    d = basis.features.dim
    if w.shape != (basis.size * d,):
        raise ValueError(f"w must have {basis.size * d} entries, got {w.shape}")
    return LinearScore(basis, w.reshape(d, basis.size).T)


@dataclass(frozen=True)
class BayesianScore:
    """The DSM regression: basis, data, prior and its exact conjugate posterior."""

    basis: ScoreBasis
    data: RegressionData
    prior: ConjugatePrior
    posterior: NIGPosterior

    def mean_score(self) -> LinearScore:
        return score_from_weights(self.basis, self.posterior.mu_n)

    def draw_scores(self, n_draws: int, seed: int) -> list[LinearScore]:
        """Scores of exact posterior draws of w."""
        w = self.posterior.sample(_count("n_draws", n_draws, 1), seed, n_chains=1)["beta"][0]
        return [score_from_weights(self.basis, wi) for wi in w]


def fit_conjugate(fp: ForwardProcess, n_features: int, n_points: int, seed: int, *, v0: float = 1.0,
                  a0: float = 2.0, b0: float = 1.0) -> BayesianScore:
    """Features and training pairs from ``seed``, whitened basis, and the exact NIG posterior of the weights."""
    rng = np.random.default_rng(seed)
    features = fourier_features(n_features, fp.data.dim, rng)
    train = training_set(fp, n_points, rng)
    basis = whitened_basis(features, train)
    data = regression_data(basis, train)
    prior = ConjugatePrior(data.d, v0=v0, a0=a0, b0=b0)
    return BayesianScore(basis, data, prior, nig_posterior(data, prior))


@dataclass(frozen=True)
class ProjectedData:
    """Sufficient statistics of the DSM regression (module docstring): scale S (p,), u = S⁻¹Xᵀy (p,), the
    residual sum of squares R and its degrees of freedom m = n − p; needs XᵀX diagonal (a whitened basis)."""

    scale: np.ndarray
    u: np.ndarray
    rss: float
    dof: int

    def log_jacobian(self) -> float:
        """ln p(y) − ln p(u, R) = −ln[π^{m/2} R^{m/2−1} / Γ(m/2)] (the sphere of radius √R in m dimensions)."""
        m = self.dof
        return float(-(0.5 * m * np.log(np.pi) + (0.5 * m - 1) * np.log(self.rss) - special.gammaln(0.5 * m)))


def project(data: RegressionData) -> ProjectedData:
    """u = S⁻¹Xᵀy with S = √diag(XᵀX), R = |y|² − |u|² (XᵀX must be diagonal: ValueError otherwise)."""
    gram = data.X.T @ data.X
    scale = np.sqrt(np.diag(gram))
    if np.max(np.abs(gram - np.diag(np.diag(gram)))) > 1e-8 * scale.max() ** 2:
        raise ValueError("project needs a design with orthogonal columns (a whitened basis)")
    u = data.X.T @ data.y / scale
    return ProjectedData(scale, u, float(data.y @ data.y - u @ u), data.n - data.d)


def dsm_model(data: RegressionData, prior: ConjugatePrior) -> pm.Model:
    r"""The NIG regression in PyMC with V₀ = v₀I, written on its sufficient statistics (same posterior,
    cost O(p) per gradient instead of O(np)): τ² ~ InvGamma(a₀, b₀), w | τ² ~ N(0, τ² v₀),
    u ~ N(S w, τ²) (the projection of y on the design's columns), R ~ Gamma(m/2, rate 1/(2τ²)) (the
    residual sum of squares, R/τ² ~ χ²_m). −ln p(y) = −ln p(u, R) − :meth:`ProjectedData.log_jacobian`."""
    v0 = float(prior.V0[0, 0])
    if not np.allclose(prior.V0, v0 * np.eye(data.d)) or np.any(prior.m0 != 0):
        raise ValueError("dsm_model needs the isotropic prior V0 = v0 I and m0 = 0")
    proj = project(data)
    with pm.Model(coords={"weight": list(data.predictors)}) as model:
        tau2 = pm.InverseGamma("tau2", alpha=prior.a0, beta=prior.b0)
        tau = pm.math.sqrt(tau2)
        w = pm.Normal("w", mu=0.0, sigma=tau * np.sqrt(v0), dims="weight")
        pm.Normal("u", mu=proj.scale * w, sigma=tau, observed=proj.u, dims="weight")
        pm.Gamma("rss", alpha=0.5 * proj.dof, beta=0.5 / tau2, observed=proj.rss)
    return model
