"""VP-SDE integrators and the Fokker–Planck solver on Gaussian data, whose p_t is Gaussian (exact score).

Data N(μ, s²): p_t = N(αμ, α²s² + σ²), score −(x − αμ)/v — written here, independent of physml.models.
"""
import numpy as np
import pytest
from scipy import stats

from physml.inference.diffusion import (FokkerPlanckGrid, LinearBetaSchedule, fokker_planck_solve,
                                        forward_euler_maruyama, observed_order, probability_flow,
                                        probability_flow_log_likelihood, reverse_euler_maruyama)
from seeding import seeds
from statcheck import mean_z_ok

MU, S = 1.2, 0.5
SCH = LinearBetaSchedule(0.1, 20.0)


def gauss(t):
    a, s2 = float(SCH.alpha(t)), float(SCH.sigma2(t))
    return a * MU, a * a * S * S + s2


def score(x, t):
    m, v = gauss(t)
    return -(x - m) / v


def test_schedule_closed_form():
    t = np.linspace(0, 1, 11)
    b_int = np.array([__import__("scipy").integrate.quad(lambda s: 0.1 + 19.9 * s, 0, ti)[0] for ti in t])
    np.testing.assert_allclose(SCH.integral(t), b_int, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(SCH.alpha(t) ** 2 + SCH.sigma2(t), 1.0, rtol=1e-14)


def test_probability_flow_order_and_likelihood():
    x1 = np.linspace(-2.5, 2.5, 41)[:, None]
    ref = probability_flow(x1, score, SCH, 4000, method="rk4")
    # the exact map of a Gaussian flow: x0 = αμ-shifted affine map of x1
    m1, v1 = gauss(1.0)
    np.testing.assert_allclose(ref, MU + S * (x1 - m1) / np.sqrt(v1), atol=1e-9)
    for method, order in (("euler", 1), ("heun", 2), ("rk4", 4)):
        steps = [40, 80, 160] if method != "rk4" else [20, 40, 80]
        errs = [np.abs(probability_flow(x1, score, SCH, n, method=method) - ref).max() for n in steps]
        assert abs(observed_order(steps, errs) - order) < 0.35, (method, errs)
    x0 = np.linspace(-0.5, 3.0, 15)[:, None]
    ll, _ = probability_flow_log_likelihood(x0, score, lambda x, t: np.full(x.shape[0], -1 / gauss(t)[1]), SCH, 200,
                                            lambda z: stats.norm.logpdf(z[:, 0], m1, np.sqrt(v1)))
    assert np.abs(ll - stats.norm.logpdf(x0[:, 0], MU, S)).max() < 1e-6  # exact p_1 as the prior: numerics only


def test_reverse_sde_and_forward_em_moments():
    """Generated mean and variance against the data's over seeds: z-scores of calibrated Monte Carlo."""
    zm, zv, zf = [], [], []
    n = 20_000
    for s in seeds(100, 5):
        rng = np.random.default_rng(s)
        x = reverse_euler_maruyama(rng.standard_normal((n, 1)), score, SCH, 400, rng)[:, 0]
        zm.append((x.mean() - MU) / (x.std() / np.sqrt(n)))
        zv.append((x.var() - S * S) / (S * S * np.sqrt(2 / n)))
        y = forward_euler_maruyama(MU + S * rng.standard_normal((n, 1)), SCH, 400, rng, t1=0.4)[:, 0]
        m, v = gauss(0.4)
        zf.append((y.var() - v) / (v * np.sqrt(2 / n)))
    for z in (zm, zv, zf):
        ok, msg = mean_z_ok(z)
        assert ok, msg


def test_fokker_planck_equilibrium_conservation_positivity():
    grid = FokkerPlanckGrid(7.0, 200)
    eq = np.exp(-0.5 * grid.centres**2)
    assert np.abs(grid.generator() @ eq).max() < 1e-12 * np.abs(grid.generator()).max()
    m0 = np.diff(stats.norm.cdf(grid.edges, MU, S))
    out = fokker_planck_solve(grid, m0 / m0.sum(), SCH, [0.1, 0.5, 1.0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    assert out.min() > -1e-15
    exact = [np.diff(stats.norm.cdf(grid.edges, gauss(t)[0], np.sqrt(gauss(t)[1]))) for t in (0.1, 0.5, 1.0)]
    assert np.abs(out - exact).sum(axis=1).max() < 2e-3


@pytest.mark.parametrize("call", [
    lambda: LinearBetaSchedule(0.0, 20.0), lambda: LinearBetaSchedule(0.1, -1.0),
    lambda: LinearBetaSchedule(float("nan"), 1.0), lambda: SCH.alpha(1.5), lambda: SCH.beta(-0.1),
    lambda: reverse_euler_maruyama(np.array([[np.nan]]), score, SCH, 10, np.random.default_rng(0)),
    lambda: reverse_euler_maruyama(np.zeros((3, 1)), score, SCH, 0, np.random.default_rng(0)),
    lambda: probability_flow(np.zeros((3, 1)), score, SCH, 10, t0=1.2),
    lambda: probability_flow(np.zeros((3, 1)), score, SCH, 10, method="rk45"),
    lambda: FokkerPlanckGrid(5.0, 2), lambda: fokker_planck_solve(FokkerPlanckGrid(5.0, 10), np.ones(10), SCH, [2.0]),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
