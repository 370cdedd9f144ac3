"""The compiled Gaussian-mixture integrators against the NumPy ones and the data distribution.

The mixture and its exact score come from ``physml.models.diffusion`` (a test may import models); the
integrators under test take plain arrays.
"""
import numba
import numpy as np
import pytest
from scipy import stats

from physml.inference.diffusion import (LinearBetaSchedule, mixture_probability_flow, mixture_reverse_sde,
                                        probability_flow, reverse_euler_maruyama)
from physml.inference.diffusion.numba_math import exp_nonpositive, log_sincos
from physml.models.diffusion import ForwardProcess, GaussianMixture, ring8
from seeding import seed, seeds
from statcheck import assert_calibrated, mean_z_ok

SCH = LinearBetaSchedule(0.1, 20.0)
RING = ring8()
UNEVEN = GaussianMixture(np.array([0.2, 0.5, 0.3]), np.array([[1.0, -2.0, 0.5], [-1.5, 0.0, 2.0], [0.3, 2.5, -1.0]]),
                         np.array([0.05, 0.4, 0.15]), "uneven 3-D")


def arrays(mix):
    return mix.weights, mix.means, mix.variances


@pytest.mark.parametrize("mix", [RING, UNEVEN], ids=["ring8", "uneven3d"])
@pytest.mark.parametrize("t0, t1", [(1.0, 0.0), (0.0, 1.0), (0.9, 0.2)])
def test_probability_flow_equals_numpy_heun(mix, t0, t1):
    """Deterministic: the same Heun steps as integrators.probability_flow, to 1e-10 (301 points, one not a
    multiple of the block size)."""
    x = np.random.default_rng(seed(5)).standard_normal((301, mix.dim)) * (1.5 if t0 > t1 else 0.5)
    ours = mixture_probability_flow(x, *arrays(mix), SCH, 150, t0=t0, t1=t1)
    ref = probability_flow(x, ForwardProcess(mix, SCH).score, SCH, 150, t0=t0, t1=t1, method="heun")
    assert np.abs(ours - ref).max() < 1e-10


def ks_z(a, b) -> float:
    """Φ⁻¹ of the two-sample KS p-value (≈ N(0, 1) or above when a and b share a law)."""
    return float(stats.norm.ppf(max(stats.ks_2samp(a, b).pvalue, 1e-300)))


def numpy_sde(x, s, rng):
    return reverse_euler_maruyama(x, ForwardProcess(RING, SCH).score, SCH, 60, rng)


def float64_sde(x, s, rng):
    return mixture_reverse_sde(x, *arrays(RING), SCH, 60, s + 10_000)


@pytest.mark.parametrize("dtype, other", [("float64", numpy_sde), ("float32", numpy_sde), ("float32", float64_sde)],
                         ids=["f64-vs-numpy", "f32-vs-numpy", "f32-vs-f64"])
def test_reverse_sde_matches_in_distribution(dtype, other):
    """Same Euler–Maruyama law: KS of x, y and the radius, numba (float64 or float32 score and normals) vs the
    NumPy loop or the float64 path (independent seeds), aggregated over seeds."""
    z = []
    for s in seeds(300, 5):
        rng = np.random.default_rng(s)
        a = mixture_reverse_sde(rng.standard_normal((3000, 2)), *arrays(RING), SCH, 60, s, dtype=dtype)
        b = other(rng.standard_normal((3000, 2)), s, rng)
        z += [ks_z(a[:, 0], b[:, 0]), ks_z(a[:, 1], b[:, 1]), ks_z(np.hypot(*a.T), np.hypot(*b.T))]
    ok, msg = mean_z_ok(z)
    assert ok and min(z) > stats.norm.ppf(1e-5 / len(z)), (msg, np.round(z, 2))


