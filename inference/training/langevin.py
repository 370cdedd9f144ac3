r"""Overdamped Langevin dynamics: gradient descent plus Gaussian noise at temperature T.

The Euler–Maruyama step of :math:`dw = -\nabla U(w)\,dt + \sqrt{2T}\, dB_t` with step :math:`\eta`,

.. math:: w' = w - \eta\, \nabla U(w) + \sqrt{2 \eta T}\; \xi, \qquad \xi \sim N(0, I),

has the Gibbs density :math:`p_T(w) \propto e^{-U(w)/T}` as its stationary law up to an :math:`O(\eta)` bias
(the unadjusted Langevin algorithm; Roberts & Tweedie 1996). :math:`T = 0` is plain gradient descent; in
the SGD-as-temperature picture :math:`T` plays the role of the learning-rate-to-batch-size ratio's noise.

``temperature`` is a scalar or one value per leading (replica) index; ``grad`` is :math:`\nabla U` (the
caller adds any weight-decay term: :math:`U = L + \tfrac{\lambda}{2}\lVert w\rVert^2`).
"""

from __future__ import annotations

import numpy as np

from .tree import leaves, per_replica, rebuild

__all__ = ["langevin_step"]


def langevin_step(params, grad, rng: np.random.Generator, *, step_size: float, temperature=0.0):
    """One Langevin step (a new array or NamedTuple of arrays; nothing is modified in place)."""
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    if np.any(np.asarray(temperature) < 0):
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    out = []
    for w, g in zip(leaves(params), leaves(grad), strict=True):
        scale = np.sqrt(2.0 * step_size * per_replica(temperature, w))
        out.append(w - step_size * g + scale * rng.standard_normal(np.shape(w)))
    return rebuild(params, out)
