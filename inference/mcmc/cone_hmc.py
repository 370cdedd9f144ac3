r"""Exact Hamiltonian Monte Carlo for a standard Gaussian restricted to a polyhedral cone (Pakman & Paninski 2014).

Target: :math:`p(z) \propto \mathcal N(z; 0, I_N)\,\prod_{\mu\le P}\Theta(a_\mu\cdot z)`; its direction
:math:`z/\lVert z\rVert` is uniform on the spherical polytope :math:`\{w\in S^{N-1}: Aw > 0\}` (the version space
of a perceptron with rows :math:`a_\mu = y_\mu x_\mu`).

With :math:`H = \tfrac12\lVert z\rVert^2 + \tfrac12\lVert v\rVert^2` the motion is exactly harmonic,
:math:`z(t) = z\cos t + v\sin t`, and the walls are hit in closed form: with :math:`c = Az > 0`,
:math:`d = Av`, constraint μ reaches zero at

.. math::

    t_\mu = \varphi_\mu + \tfrac\pi2,\qquad \varphi_\mu = \operatorname{atan2}(d_\mu, c_\mu)\in(-\tfrac\pi2, \tfrac\pi2),

where the velocity is reflected, :math:`v \to v - 2\,(a_j\cdot v)/\lVert a_j\rVert^2\, a_j` (energy preserving
and volume preserving, so the truncated Gaussian is invariant: Pakman & Paninski, "Exact Hamiltonian Monte
Carlo for truncated multivariate Gaussians", JCGS 23, 518 (2014)). Each iteration draws
:math:`v\sim\mathcal N(0, I)` and travels for time π/2 (the quarter period that decorrelates an untruncated
Gaussian). With the Gram matrix :math:`G = AA^\top` kept, a bounce costs O(P + N): ``c``, ``d`` move by the
same rotation as ``z``, ``v`` and the reflection changes ``d`` by :math:`-2 d_j G_{\cdot j}/G_{jj}`.
Compiled with numba; uniforms from the in-numba xoshiro256+ of :mod:`..spins.rng`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..spins.rng import rng_state, xoshiro_next

TRAVEL_TIME = 0.5 * math.pi
MAX_BOUNCES = 1_000_000
"""Bounces per iteration before the chain stops with an error (a sign of a degenerate cone)."""


@numba.njit(cache=True, inline="always")
def _normal(state):
    """One standard normal by Box–Muller from two xoshiro uniforms (``state`` updated in place)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    u1, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    u2, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@numba.njit(cache=True)
def hmc_iterations(A, G, z, n_iter, state, out, thin):
    """``n_iter`` iterations from ``z`` (in place); every ``thin``-th state into ``out``. Returns the bounces."""
    P, N = A.shape
    v = np.empty(N)
    c = A @ z
    bounces = 0
    for it in range(n_iter):
        for i in range(N):
            v[i] = _normal(state)
        c = A @ z
        d = A @ v
        left = TRAVEL_TIME
        while True:
            ratio, j = math.inf, -1
            for mu in range(P):  # only d < 0 moves towards a wall; t_mu = atan(c_mu / -d_mu)
                if d[mu] < 0.0:
                    r = max(c[mu], 0.0) / -d[mu]
                    if r < ratio:
                        ratio, j = r, mu
            t_hit = math.atan(ratio) if j >= 0 else left + 1.0
            t = min(t_hit, left)
            cs, sn = math.cos(t), math.sin(t)
            for i in range(N):
                zi = z[i]
                z[i] = zi * cs + v[i] * sn
                v[i] = -zi * sn + v[i] * cs
            for mu in range(P):
                cm = c[mu]
                c[mu] = cm * cs + d[mu] * sn
                d[mu] = -cm * sn + d[mu] * cs
            left -= t
            if j < 0 or left <= 0.0:
                break
            bounces += 1
            if bounces > MAX_BOUNCES * (it + 1):
                raise RuntimeError("too many wall hits: degenerate cone")
            c[j] = 0.0
            f = 2.0 * d[j] / G[j, j]
            for i in range(N):
                v[i] -= f * A[j, i]
            for mu in range(P):
                d[mu] -= f * G[j, mu]
        if (it + 1) % thin == 0:
            out[(it + 1) // thin - 1] = z
    return bounces


def sample_cone_gaussian(A, z0, n_draws: int, rng: np.random.Generator, *, thin: int = 1):
    """``n_draws`` states (every ``thin``-th iteration) of exact HMC from ``z0``; returns ((n_draws, N), bounces).

    ``A``: (P, N) finite constraint rows (nonzero); ``z0``: (N,) strictly inside the cone (ValueError otherwise).
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 2:
        raise ValueError(f"A must have shape (P, N) with P >= 1, N >= 2, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A must be finite")
    z = np.array(z0, dtype=np.float64).reshape(-1)
    if z.shape != (A.shape[1],) or not np.all(A @ z > 0):
        raise ValueError("z0 must have shape (N,) and lie strictly inside the cone (A z0 > 0 for every row)")
    if int(n_draws) < 1 or int(thin) < 1:
        raise ValueError(f"n_draws and thin must be integers >= 1, got {n_draws!r}, {thin!r}")
    G = A @ A.T
    if np.any(np.diag(G) <= 0):
        raise ValueError("A must have no zero rows")
    out = np.empty((int(n_draws), A.shape[1]))
    state = rng_state(rng)
    bounces = hmc_iterations(A, G, z, int(n_draws) * int(thin), state, out, int(thin))
    return out, int(bounces)
