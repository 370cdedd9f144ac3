r"""The Hopfield network: Hebbian couplings, energy, PyMC model, the AGS retrieval curve, the RBM link.

.. math::

    E(s) = -\tfrac12 \sum_{i\ne j} J_{ij} s_i s_j, \qquad
    J_{ij} = \frac1N \sum_{\mu=1}^{P} \xi^\mu_i \xi^\mu_j\ (i \ne j),\ J_{ii} = 0, \qquad
    m_\mu(s) = \frac1N \sum_i \xi^\mu_i s_i,

with P random patterns :math:`\xi^\mu \in \{-1,+1\}^N` at load :math:`\alpha = P/N` (Hopfield 1982). At
temperature T, :math:`P(s) \propto e^{-E(s)/T}` is the Ising model on the complete graph with couplings
:math:`K = J/T` (the PyMC model :func:`hopfield_model`). Since
:math:`\sum_{i\ne j}\xi_i\xi_j s_i s_j = (\xi\cdot s)^2 - N`, :math:`E = -\tfrac N2\sum_\mu m_\mu^2 + \tfrac P2`.

**Amit–Gutfreund–Sompolinsky** (AGS 1985, 1987), replica-symmetric retrieval at T = 0: the overlap with the
retrieved pattern is :math:`m = \operatorname{erf}(y)` where y solves

.. math::

    y\Big(\sqrt{2\alpha} + \tfrac{2}{\sqrt\pi} e^{-y^2}\Big) = \operatorname{erf}(y)
    \iff \sqrt{2\alpha} = g(y) \equiv \frac{\operatorname{erf}(y)}{y} - \frac{2}{\sqrt\pi} e^{-y^2}.

g rises from 0 (y → 0) to a maximum at y* and falls back to 0, so the retrieval (largest) root exists
for :math:`\alpha \le \alpha_c = g(y^*)^2/2 \approx 0.138` with :math:`m(\alpha_c) = \operatorname{erf}(y^*)
\approx 0.967` (AGS 1987: α_c ≈ 0.138, m_c ≈ 0.967); above α_c only the non-retrieval solution m = 0
is left. Computed here by ``scipy.optimize`` (the maximum of g, then brentq on y > y*).

At temperature T = 1/β the RS retrieval solution (AGS 1987, eqs. 4.6–4.8) solves

.. math::

    m = \langle\!\langle \tanh\beta(m + \sqrt{\alpha r}\,z)\rangle\!\rangle,\quad
    q = \langle\!\langle \tanh^2\beta(m + \sqrt{\alpha r}\,z)\rangle\!\rangle,\quad
    r = \frac{q}{(1 - \beta(1 - q))^2},

z ~ N(0, 1) (Gauss–Hermite), found by iterating from m = q = 1; it reduces to the T = 0 curve as β → ∞
and to m = tanh(βm) (T_M = 1) as α → 0. The retrieval boundary T_M(α) is the highest T where the
iteration keeps m > 0 (bisection).

**Spurious symmetric 3-mixtures** :math:`s = \operatorname{sign}(\xi^1+\xi^2+\xi^3)` have overlaps 1/2 with
each of the three patterns, so for α → 0 their energy per spin is :math:`-\tfrac12\cdot 3\cdot\tfrac14 =
-3/8`, above the patterns' :math:`-1/2` (AGS 1985).

**Boltzmann-machine link** (the book's §1.2): with P Gaussian hidden units,
:math:`p(s, x) \propto \exp(-\tfrac12|x|^2 + N^{-1/2}\sum_\mu x_\mu\, \xi^\mu\cdot s)`, summing the hidden
layer out gives :math:`\int d^Px\, e^{\cdots} = (2\pi)^{P/2}\exp(\tfrac{1}{2N}\sum_\mu (\xi^\mu\cdot s)^2)
= (2\pi)^{P/2} e^{P/2} e^{-E(s)}` — the Hopfield energy at T = 1 up to a constant
(:func:`rbm_marginal_log_weight` does the integral by quadrature, so the identity is tested, not assumed).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special

from physml.inference.spins.dense_heat_bath import check_dense_couplings
from physml.inference.spins.lattice import IsingCouplings, couplings_from_matrix
from physml.models.ising import ising_model_from_couplings

__all__ = ["random_patterns", "check_patterns", "hebbian_couplings", "hopfield_energy", "overlaps",
           "hopfield_couplings", "hopfield_model", "ags_g", "ags_capacity", "ags_retrieval_overlap",
           "ags_finite_temperature", "ags_retrieval_temperature", "symmetric_mixture", "rbm_marginal_log_weight", "AGS_CAPACITY_PUBLISHED", "AGS_M_AT_CAPACITY_PUBLISHED"]

AGS_CAPACITY_PUBLISHED = 0.138  # Amit, Gutfreund & Sompolinsky, Ann. Phys. 173, 30 (1987)
AGS_M_AT_CAPACITY_PUBLISHED = 0.967


def _count(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def random_patterns(n: int, p: int, seed) -> np.ndarray:
    """P independent uniform ±1 patterns of N ≥ 2 spins, shape (P, N), int8."""
    n, p = _count("N", n, 2), _count("P", p, 1)
    return (2 * np.random.default_rng(seed).integers(0, 2, size=(p, n), dtype=np.int8) - 1).astype(np.int8)


def check_patterns(patterns) -> np.ndarray:
    """``patterns`` as a (P ≥ 1, N ≥ 2) float array of ±1 (ValueError naming what is wrong)."""
    xi = np.asarray(patterns)
    if xi.ndim != 2:
        raise ValueError(f"patterns must have shape (P, N), got shape {xi.shape}")
    if xi.shape[0] < 1:
        raise ValueError(f"P (number of patterns) must be >= 1, got {xi.shape[0]}")
    if xi.shape[1] < 2:
        raise ValueError(f"N (pattern length) must be >= 2, got {xi.shape[1]}")
    if not np.all(np.abs(xi) == 1):
        raise ValueError("patterns must have entries in {-1, +1}")
    return xi.astype(np.float64)


def hebbian_couplings(patterns) -> np.ndarray:
    r""":math:`J = \xi^\top\xi / N` with zero diagonal, shape (N, N)."""
    xi = check_patterns(patterns)
    J = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(J, 0.0)
    return J


def hopfield_energy(spins, J) -> np.ndarray:
    r""":math:`E(s) = -\tfrac12 s^\top J s` for spins of shape (..., N); J symmetric with zero diagonal."""
    mat = check_dense_couplings(J)
    s = np.asarray(spins, dtype=float)
    return -0.5 * np.einsum("...i,ij,...j->...", s, mat, s)


def overlaps(spins, patterns) -> np.ndarray:
    r""":math:`m_\mu = \xi^\mu\cdot s / N` for spins (..., N): shape (..., P)."""
    xi = check_patterns(patterns)
    return np.asarray(spins, dtype=float) @ xi.T / xi.shape[1]


def hopfield_couplings(patterns, T: float) -> IsingCouplings:
    """Ising couplings K = J/T of the network at temperature T > 0 (no field)."""
    if isinstance(T, bool) or not isinstance(T, (int, float, np.floating)) or not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a finite number > 0, got {T!r}")
    return couplings_from_matrix(hebbian_couplings(patterns) / T)


def hopfield_model(patterns, T: float):
    """Declarative PyMC model of the Boltzmann distribution e^{−E/T}/Z (the Ising model on K = J/T)."""
    return ising_model_from_couplings(hopfield_couplings(patterns, T))


# ------------------------------------------------------------------ AGS replica-symmetric theory, T = 0
def ags_g(y) -> np.ndarray:
    r""":math:`g(y) = \operatorname{erf}(y)/y - (2/\sqrt\pi)e^{-y^2}`; the retrieval root solves :math:`g = \sqrt{2\alpha}`."""
    y = np.asarray(y, dtype=float)
    return special.erf(y) / y - 2.0 / math.sqrt(math.pi) * np.exp(-y * y)


def _peak() -> tuple[float, float]:
    res = optimize.minimize_scalar(lambda y: -float(ags_g(y)), bounds=(0.1, 5.0), method="bounded",
                                   options={"xatol": 1e-12})
    return float(res.x), float(-res.fun)


def ags_capacity() -> dict:
    """α_c = g(y*)²/2 and the overlap m = erf(y*) at it (the end of the retrieval branch)."""
    y_star, g_max = _peak()
    return {"alpha_c": 0.5 * g_max ** 2, "m_c": float(special.erf(y_star)), "y": y_star}


def ags_retrieval_overlap(alpha: float) -> float:
    """RS retrieval overlap m(α) at T = 0 (largest root); 0 above α_c, where only m = 0 is left."""
    if not (isinstance(alpha, (int, float, np.floating)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if alpha == 0:
        return 1.0
    y_star, g_max = _peak()
    target = math.sqrt(2.0 * alpha)
    if target > g_max:
        return 0.0
    hi = max(y_star + 1.0, 2.0)
    while float(ags_g(hi)) > target:
        hi *= 2.0
    y = optimize.brentq(lambda v: float(ags_g(v)) - target, y_star, hi, xtol=1e-14)
    return float(special.erf(y))


def _gauss_nodes(T: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E f(z), z ~ N(0, 1): Gauss–Hermite (81) for T ≥ 0.05; below, where tanh βx is
    nearly a step, the trapezoid rule on 8001 points of [−10, 10] (resolves the step to T ≈ 0.002)."""
    if T >= 0.05:
        z, w = np.polynomial.hermite_e.hermegauss(81)
    else:
        z = np.linspace(-10.0, 10.0, 8001)
        w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def ags_finite_temperature(alpha: float, T: float, *, iterations: int = 4000) -> dict:
    """RS retrieval solution (m, q, r) at load α ≥ 0 and temperature T > 0, iterated from m = q = 1."""
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a finite number > 0, got {T!r}")
    z, w = _gauss_nodes(T)
    beta, m, q = 1.0 / T, 1.0, 1.0
    for _ in range(iterations):
        r = q / max(1.0 - beta * (1.0 - q), 1e-12) ** 2
        t = np.tanh(beta * (m + math.sqrt(alpha * r) * z))
        m_new, q = float(w @ t), float(w @ t ** 2)
        if abs(m_new - m) < 1e-13:
            m = m_new
            break
        m = m_new
    return {"m": m, "q": q, "r": q / max(1.0 - beta * (1.0 - q), 1e-12) ** 2}


