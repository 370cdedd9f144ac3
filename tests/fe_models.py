"""Small conjugate test models with exact evidence for the free-energy estimator tests.

Both models have the power-posterior normaliser ln Z(t) = ln ∫ p(y|θ)^t p(θ) dθ in closed
form, so the thermodynamic-integration integrand E_t[ln p(y|θ)] = d ln Z/dt and its slope
V_t = Var_t[ln p(y|θ)] = d² ln Z/dt² are exact too.  That lets a test derive TI's
discretisation bias for a given ladder (the quadrature rule applied to the exact integrand)
instead of hand-tuning a tolerance.

Not a test module (shared by several test files); test_free_energy_models.py checks the closed
forms themselves against quadrature and the Student-t marginal.
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats
from scipy.special import gammaln


# ----------------------------------------------------------------------------- 1-D
class NormalMean:
    """y_i ~ N(mu, sigma²) with sigma known, mu ~ N(m0, s0²)."""

    def __init__(self, n=10, sigma=1.0, m0=0.0, s0=3.0, true_mu=1.5, seed=1):
        rng = np.random.default_rng(seed)
        self.y = true_mu + sigma * rng.standard_normal(n)
        self.n, self.sigma, self.m0, self.s0 = n, sigma, m0, s0
        with pm.Model() as self.model:
            mu = pm.Normal("mu", m0, s0)
            pm.Normal("y", mu, sigma, observed=self.y)

    def power_posterior(self, t):
        prec = 1 / self.s0**2 + t * self.n / self.sigma**2
        mean = (self.m0 / self.s0**2 + t * self.y.sum() / self.sigma**2) / prec
        return mean, 1 / prec

    def log_z(self, t=1.0):
        """ln ∫ N(y|mu,σ²)^t N(mu|m0,s0²) dmu (closed form, Gaussian integral)."""
        n, s2, y = self.n, self.sigma**2, self.y
        mean, var = self.power_posterior(t)
        return (-0.5 * n * t * np.log(2 * np.pi * s2) - t * np.sum(y**2) / (2 * s2)
                - self.m0**2 / (2 * self.s0**2) + mean**2 / (2 * var)
                + 0.5 * np.log(var / self.s0**2))

    def posterior_draws(self, size, rng):
        mean, var = self.power_posterior(1.0)
        return mean + np.sqrt(var) * rng.standard_normal(size)


# ---------------------------------------------------------------- conjugate regression
class ConjugateRegression:
    """β | σ² ~ N(m0, σ² v0 I), σ² ~ InvGamma(a0, b0), y ~ N(Xβ, σ² I)  (NIG prior)."""

    def __init__(self, n=30, p=2, a0=3.0, b0=2.0, v0=4.0, rho=0.0, seed=2):
        rng = np.random.default_rng(seed)
        cov = (1 - rho) * np.eye(p) + rho * np.ones((p, p))
        self.X = rng.multivariate_normal(np.zeros(p), cov, size=n)
        beta = np.linspace(1.0, -1.0, p)
        self.y = self.X @ beta + 0.8 * rng.standard_normal(n)
        self.n, self.p, self.a0, self.b0, self.v0 = n, p, a0, b0, v0
        self.m0 = np.zeros(p)
        with pm.Model() as self.model:
            s2 = pm.InverseGamma("sigma2", a0, b0)
            b = pm.Normal("beta", 0.0, pt.sqrt(s2 * v0), shape=p)
            pm.Normal("y", pt.dot(self.X, b), pt.sqrt(s2), observed=self.y)

    def nig(self, t):
        lam0 = np.eye(self.p) / self.v0
        lam = t * self.X.T @ self.X + lam0
        mu = np.linalg.solve(lam, t * self.X.T @ self.y + lam0 @ self.m0)
        a = self.a0 + self.n * t / 2
        b = self.b0 + 0.5 * (t * self.y @ self.y + self.m0 @ lam0 @ self.m0 - mu @ lam @ mu)
        return lam0, lam, mu, a, b

    def log_z(self, t=1.0):
        """ln Z(t); at t = 1 the StatProofBook log model evidence (notes section 3)."""
        lam0, lam, mu, a, b = self.nig(t)
        return (-self.n * t / 2 * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(lam0)[1]
                - 0.5 * np.linalg.slogdet(lam)[1] + self.a0 * np.log(self.b0) - a * np.log(b)
                + gammaln(a) - gammaln(self.a0))

    def log_evidence_student_t(self):
        cov = (self.b0 / self.a0) * (np.eye(self.n) + self.v0 * self.X @ self.X.T)
        return stats.multivariate_t(self.X @ self.m0, cov, df=2 * self.a0).logpdf(self.y)


def ti_integrand(log_z, t, h=1e-4):
    """Exact E_t = d ln Z/dt and V_t = d² ln Z/dt² by central differences of the closed form."""
    t = np.asarray(t, dtype=float)
    f0 = np.array([log_z(x) for x in t])
    fp = np.array([log_z(x + h) for x in t])
    fm = np.array([log_z(x - h) for x in t])
    return (fp - fm) / (2 * h), (fp - 2 * f0 + fm) / h**2


def ti_bias_allowance(log_z, ladder):
    """|quadrature(exact integrand on `ladder`) − exact|: TI's discretisation bias for this ladder."""
    from physml.inference.evidence.thermodynamic_integration import trapezoid_rules

    ladder = np.asarray(ladder, dtype=float)
    e, v = ti_integrand(log_z, ladder)
    if ladder[0] == 0.0:
        return abs(trapezoid_rules(ladder, e, v)["corrected"] - log_z(1.0))
    # default ladder: ln Z(t_1) by importance sampling (no discretisation), Hermite rule in ln t above
    from physml.inference.evidence.thermodynamic_integration import log_trapezoid_rules

    return abs(log_z(ladder[0]) + log_trapezoid_rules(ladder, e, v)["corrected"] - log_z(1.0))


@functools.lru_cache(maxsize=None)
def normal_mean() -> NormalMean:
    """One shared instance per test session, so its compiled functions are reused."""
    return NormalMean()


@functools.lru_cache(maxsize=None)
def regression() -> ConjugateRegression:
    return ConjugateRegression()


@functools.lru_cache(maxsize=None)
def correlated_regression() -> ConjugateRegression:
    """Two nearly collinear predictors: the posterior of β has correlation ≈ −0.99."""
    return ConjugateRegression(n=40, p=2, rho=0.995, seed=3)


def nig_posterior_draws_unconstrained(r: ConjugateRegression, size, rng):
    """Exact iid posterior draws of the NIG regression in the model's flat space (log σ², β)."""
    _, lam, mu, a, b = r.nig(1.0)
    s2 = stats.invgamma(a, scale=b).rvs(size=size, random_state=rng)
    chol = np.linalg.cholesky(np.linalg.inv(lam))
    beta = mu + np.sqrt(s2)[:, None] * (rng.standard_normal((size, r.p)) @ chol.T)
    return np.column_stack([np.log(s2), beta])
