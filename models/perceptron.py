r"""Teacher–student perceptron: replica-symmetric learning curves of the spherical perceptron.

A teacher w* on the N-sphere labels P = αN Gaussian inputs by sign(w*·x); a student w with overlap
R = w·w*/N has generalisation error ε = arccos(R)/π. For Gibbs learning (a student drawn uniformly from the
version space, the posterior of the zero-noise likelihood under a uniform prior on the sphere) the
replica-symmetric saddle point, with teacher–student symmetry q = R, is (Engel & Van den Broeck,
*Statistical Mechanics of Learning*, 2001, ch. 2)

.. math::

    \frac{R}{\sqrt{1-R}} = \frac{\alpha}{\pi} \int Dt\, \frac{e^{-R t^2/2}}{H(-\sqrt R\, t)},
    \qquad H(x) = \tfrac12\operatorname{erfc}(x/\sqrt2),\quad Dt = \frac{e^{-t^2/2}}{\sqrt{2\pi}}dt,

with ε_Gibbs = arccos(R)/π → 0.625/α. The Bayes-optimal student (the centre of mass of the version space,
the posterior mean) has overlap √R with the teacher: ε_Bayes = arccos(√R)/π → 0.442/α.

Only the theory lives here so far (the sampling half of the issue is not built).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special

#: large-α asymptotes α·ε (Engel & Van den Broeck 2001; rounded as published)
GIBBS_ASYMPTOTE = 0.625
BAYES_ASYMPTOTE = 0.442


def _alpha(alpha: float) -> float:
    a = float(alpha)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"alpha = P/N must be a finite number > 0, got {alpha!r}")
    return a


def rs_integral(R: float) -> float:
    r""":math:`\int Dt\, e^{-Rt^2/2}/H(-\sqrt R t)`, with ln H(−√R t) = ln Φ(√R t) (``log_ndtr``, stable in
    the tail where H underflows)."""
    if not 0 <= R < 1:
        raise ValueError(f"R must lie in [0, 1), got {R!r}")
    sr = math.sqrt(R)

    def integrand(t):
        return math.exp(-0.5 * (1 + R) * t * t - float(special.log_ndtr(sr * t))) / math.sqrt(2 * math.pi)

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=0.0, epsrel=1e-12, limit=400)
    return value


def gibbs_overlap(alpha: float) -> float:
    """R(α) of Gibbs learning: the root in (0, 1) of R/√(1 − R) − (α/π) ∫Dt e^{−Rt²/2}/H(−√R t)
    (negative at R = 0, where it is −2α/π, and → +∞ as R → 1). Solved in u = −ln(1 − R), which keeps
    the root resolvable at large α where 1 − R ~ α⁻²."""
    a = _alpha(alpha)

    def f(u):
        R = -math.expm1(-u)
        return R * math.exp(0.5 * u) - a / math.pi * rs_integral(R)

    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
        if hi > 200:
            raise ValueError(f"alpha = {a} is too large for double precision (1 − R below 1e-87)")
    u = optimize.brentq(f, 1e-300, hi, xtol=1e-14, rtol=1e-14)
    return -math.expm1(-u)


def gibbs_error(alpha: float) -> float:
    """ε_Gibbs(α) = arccos(R)/π on the replica-symmetric learning curve."""
    return math.acos(gibbs_overlap(alpha)) / math.pi


def bayes_error(alpha: float) -> float:
    """ε_Bayes(α) = arccos(√R)/π: the posterior-mean (centre-of-mass) student, overlap √R with the teacher."""
    return math.acos(math.sqrt(gibbs_overlap(alpha))) / math.pi


def learning_curves(alphas) -> dict[str, np.ndarray]:
    """R, ε_Gibbs and ε_Bayes on a grid of α > 0."""
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    R = np.array([gibbs_overlap(a) for a in alphas])
    return {"alpha": alphas, "R": R, "gibbs": np.arccos(R) / math.pi, "bayes": np.arccos(np.sqrt(R)) / math.pi}
