"""Double descent (models/random_features.py): the Marchenko–Pastur transform against quadrature of the MP
density, the asymptotic risks against each other and against Monte Carlo, min-norm = ridge λ → 0 = pinv, the
spectral evidence against models/regression.py's exact NIG evidence, the evidence-optimal scale against a grid
search, bad input."""
import math

import numpy as np
import pytest
from scipy import integrate, optimize
from seeding import seed
from statcheck import assert_mcmc_mean, threshold
from threadpoolctl import threadpool_limits

from physml.models import random_features as rf
from physml.models import regression as reg

R2, SIGMA2 = 1.0, 0.25


def mp_transform_by_quadrature(gamma, lam, power=1):
    """∫ dμ_MP(s)/(s + λ)^power for the spectrum of XᵀX/n (p × p, ratio γ = p/n): density
    √((b − s)(s − a))/(2πγs) on [a, b] = [(1 ∓ √γ)²], plus an atom 1 − 1/γ at 0 when γ > 1."""
    a, b = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2
    dens = lambda s: math.sqrt(max((b - s) * (s - a), 0.0)) / (2 * math.pi * gamma * s)  # noqa: E731
    cont, _ = integrate.quad(lambda s: dens(s) / (s + lam) ** power, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)
    return cont + (max(0.0, 1 - 1 / gamma) / lam**power)


@pytest.mark.parametrize("gamma", [0.2, 0.7, 1.0, 1.6, 5.0])
@pytest.mark.parametrize("lam", [0.01, 0.3, 2.0])
def test_stieltjes_transform_against_mp_density(gamma, lam):
    assert rf.mp_stieltjes(gamma, lam) == pytest.approx(mp_transform_by_quadrature(gamma, lam), rel=1e-7)
    # m'(z) = ∫ dμ(s)/(s − z)² at z = −λ
    assert rf.mp_stieltjes_derivative(gamma, lam) == pytest.approx(mp_transform_by_quadrature(gamma, lam, 2), rel=1e-6)


@pytest.mark.parametrize("gamma", [0.3, 0.8, 1.5, 4.0])
def test_ridge_risk_limits(gamma):
    # λ → 0: ridge becomes min-norm (HMRT Thm 1)
    assert rf.ridge_risk(gamma, 1e-9, R2, SIGMA2) == pytest.approx(rf.minnorm_risk(gamma, R2, SIGMA2), rel=1e-6)
    # the minimum over λ of the ridge risk is the closed-form optimal risk, at λ* = σ²γ/r²
    res = optimize.minimize_scalar(lambda u: float(rf.ridge_risk(gamma, math.exp(u), R2, SIGMA2)),
                                   bounds=(-12, 6), method="bounded", options={"xatol": 1e-10})
    assert math.exp(res.x) == pytest.approx(rf.optimal_ridge_lambda(gamma, R2, SIGMA2), rel=1e-4)
    assert res.fun == pytest.approx(rf.optimal_ridge_risk(gamma, R2, SIGMA2), rel=1e-9)


