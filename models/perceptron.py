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

Sampling (data, the PyMC model of Gibbs learning, the students' errors) comes after the theory. Data: the
teacher :math:`w^*` uniform on the unit sphere, inputs :math:`x_\mu \sim \mathcal N(0, I_N)`, labels
:math:`y_\mu = \operatorname{sign}(w^*\cdot x_\mu)`, P = round(αN). Student: :math:`w = z/\lVert z\rVert` with
:math:`z \sim \mathcal N(0, I_N)` (so w is uniform on the sphere), and the version-space indicator
:math:`\Theta(y_\mu w\cdot x_\mu)` softened to the probit

.. math::

    p(y_\mu \mid w, x_\mu) = \Phi\!\left(\frac{y_\mu\, w\cdot x_\mu}{T}\right),

the likelihood of labels :math:`y = \operatorname{sign}(w\cdot x + T\eta)`, η ~ N(0, 1) (output noise of sd T
on a stability of order 1, since ‖w‖ = 1 and x has unit-variance components; the convention with
x ~ N(0, I/N) writes the same as Φ(y w·x √N / T)). As T → 0 it tends to Θ(y w·x): the posterior becomes the
uniform measure on the version space. The exact T = 0 posterior is sampled without softening by
:func:`~physml.inference.mcmc.cone_hmc.sample_cone_gaussian` (z Gaussian restricted to the cone
:math:`\{y_\mu x_\mu\cdot z > 0\}`). Errors: the Gibbs student is one posterior draw,
:math:`\varepsilon_G = \langle\arccos(R)\rangle/\pi`, :math:`R = w\cdot w^*`; the Bayes student is the posterior
mean direction :math:`\bar w/\lVert\bar w\rVert`, whose overlap is :math:`\langle R\rangle/\sqrt{q}` with
:math:`q = \lVert\langle w\rangle\rVert^2` estimated without the draw-noise bias as the overlap of the mean
directions of two independent halves of the draws.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special

import pymc as pm
import pytensor.tensor as pt

#: large-α asymptotes α·ε (Engel & Van den Broeck 2001; rounded as published)
GIBBS_ASYMPTOTE = 0.625
BAYES_ASYMPTOTE = 0.442


def check_alpha(alpha: float) -> float:
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
    a = check_alpha(alpha)

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


# ----------------------------------------------------------------- data and the PyMC model of Gibbs learning
def check_size(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n = N (number of weights) must be an integer >= 2, got {n!r}")
    return int(n)


def n_examples(n: int, alpha: float) -> int:
    """P = round(αN) ≥ 1."""
    return max(1, int(round(check_alpha(alpha) * check_size(n))))


def teacher_student_data(n: int, alpha: float, rng: np.random.Generator):
    """(teacher w* uniform on the unit sphere, inputs X (P, N) ~ N(0, 1), labels y = sign(X w*) in ±1)."""
    p = n_examples(n, alpha)
    teacher = rng.standard_normal(n)
    teacher /= np.linalg.norm(teacher)
    X = rng.standard_normal((p, n))
    return teacher, X, np.where(X @ teacher > 0, 1.0, -1.0)


def check_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    """X (P, N ≥ 2) finite and labels y (P,) in ±1; ValueError naming the argument."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[1] < 2 or X.shape[0] < 1:
        raise ValueError(f"X must have shape (P, N) with P >= 1 and N >= 2, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    if y.shape != (X.shape[0],) or not np.all(np.abs(y) == 1):
        raise ValueError(f"y must have shape ({X.shape[0]},) with labels in {{-1, +1}}")
    return X, y


def _probit_logp(value, field):
    return pm.logcdf(pm.Normal.dist(0.0, 1.0), value * field)


def gibbs_model(X, y, temperature: float) -> pm.Model:
    """PyMC model: z ~ N(0, I), w = z/‖z‖ (Deterministic), y_μ ~ probit Φ(y_μ w·x_μ / T) (observed)."""
    X, y = check_data(X, y)
    T = float(temperature)
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    p, n = X.shape
    with pm.Model(coords={"weight": np.arange(n), "example": np.arange(p)}) as model:
        z = pm.Normal("z", 0.0, 1.0, dims="weight")
        w = pm.Deterministic("w", z / pt.sqrt(pt.sum(z**2)), dims="weight")
        pm.CustomDist("y", pt.dot(X, w) / T, logp=_probit_logp, observed=y, dims="example")
    return model


def directions(draws) -> np.ndarray:
    """Unit vectors w = z/‖z‖ of draws (..., N)."""
    z = np.asarray(draws, dtype=float)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def student_errors(draws, teacher) -> dict:
    """ε of the Gibbs student (mean over draws of arccos(R)/π) and of the Bayes student (posterior-mean direction)
    from draws (M ≥ 4, N) in chain order, with q = ‖⟨w⟩‖² from two independent halves (see the module docstring)."""
    w = directions(draws)
    if w.ndim != 2 or len(w) < 4:
        raise ValueError(f"draws must have shape (M, N) with M >= 4, got {w.shape}")
    R = np.clip(w @ np.asarray(teacher, dtype=float), -1.0, 1.0)
    half = len(w) // 2
    q_halves = float(w[:half].mean(axis=0) @ w[half:].mean(axis=0))
    mean = w.mean(axis=0)
    r_bayes_naive = float(mean @ teacher / np.linalg.norm(mean))
    r_bayes = float(np.clip(R.mean() / math.sqrt(q_halves), -1.0, 1.0)) if q_halves > 0 else r_bayes_naive
    return {"R": float(R.mean()), "gibbs": float(np.mean(np.arccos(R)) / math.pi),
            "bayes": math.acos(r_bayes) / math.pi, "bayes_naive": math.acos(np.clip(r_bayes_naive, -1, 1)) / math.pi,
            "q": q_halves}
