"""Diffusion on Gaussian mixtures: closed-form p_t, score and KL against independent numerics; time reversal.

References computed independently: p_t by numerical convolution of p_0 with the transition kernel
(scipy quad), the 2-D density with scipy's multivariate normal, score and its divergence by central
differences, the KL rate by differentiating the quadrature KL, the forward process by the FP solver.
"""
import numpy as np
import pytest
from scipy import integrate, stats

from physml.inference.diffusion import (FokkerPlanckGrid, LinearBetaSchedule, fokker_planck_solve,
                                        observed_order, probability_flow_log_likelihood, reverse_euler_maruyama)
from physml.models import diffusion as dm
from seeding import seed, seeds
from statcheck import threshold

SCH = LinearBetaSchedule()
ONE_D, RING = dm.ForwardProcess(dm.bimodal_1d(), SCH), dm.ForwardProcess(dm.ring8(), SCH)


def _p0_1d(y):
    return 0.3 * stats.norm.pdf(y, -2.0, 0.35) + 0.7 * stats.norm.pdf(y, 1.5, 0.6)


@pytest.mark.parametrize("t", [0.0, 0.05, 0.3, 1.0])
def test_marginal_density_is_the_convolution(t):
    a, s = float(SCH.alpha(t)), float(np.sqrt(SCH.sigma2(t)))
    for x in (-2.3, 0.1, 1.7):
        conv = _p0_1d(x) if t == 0 else integrate.quad(lambda y: _p0_1d(y) * stats.norm.pdf(x, a * y, s), -8, 8,
                                                       points=[-2, 1.5], epsabs=1e-13)[0]
        assert abs(np.exp(ONE_D.log_density([[x]], t)[0]) - conv) < 1e-9


def test_2d_density_score_divergence_against_numerics():
    t, x = 0.2, np.array([[1.9, 0.3], [0.0, 0.0], [-1.0, 1.2]])
    p = RING.at(t)
    ref = sum(w * stats.multivariate_normal.pdf(x, m, v * np.eye(2)) for w, m, v in zip(p.weights, p.means, p.variances))
    np.testing.assert_allclose(np.exp(RING.log_density(x, t)), ref, rtol=1e-12)
    h = 1e-5
    fd = np.stack([(RING.log_density(x + h * e, t) - RING.log_density(x - h * e, t)) / (2 * h) for e in np.eye(2)], 1)
    np.testing.assert_allclose(RING.score(x, t), fd, rtol=1e-6, atol=1e-7)
    div = sum((RING.score(x + h * e, t)[:, i] - RING.score(x - h * e, t)[:, i]) / (2 * h) for i, e in enumerate(np.eye(2)))
    np.testing.assert_allclose(RING.divergence(x, t), div, rtol=1e-5, atol=1e-6)


def test_fokker_planck_solver_converges_to_closed_form_at_second_order():
    times, sizes, errs = [0.05, 0.3], [50, 100, 200], []
    for n in sizes:
        grid = FokkerPlanckGrid(8.0, n)
        m = fokker_planck_solve(grid, np.diff(ONE_D.data.cdf(grid.edges)), SCH, times)
        exact = np.stack([np.diff(ONE_D.at(t).cdf(grid.edges)) for t in times])
        errs.append(np.abs(m - exact).sum(axis=1))
    errs = np.array(errs)
    assert errs[-1].max() < 1e-3
    for j in range(len(times)):
        assert 1.8 < observed_order(sizes, errs[:, j]) < 2.2


def test_kl_quadrature_monte_carlo_and_entropy_production():
    rng = np.random.default_rng(seed(11))
    for t in (0.05, 0.4):
        quad = ONE_D.kl_to_prior(t)
        p = ONE_D.at(t)
        z = p.sample(20000, rng)
        v = p.log_density(z) - stats.norm.logpdf(z[:, 0])
        assert quad["kind"] == "quadrature" and abs(v.mean() - quad["value"]) < threshold(2) * v.std() / np.sqrt(v.size)
        h = 1e-4
        rate = -(ONE_D.kl_to_prior(t + h)["value"] - ONE_D.kl_to_prior(t - h)["value"]) / (2 * h)
        assert abs(ONE_D.entropy_production(t)["value"] - rate) < 1e-5 * max(1.0, rate)
    assert RING.kl_to_prior(0.5, rng=rng)["kind"] == "monte_carlo" and ONE_D.kl_to_prior(1.0)["value"] < 1e-4


