r"""Flatness as free energy: the local free energy of a quadratic loss in closed form, and the Hessian spectrum.

A quadratic loss :math:`L(w') = c + \tfrac12 (w'-m)^\top A (w'-m)`, :math:`A \succ 0`, has

.. math:: F_\gamma(w) = -\ln \int e^{-L(w') - \frac\gamma2 \lVert w'-w\rVert^2} dw'
          = c + \tfrac12\,\gamma\,\delta^\top A (A + \gamma I)^{-1} \delta + \tfrac12 \ln\det(A + \gamma I)
          - \tfrac n2 \ln 2\pi, \qquad \delta = w - m,

by completing the square (:math:`A - A(A+\gamma I)^{-1}A = \gamma A (A+\gamma I)^{-1}`): the reference for
:mod:`physml.inference.training.local_free_energy`. Flat directions (small eigenvalues :math:`a_i` of
:math:`A`) contribute :math:`\tfrac12\ln(a_i+\gamma) \approx \tfrac12 \ln\gamma`, sharp ones
:math:`\tfrac12 \ln a_i`: at equal depth :math:`c` the flatter minimum has the lower free energy.

The Hessian of a network at a minimum is reached through Hessian-vector products only
(:func:`top_eigenvalues`: Lanczos, :func:`hutchinson_trace`: :math:`\mathrm{tr} H = \mathbb{E}[z^\top H z]`
for Rademacher :math:`z`, with its se).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["QuadraticLoss", "exact_local_free_energy", "top_eigenvalues", "hutchinson_trace"]


class QuadraticLoss(NamedTuple):
    """L(w') = c + ½ (w' − m)ᵀ A (w' − m)."""

    A: np.ndarray
    m: np.ndarray
    c: float = 0.0

    def loss_grad(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (chains,) and gradients (chains, n) at the rows of W."""
        d = np.atleast_2d(W) - self.m
        ad = d @ self.A
        return self.c + 0.5 * np.sum(d * ad, axis=1), ad

    def hessian(self, _x=None) -> np.ndarray:
        return self.A


def exact_local_free_energy(loss: QuadraticLoss, w, gamma: float) -> float:
    """The closed form of the module docstring."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    A, n = np.asarray(loss.A, float), len(loss.m)
    delta = np.asarray(w, float) - loss.m
    shifted = A + gamma * np.eye(n)
    quad = gamma * float(delta @ A @ np.linalg.solve(shifted, delta))
    return loss.c + 0.5 * quad + 0.5 * np.linalg.slogdet(shifted)[1] - 0.5 * n * math.log(2 * math.pi)


def top_eigenvalues(hvp, n: int, k: int = 6, seed: int = 0) -> np.ndarray:
    """The k largest (algebraic) eigenvalues of the symmetric operator v ↦ hvp(v) on R^n, descending (Lanczos)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((n, n), matvec=lambda v: hvp(np.asarray(v, float).ravel()), dtype=float)
    v0 = np.random.default_rng(seed).standard_normal(n)
    return np.sort(eigsh(op, k=min(k, n - 1), which="LA", v0=v0, return_eigenvectors=False))[::-1]


def hutchinson_trace(hvp, n: int, probes: int, rng: np.random.Generator) -> tuple[float, float]:
    """(tr H estimate, its se) from ``probes`` Rademacher vectors."""
    z = rng.choice([-1.0, 1.0], size=(probes, n))
    values = np.array([float(v @ hvp(v)) for v in z])
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(probes))
