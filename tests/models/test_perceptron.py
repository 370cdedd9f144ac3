"""Replica-symmetric learning curves of the spherical teacher–student perceptron (models/perceptron.py) against
the published large-α asymptotes (Engel & Van den Broeck 2001: ε_Gibbs ≈ 0.625/α, ε_Bayes ≈ 0.442/α), the
small-α expansion, an independent Gauss–Hermite quadrature of the saddle-point integral, and bad input."""
import math

import numpy as np
import pytest
from scipy import special

from physml.models import perceptron as pc


@pytest.mark.parametrize("R", [0.0, 0.3, 0.7, 0.95])
def test_rs_integral_against_gauss_hermite(R):
    t, w = np.polynomial.hermite_e.hermegauss(120)  # ∫ Dt f(t) = Σ w f(t) / √(2π)
    f = np.exp(-R * t**2 / 2) / (0.5 * special.erfc(-math.sqrt(R) * t / math.sqrt(2)))
    assert pc.rs_integral(R) == pytest.approx(float(w @ f) / math.sqrt(2 * math.pi), rel=1e-6)
    if R == 0:
        assert pc.rs_integral(R) == pytest.approx(2.0, rel=1e-12)  # 1/H(0) = 2


def test_overlap_solves_the_saddle_point_equation():
    for a in (0.5, 1.0, 2.0, 5.0, 20.0):
        R = pc.gibbs_overlap(a)
        assert R / math.sqrt(1 - R) == pytest.approx(a / math.pi * pc.rs_integral(R), rel=1e-10)


def test_small_alpha_expansion():
    # R/√(1−R) ≈ 2α/π at small α (the integral is 2 at R = 0)
    a = 1e-4
    assert pc.gibbs_overlap(a) == pytest.approx(2 * a / math.pi, rel=1e-3)
    assert pc.gibbs_error(a) == pytest.approx(0.5, abs=1e-4)


def test_large_alpha_asymptotes_match_published_values():
    a = 1e4
    assert abs(a * pc.gibbs_error(a) - pc.GIBBS_ASYMPTOTE) < 5e-4  # published to 3 digits
    assert abs(a * pc.bayes_error(a) - pc.BAYES_ASYMPTOTE) < 5e-4
    # α ε(α) rises monotonically to its limit
    c = [x * pc.gibbs_error(x) for x in (10.0, 100.0, 1000.0, 1e4)]
    assert all(u < v for u, v in zip(c, c[1:]))


def test_curves_are_ordered_and_monotone():
    curves = pc.learning_curves(np.geomspace(0.1, 50, 15))
    assert np.all(np.diff(curves["gibbs"]) < 0) and np.all(np.diff(curves["bayes"]) < 0)
    assert np.all(curves["bayes"] < curves["gibbs"]) and np.all(curves["gibbs"] < 0.5)
    assert np.allclose(curves["bayes"], [pc.bayes_error(a) for a in curves["alpha"]], rtol=1e-12)


@pytest.mark.parametrize("call,match", [
    (lambda: pc.gibbs_overlap(0.0), "alpha"), (lambda: pc.gibbs_error(-1.0), "alpha"),
    (lambda: pc.bayes_error(float("nan")), "alpha"), (lambda: pc.learning_curves([1.0, math.inf]), "alpha"),
    (lambda: pc.rs_integral(1.0), "R must lie"), (lambda: pc.rs_integral(-0.1), "R must lie"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