def test_peak_and_its_removal():
    g = np.array([0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 2.0])
    mn, opt = rf.minnorm_risk(g, R2, SIGMA2), rf.optimal_ridge_risk(g, R2, SIGMA2)
    assert np.isinf(mn[3]) and mn[2] > 20 and mn[4] > 20  # the interpolation peak at γ = 1
    assert np.all(np.isfinite(opt)) and np.all(opt <= mn) and opt.max() < R2  # tuned ridge: no peak
    assert rf.minnorm_risk(1e6, R2, SIGMA2) == pytest.approx(R2, rel=1e-5)  # γ → ∞: the null risk r²


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_finite_n_mean_tends_to_asymptote(gamma):
    asym = float(rf.minnorm_risk(gamma, R2, SIGMA2))
    gaps = [abs(rf.finite_n_minnorm_risk(n, int(gamma * n), R2, SIGMA2) - asym) for n in (100, 1000, 10000)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 5 / 10000  # O(1/n)


def _risks(n, p, lam, reps, rng):
    """Min-norm and ridge(λ) excess risks over ``reps`` data sets."""
    out = []
    with threadpool_limits(limits=1, user_api="blas"):  # small eigenproblems: threads only contend
        for _ in range(reps):
            data, beta = rf.sample_data(n, p, math.sqrt(R2), math.sqrt(SIGMA2), rng)
            d = rf.SpectralDesign.of(data)
            out.append((rf.excess_risk(d.ridge(0.0), beta), rf.excess_risk(d.ridge(lam), beta)))
    return np.array(out)


def test_minnorm_monte_carlo_matches_exact_finite_n_mean():
    rng, q = np.random.default_rng(seed(16)), threshold(2)
    for n, p in ((60, 30), (40, 100)):
        x = _risks(n, p, 0.1, 150, rng)[:, 0]
        exact = rf.finite_n_minnorm_risk(n, p, R2, SIGMA2)
        z = (x.mean() - exact) / (x.std(ddof=1) / math.sqrt(len(x)))
        assert abs(z) < q, f"n={n}, p={p}: MC {x.mean():.4f} vs exact {exact:.4f}, z {z:+.2f}"


def test_risk_formulas_against_monte_carlo_at_large_n():
    """At n = 500 the data-set mean is within its MC error plus an O(1/n) finite-size allowance of the
    n = ∞ formulas (the allowance for min-norm is the exact finite-n gap; for ridge 2 × risk / n)."""
    rng, q = np.random.default_rng(seed(61)), threshold(6)
    n, reps = 500, 10
    for gamma in (0.5, 2.0):
        p, lam = int(gamma * n), 0.2
        x = _risks(n, p, lam, reps, rng)
        se = x.std(axis=0, ddof=1) / math.sqrt(reps)
        asym_mn = float(rf.minnorm_risk(gamma, R2, SIGMA2))
        slack_mn = abs(rf.finite_n_minnorm_risk(n, p, R2, SIGMA2) - asym_mn)
        assert abs(x[:, 0].mean() - asym_mn) < q * se[0] + slack_mn
        asym_r = float(rf.ridge_risk(gamma, lam, R2, SIGMA2))
        assert abs(x[:, 1].mean() - asym_r) < q * se[1] + 2 * asym_r / n, (gamma, x[:, 1].mean(), asym_r, se[1])


@pytest.mark.parametrize("n,p", [(30, 12), (30, 30), (30, 75)])
def test_minnorm_is_pinv_and_ridge_limit(n, p):
    data, _ = rf.sample_data(n, p, 1.0, 0.5, np.random.default_rng(7))
    d = rf.SpectralDesign.of(data)
    pinv = rf.minnorm_fit(data)
    scale = np.linalg.norm(pinv)
    assert np.linalg.norm(d.ridge(0.0) - pinv) < 1e-7 * scale
    assert np.linalg.norm(d.ridge(1e-11) - pinv) < 1e-5 * scale  # λ → 0
    lam = 0.3  # λ > 0: the direct normal equations (XᵀX/n + λI)β = Xᵀy/n
    direct = np.linalg.solve(data.X.T @ data.X / n + lam * np.eye(p), data.X.T @ data.y / n)
    assert np.allclose(d.ridge(lam), direct, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [8, 45])
def test_spectral_evidence_and_posterior_mean_match_regression(p):
    data, _ = rf.sample_data(25, p, 1.0, 0.5, np.random.default_rng(3))
    d = rf.SpectralDesign.of(data)
    for v0, a0, b0 in ((0.05, 2.0, 2.0), (1.0, 3.0, 0.5), (20.0, 1.5, 4.0)):
        prior = reg.ConjugatePrior(p, v0=v0, a0=a0, b0=b0)
        assert d.log_evidence(v0, a0, b0) == pytest.approx(reg.log_evidence_exact(data, prior), abs=1e-9)
        assert d.log_evidence(v0, a0, b0) == pytest.approx(reg.log_evidence_student_t(data, prior), abs=1e-9)
        assert np.allclose(d.ridge(1 / (data.n * v0)), reg.nig_posterior(data, prior).mu_n, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n,p", [(30, 20), (30, 60)])
def test_evidence_optimal_scale_against_grid_search(n, p):
    data, _ = rf.sample_data(n, p, 1.0, 0.5, np.random.default_rng(11))
    v0, best = rf.evidence_optimal_scale(rf.SpectralDesign.of(data))
    grid = np.linspace(math.log(v0) - 3, math.log(v0) + 3, 601)
    values = [reg.log_evidence_exact(data, reg.ConjugatePrior(p, v0=math.exp(u))) for u in grid]
    k = int(np.argmax(values))
    assert 0 < k < len(grid) - 1  # an interior maximum
    assert abs(grid[k] - math.log(v0)) <= grid[1] - grid[0]
    assert best >= max(values) - 1e-9 and best == pytest.approx(values[k], abs=1e-3)


def test_log_v0_posterior_mean_against_grid_of_regression_evidence():
    """E[ln v₀ | y] under ln v₀ ~ N(0, 3²), by quadrature, against a trapezoid grid of the NIG evidence."""
    data, _ = rf.sample_data(20, 30, 1.0, 0.5, np.random.default_rng(5))
    grid = np.linspace(-25, 12, 1500)
    logp = np.array([reg.log_evidence_exact(data, reg.ConjugatePrior(30, v0=math.exp(u))) for u in grid]) \
        - grid**2 / 18
    w = np.exp(logp - logp.max())
    expected = np.trapezoid(grid * w, grid) / np.trapezoid(w, grid)
    assert rf.log_v0_posterior_mean(rf.SpectralDesign.of(data)) == pytest.approx(expected, abs=1e-4)


def test_nuts_on_hierarchical_scale_matches_quadrature():
    from physml.inference.fit import fit

    data, _ = rf.sample_data(30, 45, 1.0, 0.5, np.random.default_rng(seed(23)))
    design = rf.SpectralDesign.of(data)
    dt = fit(rf.hierarchical_scale_model(design), "nuts", draws=600, tune=400, chains=4, seed=seed(24),
             free_energy=())
    assert_mcmc_mean(dt["posterior"]["log_v0"].values, rf.log_v0_posterior_mean(design), label="E[ln v0 | y]")


@pytest.mark.parametrize("call,match", [
    (lambda: rf.minnorm_risk(0.0), "gamma"), (lambda: rf.minnorm_risk(float("nan")), "gamma"),
    (lambda: rf.ridge_risk(-1.0, 0.1), "gamma"), (lambda: rf.ridge_risk(2.0, 0.0), "lam"),
    (lambda: rf.optimal_ridge_risk(2.0, r2=-1.0), "r2"), (lambda: rf.minnorm_risk(2.0, sigma2=math.inf), "sigma2"),
    (lambda: rf.finite_n_minnorm_risk(1, 5), "n must be an integer >= 2"),
    (lambda: rf.finite_n_minnorm_risk(10, 2.5), "p must be"),
    (lambda: rf.sample_data(10, 0, 1.0, 1.0, np.random.default_rng(0)), "p must be"),
    (lambda: rf.sample_data(10, 5, 1.0, -1.0, np.random.default_rng(0)), "sigma"),
    (lambda: reg.RegressionData(np.array([[1.0], [np.nan]]), np.array([1.0, 2.0]), ("x1",)), "finite"),
    (lambda: rf.SpectralDesign.of(rf.sample_data(10, 5, 1.0, 1.0, np.random.default_rng(0))[0]).log_evidence(
        0.0, 2.0, 2.0), "v0"),
    (lambda: rf.evidence_optimal_scale(rf.SpectralDesign.of(rf.sample_data(10, 5, 1.0, 1.0,
                                                                            np.random.default_rng(0))[0]),
                                       bounds=(1.0, 0.1)), "bounds"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
