"""Mode connectivity: the Bézier curve's end points, and on a ring-shaped valley (a barrier on the straight
line through its centre) the optimised curve's highest loss stays below the straight line's."""
import numpy as np
import pytest
from seeding import seed

from physml.inference.training import mode_connectivity as mc


def ring(W):
    """L = 5 (|w|² − 1)²: zero on the unit circle, 5 at the centre."""
    W = np.atleast_2d(W)
    r2 = np.sum(W * W, axis=1)
    return 5 * (r2 - 1) ** 2, 20 * (r2 - 1)[:, None] * W


def test_bezier_end_points_and_straight_line():
    rng = np.random.default_rng(seed(0))
    w1, w2, theta = rng.standard_normal((3, 6))
    ends = mc.bezier_points(w1, theta, w2, [0.0, 1.0])
    assert np.allclose(ends, [w1, w2], rtol=0, atol=1e-15)
    ts = np.linspace(0, 1, 7)
    assert np.allclose(mc.bezier_points(w1, 0.5 * (w1 + w2), w2, ts), (1 - ts[:, None]) * w1 + ts[:, None] * w2)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_bezier_goes_round_the_barrier(k):
    w1, w2 = np.array([1.0, 0.0]), np.array([-1.0, 0.0])
    theta = mc.fit_bezier(ring, w1, w2, rng=np.random.default_rng(seed(k)))
    t, line = mc.path_losses(ring, w1, w2)
    _, curve = mc.path_losses(ring, w1, w2, theta)
    assert t[0] == 0 and t[-1] == 1 and curve[0] == pytest.approx(0, abs=1e-12) and curve[-1] == pytest.approx(0, abs=1e-12)
    assert mc.barrier(line) == pytest.approx(5.0, abs=1e-9)
    assert mc.barrier(curve) <= mc.barrier(line) and mc.barrier(curve) < 0.5
    with pytest.raises(ValueError, match="n_points"):
        mc.fit_bezier(ring, w1, w2, n_points=1)