@pytest.mark.parametrize("mix", [RING, UNEVEN], ids=["ring8", "uneven3d"])
@pytest.mark.parametrize("t0, t1", [(1.0, 0.0), (0.0, 1.0)])
def test_float32_flow_equals_float64_flow(mix, t0, t1):
    """Deterministic: the float32 score with float64 state and steps follows the float64 Heun path (1000 steps,
    2000 points): 99 % of the points to 1e-6, the median to 1e-7 (seen: ~1e-7 and ~1e-8; the maximum is left
    out: near a separatrix between modes the flow itself amplifies any rounding, seen up to 4e-5)."""
    x = np.random.default_rng(seed(6)).standard_normal((2000, mix.dim)) * (1.5 if t0 > t1 else 0.5)
    ours = mixture_probability_flow(x, *arrays(mix), SCH, 1000, t0=t0, t1=t1, dtype="float32")
    ref = mixture_probability_flow(x, *arrays(mix), SCH, 1000, t0=t0, t1=t1)
    error = np.abs(ours - ref).max(axis=1)
    assert np.quantile(error, 0.99) < 1e-6 and np.median(error) < 1e-7, np.quantile(error, [0.5, 0.99, 1.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reverse_sde_regenerates_mixture_moments(dtype):
    """From N(0, I) at t = 1 to t = 0 (500 steps): mean 0 and covariance (r²/2 + s²) I of the ring, z-scores
    calibrated over 4 seeds × 5 moments (the discretisation bias is ~0.1 se here)."""
    exact_var = 0.5 * 2.0**2 + RING.variances[0]
    values, ses, exact = [], [], []
    n = 25_000
    for s in seeds(400, 4):
        x = mixture_reverse_sde(np.random.default_rng(s).standard_normal((n, 2)), *arrays(RING), SCH, 500, s,
                                dtype=dtype)
        c = x - x.mean(axis=0)
        for stat, target in ((x[:, 0], 0.0), (x[:, 1], 0.0), (c[:, 0] ** 2, exact_var), (c[:, 1] ** 2, exact_var),
                             (c[:, 0] * c[:, 1], 0.0)):
            values.append(stat.mean())
            ses.append(stat.std(ddof=1) / np.sqrt(n))
            exact.append(target)
    assert_calibrated(values, ses, np.array(exact), label="reverse SDE moments")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_numbers(dtype):
    x = np.random.default_rng(seed(9)).standard_normal((700, 2))
    a = mixture_reverse_sde(x, *arrays(RING), SCH, 20, 42, dtype=dtype)
    assert np.array_equal(a, mixture_reverse_sde(x, *arrays(RING), SCH, 20, 42, dtype=dtype))
    assert not np.array_equal(a, mixture_reverse_sde(x, *arrays(RING), SCH, 20, 43, dtype=dtype))


def test_bad_input():
    x, (w, m, v) = np.zeros((4, 2)), arrays(RING)
    with pytest.raises(ValueError, match="beta_min"):
        LinearBetaSchedule(0.0, 20.0)
    with pytest.raises(ValueError, match="beta_max"):
        LinearBetaSchedule(0.1, -1.0)
    bad = [
        dict(schedule=(0.1, 20.0)), dict(x1=np.full((4, 2), np.nan)), dict(x1=np.zeros((4, 3))),
        dict(weights=w * 2), dict(weights=np.where(w == w[0], np.inf, w)), dict(variances=-v),
        dict(means=m[:, :1].ravel()), dict(n_steps=0), dict(n_steps=2.5), dict(seed=-1), dict(t_end=1.0),
        dict(dtype="float16"), dict(dtype=int),
    ]
    for change in bad:
        kw = dict(x1=x, weights=w, means=m, variances=v, schedule=SCH, n_steps=5, seed=0) | change
        with pytest.raises(ValueError):
            mixture_reverse_sde(**kw)
    with pytest.raises(ValueError, match="t1"):
        mixture_probability_flow(x, w, m, v, SCH, 5, t1=1.5)
    with pytest.raises(ValueError, match="dtype"):
        mixture_probability_flow(x, w, m, v, SCH, 5, dtype="half")


@numba.njit
def elementary(y, u1, u2, out):
    for i in range(y.size):
        out[0, i] = exp_nonpositive(y[i])
        out[1, i], out[2, i], out[3, i] = log_sincos(u1[i], u2[i])


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_polynomial_elementary_functions(dtype, tol):
    """Deterministic: the libm-free exp (y ∈ [−80, 0]), ln, sin, cos of numba_math against NumPy in float64,
    relative (exp, ln) or absolute (sin, cos) error below ~8 ulp of the precision."""
    y = -np.linspace(0.0, 80.0, 20_001).astype(dtype)
    u1 = np.linspace(1e-6, 1.0, 20_001).astype(dtype)
    u2 = np.linspace(0.0, 1.0, 20_001, endpoint=False).astype(dtype)
    out = np.empty((4, y.size), dtype)
    elementary(y, u1, u2, out)
    y, u1, theta = y.astype(float), u1.astype(float), 2 * np.pi * u2.astype(float) - np.pi
    assert out.dtype == dtype
    assert np.abs(out[0] / np.exp(y) - 1).max() < tol
    below = u1 < 1
    assert np.abs(out[1][below] / np.log(u1[below]) - 1).max() < tol and np.all(out[1][~below] == 0)
    assert np.abs(out[2] - np.sin(theta)).max() < tol and np.abs(out[3] - np.cos(theta)).max() < tol