def ags_retrieval_temperature(alpha: float, *, tol: float = 1e-3) -> float:
    """T_M(α): the highest temperature with an RS retrieval solution (m > 0.05), by bisection on T."""
    if not (math.isfinite(alpha) and 0 <= alpha < ags_capacity()["alpha_c"]):
        raise ValueError(f"alpha must be in [0, alpha_c = {ags_capacity()['alpha_c']:.4f}), got {alpha!r}")
    lo, hi = 1e-3, 1.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ags_finite_temperature(alpha, mid)["m"] > 0.05 else (lo, mid)
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------ landscape and the RBM link
def symmetric_mixture(patterns, which=(0, 1, 2)) -> np.ndarray:
    r"""The symmetric 3-mixture :math:`\operatorname{sign}(\xi^a + \xi^b + \xi^c)` (int8)."""
    xi = check_patterns(patterns)
    if len(which) != 3 or len(set(which)) != 3 or min(which) < 0 or max(which) >= xi.shape[0]:
        raise ValueError(f"which must name 3 distinct patterns in [0, {xi.shape[0] - 1}], got {which!r}")
    return np.sign(xi[list(which)].sum(axis=0)).astype(np.int8)


def rbm_marginal_log_weight(spins, patterns) -> float:
    r""":math:`\ln\int d^Px\,\exp(-\tfrac12|x|^2 + N^{-1/2}\sum_\mu x_\mu\,\xi^\mu\cdot s)` by quadrature over each
    Gaussian hidden unit (they are independent given s): the RBM's visible log weight."""
    xi = check_patterns(patterns)
    s = np.asarray(spins, dtype=float).reshape(-1)
    if s.shape != (xi.shape[1],) or not np.all(np.abs(s) == 1):
        raise ValueError(f"spins must have shape ({xi.shape[1]},) with values in {{-1, +1}}")
    fields = xi @ s / math.sqrt(xi.shape[1])
    if np.max(np.abs(fields)) > 25.0:
        raise ValueError("spins and patterns give a hidden-unit field |ξ·s|/√N > 25 (the plain integral overflows)")
    total = 0.0
    for b in fields:  # the raw integrand, split at its mode b; no completing the square by hand
        def weight(x, b=b):
            return math.exp(-0.5 * x * x + b * x)
        val = sum(integrate.quad(weight, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
                  for lo, hi in ((-np.inf, b), (b, np.inf)))
        total += math.log(val)
    return total
