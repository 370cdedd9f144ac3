r"""Bayesian linear regression: energy ↔ −ln p, free energy ↔ −ln evidence.

Energy (negative log joint) of the conjugate model, with :math:`\tau = 1/\sigma^2`:

.. math::

    E(\beta, \sigma^2) = -\ln \mathcal N(y \mid X\beta, \sigma^2 I)
                         -\ln \mathcal N(\beta \mid m_0, \sigma^2 V_0)
                         -\ln \mathrm{InvGamma}(\sigma^2 \mid a_0, b_0),

and the free energy is :math:`F = -\ln Z = -\ln \int e^{-E} = -\ln p(y)`.

Two priors:

* ``conjugate`` (default): Normal–Inverse-Gamma; exact posterior (Student-t marginals
  for β, inverse-gamma for σ²) and exact evidence (a multivariate t).
* ``independent``: β ~ N(0, beta_sd), σ ~ HalfNormal(sigma_sd) — posteriordb's ``blr``;
  no closed form, validated against posteriordb's reference draws.

The exact reference needs only the sufficient statistics n, XᵀX, Xᵀy, yᵀy (:func:`sufficient_stats`, summed
over blocks of rows), so it costs O(n d²) time and O(d²) memory beyond the data at any n.  From
:data:`BORROW_MIN_ROWS` rows the PyMC models hold the data's own arrays (:func:`design_matrix`), so the data
are in memory once, not once per copy PyMC would make.  Data
(:class:`RegressionData`, synthetic data, the chunked CSV reader) live in ``regression_data.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pymc as pm
from scipy import special, stats

from .reference import Reference, draws_to_datatree
from .regression_data import (CSV_CHUNK_ROWS, RegressionData, load_data, read_csv_columns,  # noqa: F401 (re-exported)
                              synthetic_data)

# Data (RegressionData, synthetic_data, load_data): models/regression_data.py

# ---------------------------------------------------------------------------
# Priors


@dataclass(frozen=True)
class ConjugatePrior:
    r"""Normal–Inverse-Gamma prior :math:`\beta\mid\sigma^2 \sim \mathcal N(m_0, \sigma^2 V_0)`,
    :math:`\sigma^2 \sim \mathrm{InvGamma}(a_0, b_0)`. Defaults: m0 = 0, V0 = v0·I."""

    d: int
    v0: float = 10.0
    a0: float = 2.0
    b0: float = 2.0
    m0: np.ndarray | None = None
    V0: np.ndarray | None = None

    def __post_init__(self):
        for name in ("v0", "a0", "b0"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")
        m0 = np.zeros(self.d) if self.m0 is None else np.asarray(self.m0, dtype=float)
        V0 = self.v0 * np.eye(self.d) if self.V0 is None else np.asarray(self.V0, dtype=float)
        if m0.shape != (self.d,) or V0.shape != (self.d, self.d):
            raise ValueError(f"m0 must have shape ({self.d},) and V0 ({self.d}, {self.d})")
        if not np.allclose(V0, V0.T) or np.linalg.eigvalsh(V0).min() <= 0:
            raise ValueError("V0 must be symmetric positive definite")
        object.__setattr__(self, "m0", m0)
        object.__setattr__(self, "V0", V0)


@dataclass(frozen=True)
class IndependentPrior:
    """posteriordb ``blr``: β_j ~ N(0, beta_sd), σ ~ HalfNormal(sigma_sd)."""

    beta_sd: float = 10.0
    sigma_sd: float = 10.0

    def __post_init__(self):
        for name in ("beta_sd", "sigma_sd"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")


# ---------------------------------------------------------------------------
# PyMC models

#: rows from which a model borrows the data's arrays instead of copying them (large data; see
#: :func:`design_matrix`): then ``X`` is not a ``pm.Data`` and no fit stores it in ``constant_data``
BORROW_MIN_ROWS = 100_000


def borrows_data(data: RegressionData) -> bool:
    """Whether the models of ``data`` hold its arrays by reference (n ≥ :data:`BORROW_MIN_ROWS`, dtype floatX)."""
    import pytensor

    floatx = np.dtype(pytensor.config.floatX)
    return data.n >= BORROW_MIN_ROWS and data.X.dtype == floatx and data.y.dtype == floatx


def data_coords(data: RegressionData) -> dict:
    """Model coords: ``coef`` names the predictors; ``obs`` gets labels 0..n−1 only on small data (as a
    coord PyMC turns them into a tuple of n Python ints, ≈ 36 bytes a row; unlabelled, ArviZ numbers them alike)."""
    return {"coef": list(data.predictors)} | ({} if borrows_data(data) else {"obs": np.arange(data.n)})


def design_matrix(data: RegressionData):
    """``X`` (dims obs × coef) for a model being built: ``pm.Data`` on small data (stored in every fit's
    ``constant_data``); from :data:`BORROW_MIN_ROWS` rows a shared variable that borrows ``data.X``, because
    ``pm.Data`` always copies (``astype(floatX)``) and ``constant_data`` copies again (``get_value()``).
    Get X of such a fit from its data file (:func:`load_data`)."""
    import pytensor

    if not borrows_data(data):
        return pm.Data("X", data.X, dims=("obs", "coef"))
    model = pm.modelcontext(None)
    X = pytensor.shared(data.X, "X", borrow=True)
    model.add_coord("obs", length=X.shape[0])
    model.add_named_variable(X, dims=("obs", "coef"))
    return X


def observed_response(data: RegressionData):
    """``y`` for ``observed=``: the array on small data, a constant borrowing ``data.y`` from
    :data:`BORROW_MIN_ROWS` rows (PyMC's ``astype`` of an array copies it, of a same-dtype tensor does not)."""
    import pytensor.tensor as pt

    return pt.as_tensor_variable(data.y) if borrows_data(data) else data.y


def conjugate_model(data: RegressionData, prior: ConjugatePrior) -> pm.Model:
    """The NIG regression as a declarative PyMC model (named dims ``coef``, ``obs``)."""
    with pm.Model(coords=data_coords(data)) as model:
        X = design_matrix(data)
        sigma2 = pm.InverseGamma("sigma2", alpha=prior.a0, beta=prior.b0)
        beta = pm.MvNormal("beta", mu=prior.m0, cov=sigma2 * prior.V0, dims="coef")
        sigma = pm.Deterministic("sigma", pm.math.sqrt(sigma2))
        pm.Normal("y", mu=X @ beta, sigma=sigma, observed=observed_response(data), dims="obs")
    return model


def independent_model(data: RegressionData, prior: IndependentPrior) -> pm.Model:
    """posteriordb's ``blr``: y ~ N(Xβ, σ), β ~ N(0, beta_sd), σ ~ HalfNormal(sigma_sd)."""
    with pm.Model(coords=data_coords(data)) as model:
        X = design_matrix(data)
        beta = pm.Normal("beta", mu=0.0, sigma=prior.beta_sd, dims="coef")
        sigma = pm.HalfNormal("sigma", sigma=prior.sigma_sd)
        pm.Normal("y", mu=X @ beta, sigma=sigma, observed=observed_response(data), dims="obs")
    return model


# ---------------------------------------------------------------------------
# Exact reference (conjugate prior)


@dataclass(frozen=True)
class NIGPosterior:
    r"""Exact posterior of the conjugate model:

    .. math::

        \Lambda_n = X^\top X + V_0^{-1},\quad
        \mu_n = \Lambda_n^{-1}(X^\top y + V_0^{-1} m_0),\quad
        a_n = a_0 + n/2,\quad
        b_n = b_0 + \tfrac12\,(y^\top y + m_0^\top V_0^{-1} m_0 - \mu_n^\top \Lambda_n \mu_n).

    β is multivariate t with 2a_n degrees of freedom, location μ_n and scale
    (b_n/a_n) Λ_n⁻¹; σ² ~ InvGamma(a_n, b_n).
    """

    mu_n: np.ndarray
    Lambda_n: np.ndarray
    a_n: float
    b_n: float
    predictors: tuple[str, ...] = field(default=())

    @property
    def beta_scale(self) -> np.ndarray:
        return (self.b_n / self.a_n) * np.linalg.inv(self.Lambda_n)

    @property
    def beta_cov(self) -> np.ndarray:
        """Cov(β) = b_n/(a_n − 1) Λ_n⁻¹ (finite for a_n > 1)."""
        return (self.b_n / (self.a_n - 1.0)) * np.linalg.inv(self.Lambda_n)

    def sigma_moments(self) -> tuple[float, float]:
        r"""E[σ] and sd(σ) for σ = √σ², σ² ~ InvGamma(a_n, b_n):
        :math:`E σ = \sqrt b\,Γ(a-\tfrac12)/Γ(a)`, :math:`\mathrm{Var}\,σ = \frac{b}{a-1}(1 - ρ)` with
        :math:`ρ = (a-1)Γ(a-\tfrac12)^2/Γ(a)^2`.  For large a, 1 − ρ ≈ 1/(4a) cancels catastrophically
        (at n = 10⁷ the direct form is 10 % off), so there
        :math:`1 - ρ = (a/4 - 1/32)/(a - \tfrac12)^2\,(1 + O(a^{-2}))`, from
        :math:`Γ(a+\tfrac12)/Γ(a) = \sqrt a\,(1 - \tfrac1{8a} + \tfrac1{128a^2} + O(a^{-3}))`."""
        a, b = self.a_n, self.b_n
        mean = math.exp(0.5 * math.log(b) + special.gammaln(a - 0.5) - special.gammaln(a))
        if a < 1e4:
            return mean, math.sqrt(b / (a - 1.0) - mean**2)
        return mean, math.sqrt(b / (a - 1.0) * (a / 4 - 1 / 32) / (a - 0.5) ** 2)

    def moments(self) -> dict[str, dict[str, float]]:
        """Exact mean and sd per ArviZ label (``beta[x1]``, ``sigma2``, ``sigma``)."""
        out = {}
        sd = np.sqrt(np.diag(self.beta_cov))
        for j, name in enumerate(self.predictors):
            out[f"beta[{name}]"] = {"mean": float(self.mu_n[j]), "sd": float(sd[j])}
        a, b = self.a_n, self.b_n
        out["sigma2"] = {"mean": b / (a - 1), "sd": math.sqrt(b**2 / ((a - 1) ** 2 * (a - 2)))}
        m, s = self.sigma_moments()
        out["sigma"] = {"mean": m, "sd": s}
        return out

    def sample(self, n_draws: int, seed: int, n_chains: int = 4) -> dict[str, np.ndarray]:
        """Independent exact draws shaped (chain, draw, ...)."""
        rng = np.random.default_rng(seed)
        total = n_chains * n_draws
        sigma2 = stats.invgamma(self.a_n, scale=self.b_n).rvs(total, random_state=rng)
        L = np.linalg.cholesky(np.linalg.inv(self.Lambda_n))
        beta = self.mu_n + np.sqrt(sigma2)[:, None] * (rng.standard_normal((total, len(self.mu_n))) @ L.T)
        shape = (n_chains, n_draws)
        return {"beta": beta.reshape(*shape, -1), "sigma2": sigma2.reshape(shape),
                "sigma": np.sqrt(sigma2).reshape(shape)}


#: rows per block when accumulating sufficient statistics (bounds the temporaries)
STATS_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class SufficientStats:
    """``n``, XᵀX, Xᵀy and yᵀy: all the conjugate posterior and evidence need from the data."""

    n: int
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float


def sufficient_stats(data: RegressionData, chunk_rows: int = STATS_CHUNK_ROWS) -> SufficientStats:
    """XᵀX, Xᵀy, yᵀy summed over blocks of ``chunk_rows`` rows (memory O(chunk × d), cost O(n d²))."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    XtX, Xty, yty = np.zeros((data.d, data.d)), np.zeros(data.d), 0.0
    for i in range(0, data.n, chunk_rows):
        Xc, yc = data.X[i:i + chunk_rows], data.y[i:i + chunk_rows]
        XtX += Xc.T @ Xc
        Xty += Xc.T @ yc
        yty += float(yc @ yc)
    return SufficientStats(data.n, XtX, Xty, yty)


def nig_posterior(data: RegressionData, prior: ConjugatePrior) -> NIGPosterior:
    """Closed-form posterior of the conjugate model (see :class:`NIGPosterior`), from the sufficient statistics."""
    st = sufficient_stats(data)
    P0 = np.linalg.inv(prior.V0)
    Lambda_n = st.XtX + P0
    mu_n = np.linalg.solve(Lambda_n, st.Xty + P0 @ prior.m0)
    a_n = prior.a0 + st.n / 2
    b_n = prior.b0 + 0.5 * (st.yty + prior.m0 @ P0 @ prior.m0 - mu_n @ Lambda_n @ mu_n)
    return NIGPosterior(mu_n, Lambda_n, float(a_n), float(b_n), tuple(data.predictors))


def log_evidence_exact(data: RegressionData, prior: ConjugatePrior) -> float:
    r"""Exact :math:`\ln p(y)` of the conjugate model (sufficient statistics only):

    .. math::

        \ln p(y) = -\tfrac n2 \ln 2\pi + \tfrac12 \ln|V_0^{-1}| - \tfrac12 \ln|\Lambda_n|
                   + a_0 \ln b_0 - a_n \ln b_n + \ln\Gamma(a_n) - \ln\Gamma(a_0).
    """
    post = nig_posterior(data, prior)
    _, logdet_P0 = np.linalg.slogdet(np.linalg.inv(prior.V0))
    _, logdet_Ln = np.linalg.slogdet(post.Lambda_n)
    return float(-0.5 * data.n * math.log(2 * math.pi) + 0.5 * logdet_P0 - 0.5 * logdet_Ln
                 + prior.a0 * math.log(prior.b0) - post.a_n * math.log(post.b_n)
                 + special.gammaln(post.a_n) - special.gammaln(prior.a0))


def log_evidence_student_t(data: RegressionData, prior: ConjugatePrior) -> float:
    """The same evidence as the multivariate t, y ~ t_{2a0}(X m0, (b0/a0)(I + X V0 Xᵀ)) — a cross-check."""
    shape = (prior.b0 / prior.a0) * (np.eye(data.n) + data.X @ prior.V0 @ data.X.T)
    return float(stats.multivariate_t(loc=data.X @ prior.m0, shape=shape, df=2 * prior.a0).logpdf(data.y))


def log_evidence_independent(data: RegressionData, prior: IndependentPrior) -> float:
    r"""Exact :math:`\ln p(y)` of posteriordb's ``blr`` (independent prior) by 1-D quadrature.

    Given σ, β ~ N(0, s² I) with s = ``beta_sd`` integrates out analytically:
    :math:`y \mid σ \sim \mathcal N(0,\, σ^2 I + s^2 X X^\top)`.  With the eigenvalues
    :math:`λ_j` of :math:`X^\top X` and :math:`b = Q^\top X^\top y` (sufficient statistics only),

    .. math::

        \ln p(y \mid σ) = -\tfrac n2 \ln 2\pi - n \ln σ - \tfrac12 \sum_j \ln(1 + s^2 λ_j/σ^2)
                          - \frac{1}{2σ^2}\Big(y^\top y - \sum_j \frac{b_j^2}{λ_j + σ^2/s^2}\Big),

    and :math:`\ln p(y) = \ln \int_0^\infty \mathrm{HalfNormal}(σ; \texttt{sigma\_sd})\, p(y \mid σ)\, dσ`
    is one adaptive quadrature over :math:`u = \ln σ` around the mode (relative error ~1e-11).
    Independent of every sampler in physml, so it can check them all.
    """
    from scipy import integrate, optimize

    lam, Q = np.linalg.eigh(data.X.T @ data.X)
    b2 = (Q.T @ (data.X.T @ data.y)) ** 2
    yy = float(data.y @ data.y)
    s2, n = prior.beta_sd**2, data.n

    def log_joint_u(u):  # ln [HalfNormal(σ) p(y|σ) σ] at σ = e^u (σ is the Jacobian of u = ln σ)
        sig2 = math.exp(2 * u)
        quad = yy - float(np.sum(b2 / (lam + sig2 / s2)))
        ll = (-0.5 * n * math.log(2 * math.pi) - n * u - 0.5 * float(np.sum(np.log1p(s2 * lam / sig2)))
              - 0.5 * quad / sig2)
        return ll + stats.halfnorm(scale=prior.sigma_sd).logpdf(math.exp(u)) + u

    mode = optimize.minimize_scalar(lambda u: -log_joint_u(u), bounds=(-30.0, 10.0), method="bounded",
                                    options={"xatol": 1e-12}).x
    peak, h = log_joint_u(mode), 1e-4
    curv = -(log_joint_u(mode + h) - 2 * peak + log_joint_u(mode - h)) / h**2
    width = 1.0 / math.sqrt(max(curv, 1e-12))
    lo, hi = mode - 60 * width, mode + 60 * width
    val, _ = integrate.quad(lambda u: math.exp(log_joint_u(u) - peak), lo, hi, points=[mode],
                            epsabs=0.0, epsrel=1e-11, limit=500)
    return float(peak + math.log(val))


def exact_reference(data: RegressionData, prior: ConjugatePrior, n_draws: int = 1000, seed: int = 0) -> Reference:
    """Exact free energy, exact moments and iid exact draws of the conjugate model."""
    post = nig_posterior(data, prior)
    draws = post.sample(n_draws, seed)
    tree = draws_to_datatree(draws, coords={"coef": list(data.predictors)}, dims={"beta": ["coef"]})
    return Reference(source="exact (Normal–Inverse-Gamma closed form)",
                     free_energy=-log_evidence_exact(data, prior), posterior=tree, moments=post.moments())


def posteriordb_reference(data_path: str | Path) -> Reference | None:
    """posteriordb reference draws ``<data>-blr.draws.json`` beside ``<data>.json``, if present."""
    data_path = Path(data_path)
    draws_path = data_path.with_name(f"{data_path.stem}-blr.draws.json")
    if not draws_path.is_file():
        return None
    raw = json.loads(draws_path.read_text())
    betas = sorted((k for k in raw if k.startswith("beta[")), key=lambda k: int(k[5:-1]))
    beta = np.stack([np.asarray(raw[k], dtype=float) for k in betas], axis=-1)  # (chain, draw, d)
    names = [f"x{int(k[5:-1])}" for k in betas]
    tree = draws_to_datatree({"beta": beta, "sigma": np.asarray(raw["sigma"], dtype=float)},
                             coords={"coef": names}, dims={"beta": ["coef"]})
    return Reference(source=f"posteriordb reference draws ({draws_path.name})", posterior=tree)
