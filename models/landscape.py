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

A small problem where it is exact (:class:`TeacherStudent`): a one-hidden-layer student with the squared ReLU
:math:`s(z) = \tfrac12\max(z, 0)^2`, :math:`f(x) = a^\top s(W x + b) + c` (:math:`d = H(D+2)+1` weights), fitted
to :math:`n` noisy outputs of a teacher of the same form, :math:`y = f_\star(x) + \sigma\epsilon`, loss in nats

.. math:: L(w) = \frac{1}{2\sigma^2}\sum_{i=1}^n \big(f_w(x_i) - y_i\big)^2, \qquad
          \nabla^2 L = \frac{1}{\sigma^2}\Big(J^\top J + \sum_i r_i \nabla^2 f_w(x_i)\Big),

:math:`J_{ij} = \partial f_w(x_i)/\partial w_j`, :math:`r_i = f_w(x_i) - y_i`. With :math:`u = (x, 1)` and
:math:`\theta_h = (W_h, b_h)`, the only second derivatives of :math:`f` are :math:`\partial^2 f/\partial\theta_h^2 =
a_h \mathbb{1}[z_h > 0]\, u u^\top` and :math:`\partial^2 f/\partial a_h \partial\theta_h = \max(z_h, 0)\, u`: the
dense Hessian is exact and cheap (:meth:`TeacherStudent.hessian`). (The plain ReLU's minima under weight decay
sit on its kinks, where L has no Hessian; the squared ReLU's gradient is continuous.) The test error is the
mean squared distance to the teacher's noiseless function on fresh inputs.

Dinh et al. (2017): :math:`s` is positively homogeneous of degree 2, so :math:`(W, b, a) \to (\alpha W, \alpha b,
a/\alpha^2)` (:func:`rescale_layers`) leaves the function, the loss and the test error unchanged but maps the
Hessian to :math:`S^{-1} H S^{-1}` (:math:`S` diagonal, entries :math:`\alpha`, :math:`\alpha^{-2}`, 1): its top
eigenvalue, trace and :math:`\ln\det(H + \gamma I)` change. The elementwise-normalised Hessian :math:`D H D`,
:math:`D = \mathrm{diag}(|w|)` (:func:`normalised_hessian`), is invariant under any such diagonal rescaling
(:math:`SD\,S^{-1}HS^{-1}\,SD = DHD`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["QuadraticLoss", "exact_local_free_energy", "top_eigenvalues", "hutchinson_trace", "TeacherStudent",
           "teacher_student", "rescale_layers", "normalised_hessian"]


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


class TeacherStudent(NamedTuple):
    """Training inputs ``x`` (n, D), outputs ``y`` (n,), noise sd ``sigma``, student width ``hidden``, and the
    teacher's flat weights ``teacher`` (width ``teacher_hidden``) with test inputs ``x_test`` (m, D)."""

    x: np.ndarray
    y: np.ndarray
    sigma: float
    hidden: int
    teacher: np.ndarray
    teacher_hidden: int
    x_test: np.ndarray

    @property
    def n_weights(self) -> int:
        return self.hidden * (self.x.shape[1] + 2) + 1

    def unpack(self, w: np.ndarray, hidden: int | None = None):
        """(W (C, H, D), b (C, H), a (C, H), c (C,)) from flat weights (C, d) in that order."""
        h, dim = hidden or self.hidden, self.x.shape[1]
        w = np.atleast_2d(w)
        cut = np.cumsum([h * dim, h, h])
        return w[:, :cut[0]].reshape(-1, h, dim), w[:, cut[0]:cut[1]], w[:, cut[1]:cut[2]], w[:, cut[2]]

    def predict(self, w: np.ndarray, x: np.ndarray, hidden: int | None = None) -> np.ndarray:
        """f_w(x) for every row of w: (C, len(x))."""
        W, b, a, c = self.unpack(w, hidden)
        relu = np.maximum(np.einsum("chd,nd->cnh", W, x) + b[:, None, :], 0.0)
        return np.einsum("cnh,ch->cn", 0.5 * relu * relu, a) + c[:, None]

    def loss_grad(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L and ∇L at the rows of w (C, d): ((C,), (C, d))."""
        W, b, a, c = self.unpack(w)
        relu = np.maximum(np.einsum("chd,nd->cnh", W, self.x) + b[:, None, :], 0.0)
        act = 0.5 * relu * relu
        r = np.einsum("cnh,ch->cn", act, a) + c[:, None] - self.y
        s2 = self.sigma ** 2
        dz = (r[:, :, None] * a[:, None, :]) * relu
        grad = np.concatenate([np.einsum("cnh,nd->chd", dz, self.x).reshape(len(r), -1), dz.sum(axis=1),
                               np.einsum("cn,cnh->ch", r, act), r.sum(axis=1, keepdims=True)], axis=1)
        return 0.5 * np.sum(r * r, axis=1) / s2, grad / s2

    def hessian(self, w: np.ndarray) -> np.ndarray:
        """The exact ∇²L (d, d) at one weight vector (module docstring)."""
        W, b, a, c = (x[0] for x in self.unpack(w))
        relu = np.maximum(self.x @ W.T + b, 0.0)                    # (n, H)
        r = 0.5 * (relu * relu) @ a + c - self.y
        h, dim, n = self.hidden, self.x.shape[1], len(self.y)
        jac = np.concatenate([((relu * a)[:, :, None] * self.x[:, None, :]).reshape(n, -1), relu * a,
                              0.5 * relu * relu, np.ones((n, 1))], axis=1)
        u = np.concatenate([self.x, np.ones((n, 1))], axis=1)      # (n, D + 1)
        second = jac.T @ jac
        for k in range(h):
            theta = np.append(np.arange(k * dim, (k + 1) * dim), h * dim + k)
            on = r * (relu[:, k] > 0)
            second[np.ix_(theta, theta)] += a[k] * (u.T * on) @ u
            cross = (r * relu[:, k]) @ u
            second[h * (dim + 1) + k, theta] += cross
            second[theta, h * (dim + 1) + k] += cross
        return second / self.sigma ** 2

    def test_error(self, w: np.ndarray) -> np.ndarray:
        """Mean squared distance to the teacher's noiseless function on the test inputs, per row of w."""
        target = self.predict(self.teacher, self.x_test, self.teacher_hidden)
        return np.mean((self.predict(w, self.x_test) - target) ** 2, axis=1)


def teacher_student(*, dim: int, hidden: int, teacher_hidden: int, n_train: int, sigma: float,
                    n_test: int, rng: np.random.Generator) -> TeacherStudent:
    """A Gaussian-input teacher–student problem (:class:`TeacherStudent`); ValueError naming a bad size."""
    for name, value in (("dim", dim), ("hidden", hidden), ("teacher_hidden", teacher_hidden), ("n_train", n_train),
                        ("n_test", n_test)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    teacher = rng.standard_normal(teacher_hidden * (dim + 2) + 1)
    x = rng.standard_normal((n_train, dim))
    problem = TeacherStudent(x, np.zeros(n_train), float(sigma), int(hidden), teacher, int(teacher_hidden),
                             rng.standard_normal((n_test, dim)))
    clean = problem.predict(teacher, x, teacher_hidden)[0]
    return problem._replace(y=clean + sigma * rng.standard_normal(n_train))


def rescale_layers(problem: TeacherStudent, w: np.ndarray, alpha: float) -> np.ndarray:
    """(W, b, a, c) → (αW, αb, a/α², c): the same function for α > 0 (s is homogeneous of degree 2)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    W, b, a, c = problem.unpack(w)
    return np.concatenate([alpha * W.reshape(len(c), -1), alpha * b, a / alpha ** 2, c[:, None]], axis=1).reshape(np.shape(w))


def normalised_hessian(hessian: np.ndarray, w: np.ndarray) -> np.ndarray:
    """D H D with D = diag(|w|): invariant under every positive diagonal rescaling of the weights."""
    d = np.abs(np.ravel(w))
    return hessian * d[:, None] * d[None, :]