def _ks_pvalues(fp, score, n, steps, seed_list):
    """KS p-values of each coordinate of reverse-SDE samples against the data's exact marginal CDF."""
    out = []
    for s in seed_list:
        rng = np.random.default_rng(s)
        x = reverse_euler_maruyama(rng.standard_normal((n, fp.data.dim)), score, SCH, steps, rng)
        out += [stats.ks_1samp(x[:, i], fp.data.marginal(i).cdf).pvalue for i in range(fp.data.dim)]
    return out


def test_reverse_sde_with_exact_score_returns_the_data():
    """Fisher's combination of the KS p-values over seeds and coordinates is not rejected at 1e-5, while a
    wrong score (the ring's at a smaller radius) is rejected by the same test."""
    for fp, n in ((ONE_D, 3000), (RING, 2000)):
        p = stats.combine_pvalues(_ks_pvalues(fp, fp.score, n, 200, seeds(200, 3))).pvalue
        assert p > 1e-5, (fp.data.source, p)
    wrong = dm.ForwardProcess(dm.ring8(radius=1.6), SCH)
    assert stats.combine_pvalues(_ks_pvalues(RING, wrong.score, 2000, 200, seeds(300, 1))).pvalue < 1e-5


@pytest.mark.parametrize("fp", [ONE_D, RING], ids=["1d", "ring8"])
def test_probability_flow_likelihood_matches_exact_density(fp):
    x = fp.data.sample(100, np.random.default_rng(seed(5)))
    prior = lambda z: np.sum(stats.norm.logpdf(z), axis=1)  # noqa: E731
    ll, _ = probability_flow_log_likelihood(x, fp.score, fp.divergence, SCH, 100, prior)
    assert np.abs(ll - fp.data.log_density(x)).mean() < 0.05


@pytest.mark.parametrize("call", [
    lambda: dm.mixture_from_points(np.array([[1.0, 2.0]])),
    lambda: dm.mixture_from_points(np.array([[1.0], [np.nan]])),
    lambda: dm.mixture_from_points(np.ones((5, 2))),
    lambda: ONE_D.at(1.01), lambda: ONE_D.score(np.array([[np.inf]]), 0.5),
    lambda: dm.ForwardProcess(dm.ring8(), LinearBetaSchedule(-0.1, 20.0)),
    lambda: dm.GaussianMixture(np.array([0.5, 0.6]), np.zeros((2, 1)), np.ones(2)),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_csv_points_become_a_kde_mixture(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("x,y\n0,1\n1,0\n2,2\n")
    mix = dm.mixture_from_points(dm.load_points(str(path)))
    assert mix.dim == 2 and mix.weights.size == 3 and np.isfinite(mix.log_density([[0.5, 0.5]])).all()
    path.write_text("x,y\n0,1\n1,nan\n")
    with pytest.raises(ValueError):
        dm.load_points(str(path))


def test_two_moons_is_a_centred_mixture_on_two_half_circles():
    m = dm.two_moons()
    assert m.weights.size == 24 and m.dim == 2 and abs(m.weights.sum() - 1) < 1e-12
    np.testing.assert_allclose(m.mean(), 0.0, atol=1e-12)
    upper, lower = m.means[:12] / 1.5, m.means[12:] / 1.5  # (cos θ, sin θ) − c and (1 − cos θ, ½ − sin θ) − c
    np.testing.assert_allclose(np.linalg.norm(upper - (upper[0] - [1, 0]), axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(lower - (lower[0] + [1, 0]), axis=1), 1.0, atol=1e-12)
    assert np.all(upper[:, 1] >= upper[0, 1] - 1e-12) and np.all(lower[:, 1] <= lower[0, 1] + 1e-12)
