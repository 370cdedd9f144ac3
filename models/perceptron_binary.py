r"""Binary (Ising) teacher–student perceptron: training-error energy and the replica-symmetric transition.

Teacher and student :math:`w, w^* \in\{-1,+1\}^N`, inputs :math:`x_\mu\sim\mathcal N(0, I_N)`, labels
:math:`y_\mu = \operatorname{sign}(w^*\cdot x_\mu)`; energy :math:`E(w) = \sum_\mu\Theta(-y_\mu w\cdot x_\mu)` (the
training errors), sampled by :class:`~physml.inference.spins.perceptron_metropolis.PerceptronMetropolisKernel`.
Overlap R = w·w*/N, ε = arccos(R)/π.

Gibbs learning (β → ∞) is Bayes-optimal here (student prior = teacher prior), so replica symmetry holds with
q = R (Nishimori). With the free entropy per weight of the fraction of consistent students
:math:`\phi = \frac1N\ln 2^{-N}\#\{w: E(w)=0\}` (Györgyi 1990; in the form of Barbier, Krzakala, Macris, Miolane &
Zdeborová, PNAS 116, 5451 (2019)),

.. math::

    \phi(q, r) = \mathbb E_z\ln\cosh(\sqrt r z + r) - \tfrac r2 + \alpha\,\Psi(q) - \tfrac{rq}2,\qquad
    \Psi(q) = 2\int Dt\, H(kt)\ln H(kt),\quad k = \sqrt{q/(1-q)},

stationary at :math:`q = \mathbb E_z\tanh(\sqrt r z + r)` and :math:`r = 2\alpha\Psi'(q) = \alpha F(q)`, with
:math:`F(q) = \frac{1}{\pi\sqrt{1-q}}\int Dt\, e^{-qt^2/2}/H(-\sqrt q t)` the same channel term as the spherical
student's (:func:`~.perceptron.rs_integral`; 2Ψ' = F is checked in the tests). The teacher alone gives
:math:`\phi = -\ln 2` (entropy s = φ + ln 2 = 0). The poor-generalisation branch (iterated from q = 0) has
entropy :math:`s(\alpha) = \phi + \ln 2` that vanishes at the first-order transition to perfect generalisation,
α_c ≈ 1.245 (Györgyi, PRA 41, 7097 (1990); Sompolinsky, Tishby & Seung, PRL 65, 1683 (1990)); the branch itself
survives as a metastable state up to its spinodal α_sp (computed here, ≈ 1.49), where the iteration runs to q = 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import integrate, optimize, special

from .perceptron import check_alpha, n_examples, rs_integral

ALPHA_C_PUBLISHED = 1.245  # Györgyi 1990


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(200)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)  # ∫Dt f(t) ≈ Σ w f(t)
Q_GRID = np.linspace(0.0, 0.999, 1000)


def _gauss(f) -> float:
    def integrand(t):
        return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi) * f(t)
    return integrate.quad(integrand, -np.inf, np.inf, epsabs=0.0, epsrel=1e-11, limit=400)[0]


def channel_entropy(q: float) -> float:
    """Ψ(q) = 2∫Dt H(kt) ln H(kt), k = √(q/(1−q)); Ψ(0) = −ln 2, Ψ(1⁻) = 0."""
    if not 0 <= q < 1:
        raise ValueError(f"q must lie in [0, 1), got {q!r}")
    k = math.sqrt(q / (1 - q))
    return _gauss(lambda t: 2 * 0.5 * special.erfc(k * t / math.sqrt(2)) * float(special.log_ndtr(-k * t)))


def channel_slope(q: float) -> float:
    """F(q) = 2Ψ'(q) = ∫Dt e^{−qt²/2}/H(−√q t) / (π√(1−q))."""
    return rs_integral(q) / (math.pi * math.sqrt(1 - q))


@functools.cache
def _slope_grid() -> np.ndarray:
    return np.array([channel_slope(float(q)) for q in Q_GRID])


def prior_entropy(r) -> np.ndarray | float:
    """E_z ln cosh(√r z + r) − r/2 (Rademacher prior, teacher gauged to +1; Gauss–Hermite, 200 nodes)."""
    r = np.asarray(r, dtype=float)[..., None]
    a = np.sqrt(r) * _NODES + r
    return (np.logaddexp(a, -a) - math.log(2)) @ _WEIGHTS - 0.5 * r[..., 0]


def prior_overlap(r) -> np.ndarray | float:
    """q = E_z tanh(√r z + r) (Gauss–Hermite, 200 nodes)."""
    r = np.asarray(r, dtype=float)[..., None]
    return np.tanh(np.sqrt(r) * _NODES + r) @ _WEIGHTS


def poor_branch(alpha: float) -> dict | None:
    """The smallest root q < 1 of q = E tanh(√r z + r), r = αF(q) (the branch continued from q = 0 at α = 0),
    located on a grid of q and refined by brentq, with its entropy s = φ + ln 2; None when that equation has no
    root below q = 0.999 (beyond the spinodal)."""
    a = check_alpha(alpha)
    gap = prior_overlap(a * _slope_grid()) - Q_GRID
    below = np.nonzero(gap < 0)[0]
    if below.size == 0:
        return None
    i = below[0]
    q = optimize.brentq(lambda x: float(prior_overlap(a * channel_slope(x))) - x, Q_GRID[i - 1], Q_GRID[i],
                        xtol=1e-13)
    r = a * channel_slope(q)
    s = float(prior_entropy(r)) + a * channel_entropy(q) - 0.5 * r * q + math.log(2)
    return {"alpha": a, "R": q, "entropy": s, "epsilon": math.acos(q) / math.pi}


def transition() -> dict:
    """α_c (entropy of the poor branch = 0, brentq) and the spinodal α_sp (bisection to 1e-4)."""
    alpha_c = optimize.brentq(lambda a: poor_branch(a)["entropy"], 1.0, 1.4, xtol=1e-6)
    lo, hi = 1.4, 1.7
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if poor_branch(mid) is not None else (lo, mid)
    return {"alpha_c": alpha_c, "alpha_spinodal": lo, "R_at_alpha_c": poor_branch(alpha_c)["R"]}


def binary_data(n: int, alpha: float, rng: np.random.Generator):
    """(teacher w* uniform in {±1}^N (int8), X (P, N) ~ N(0, 1), labels y = sign(X w*)), P = round(αN)."""
    p = n_examples(n, alpha)
    teacher = (2 * rng.integers(0, 2, n) - 1).astype(np.int8)
    X = rng.standard_normal((p, n))
    return teacher, X, np.where(X @ teacher > 0, 1.0, -1.0)
