r"""Mode connectivity: the loss along a straight line and along an optimised quadratic Bézier curve between two
solutions (Garipov et al. 2018, "Loss surfaces, mode connectivity, and fast ensembling of DNNs"; Draxler et al.
2018).

For end points :math:`w_1, w_2` and a bend :math:`\theta`,

.. math:: \phi_\theta(t) = (1-t)^2 w_1 + 2t(1-t)\,\theta + t^2 w_2, \qquad t \in [0, 1],

passes through :math:`w_1` at :math:`t = 0` and :math:`w_2` at :math:`t = 1`; :math:`\theta = (w_1+w_2)/2` is the
straight line :math:`(1-t)w_1 + t w_2`. The bend minimises the mean loss along the curve,

.. math:: \ell(\theta) = \frac1K \sum_{k=1}^K L(\phi_\theta(t_k)), \qquad
          \nabla_\theta \ell = \frac1K \sum_k 2t_k(1-t_k)\,\nabla L(\phi_\theta(t_k)),

on the K midpoints :math:`t_k = (k - \tfrac12)/K` (a fixed quadrature in place of Garipov's random
:math:`t \sim U(0,1)`; L-BFGS from the straight line's bend, nudged by a small random step when ``rng`` is
given: the straight line can be a saddle of :math:`\ell` by symmetry). The **barrier** of a path
is :math:`\max_t L(\phi(t)) - \max(L(w_1), L(w_2))`, evaluated on a grid finer than the quadrature's.

``loss_grad(W)`` is vectorised: W (points, n) → (values (points,), gradients (points, n)).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["bezier_points", "fit_bezier", "path_losses", "barrier"]


def bezier_points(w1, theta, w2, ts) -> np.ndarray:
    """φ_θ(t) for every t in ``ts``: (len(ts), n)."""
    t = np.asarray(ts, dtype=float)[:, None]
    return (1 - t) ** 2 * np.asarray(w1, float) + 2 * t * (1 - t) * np.asarray(theta, float) + t ** 2 * np.asarray(w2, float)


def fit_bezier(loss_grad, w1, w2, *, n_points: int = 32, maxiter: int = 2000,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The bend θ minimising the mean loss at ``n_points`` midpoints along the curve (module docstring)."""
    if int(n_points) < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    w1, w2 = np.asarray(w1, float), np.asarray(w2, float)
    ts = (np.arange(int(n_points)) + 0.5) / int(n_points)
    weights = 2 * ts * (1 - ts)

    def mean_loss(theta):
        values, grads = loss_grad(bezier_points(w1, theta, w2, ts))
        return float(values.mean()), weights @ grads / len(ts)
    start = 0.5 * (w1 + w2)
    if rng is not None:
        start = start + 1e-2 * np.linalg.norm(w2 - w1) / np.sqrt(len(w1)) * rng.standard_normal(len(w1))
    return optimize.minimize(mean_loss, start, jac=True, method="L-BFGS-B",
                             options={"maxiter": int(maxiter), "gtol": 1e-9}).x


def path_losses(loss_grad, w1, w2, theta=None, n_grid: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """(t grid, L along the curve): the straight line when ``theta`` is None, else the Bézier curve."""
    ts = np.linspace(0.0, 1.0, int(n_grid))
    bend = 0.5 * (np.asarray(w1, float) + np.asarray(w2, float)) if theta is None else theta
    return ts, loss_grad(bezier_points(w1, bend, w2, ts))[0]


def barrier(losses) -> float:
    """max along the path − the larger end-point loss."""
    losses = np.asarray(losses, dtype=float)
    return float(losses.max() - max(losses[0], losses[-1]))
