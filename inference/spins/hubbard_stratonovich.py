r"""Gaussian-integral (Hubbard–Stratonovich) machinery for Ising models, and spin-space
Rao–Blackwellised estimators over a lattice.

For symmetric couplings :math:`K_{ij}` (zero diagonal; the multigraph weights of an
:class:`~physml.inference.spins.lattice.IsingCouplings`) and a shift :math:`c` with
:math:`A = K + c\,I \succ 0`, the Gaussian moment generating function
:math:`\mathbb E_{N(0,A)}[e^{x^\top s}] = e^{\frac12 s^\top A s}` and :math:`s_i^2 = 1` give

.. math::

    Z = \sum_s e^{\frac12 s^\top K s + h^\top s}
      = e^{-cN/2} \int N(x; 0, A) \prod_i 2\cosh(x_i + h_i)\,dx ,

and, given :math:`x`, the spins are independent with :math:`P(s_i = +1\mid x) = \sigma(2(x_i + h_i))`,
:math:`\mathbb E[s_i\mid x] = \tanh(x_i + h_i)`; given :math:`s`, :math:`x \sim N(A s, A)`.

This module holds what does not depend on a model file:

* :class:`HSTransform` — the symmetric square root :math:`S = A^{1/2}` applied to a vector,
  dense (any couplings, by ``eigh``) or, on a rows×cols grid with one coupling, the fast
  separable transform :math:`X = U_r\,(\Lambda^{1/2} \circ U_r^\top Z\,U_c)\,U_c^\top`
  (the grid's coupling matrix is a Kronecker sum of two 1-D chains or rings), in NumPy and in
  PyTensor, so that ``x = S z`` with ``z ~ N(0, I)`` is a non-centred draw from :math:`N(0, A)`;
* Rao–Blackwellised spin observables from continuous draws (:func:`hs_spin_observables`)
  and the Gibbs local-field estimator of marginals from spin draws (:func:`rb_marginals_from_spins`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .lattice import IsingCouplings, grid_edges

__all__ = ["min_coupling_eigenvalue", "HSTransform",
           "conditional_spin_means", "hs_spin_observables", "local_fields", "rb_marginals_from_spins",
           "abs_magnetisation_given_means"]


# ----------------------------------------------------------------------- grids
def _chain_matrix(n: int, boundary: str) -> np.ndarray:
    """Adjacency of a 1-D chain (open) or ring (periodic; n = 2 gives weight 2, the doubled bond)."""
    m = np.zeros((n, n))
    for i in range(n if boundary == "periodic" else n - 1):
        j = (i + 1) % n
        m[i, j] += 1.0
        m[j, i] += 1.0
    return m


def _separable_grid(couplings: IsingCouplings):
    """(rows, cols, K) if ``couplings`` is a uniform rows×cols grid as built by :func:`grid_edges`, else None."""
    shape = couplings.shape
    if shape is None or len(shape) != 2 or couplings.uniform_coupling is None or couplings.boundary is None:
        return None
    rows, cols = shape
    if rows < 2 or cols < 2:
        return None
    ref = grid_edges(rows, cols, couplings.boundary)
    mine = couplings.edges
    if ref.shape != mine.shape:
        return None
    key = lambda e: np.sort(np.sort(e, axis=1)[:, 0] * (rows * cols) + np.sort(e, axis=1)[:, 1])  # noqa: E731
    if not np.array_equal(key(ref), key(mine)):
        return None
    return rows, cols, couplings.uniform_coupling


def min_coupling_eigenvalue(couplings: IsingCouplings) -> float:
    r"""Smallest eigenvalue of the symmetric coupling matrix :math:`K_{ij}` (−4K on a bipartite square lattice)."""
    grid = _separable_grid(couplings)
    if grid is not None:
        rows, cols, K = grid
        mr = np.linalg.eigvalsh(_chain_matrix(rows, couplings.boundary))
        mc = np.linalg.eigvalsh(_chain_matrix(cols, couplings.boundary))
        lam = K * (mr[:, None] + mc[None, :])
        return float(lam.min())
    return float(np.linalg.eigvalsh(couplings.dense_matrix()).min())


# ----------------------------------------------------------------------- the square root of A
@dataclass(frozen=True, eq=False)
class HSTransform:
    r"""The symmetric square root :math:`S = A^{1/2}` of :math:`A = K + c\,I` (``shift`` c > −λ_min(K)).

    ``apply(z)`` returns :math:`S z` for ``z`` of shape (..., N): if ``z ~ N(0, I)`` then
    ``S z ~ N(0, A)``. ``kind`` is ``"separable"`` on a uniform grid (cost O(N (rows + cols)))
    and ``"dense"`` otherwise (an N×N matrix from ``eigh``; N ≤ 4096).
    """

    couplings: IsingCouplings
    shift: float

    def __post_init__(self):
        if not isinstance(self.couplings, IsingCouplings):
            raise ValueError("couplings must be an IsingCouplings record")
        c = float(self.shift)
        if not math.isfinite(c):
            raise ValueError(f"shift must be finite, got {self.shift!r}")
        grid = _separable_grid(self.couplings)
        if grid is not None:
            rows, cols, K = grid
            mr, ur = np.linalg.eigh(_chain_matrix(rows, self.couplings.boundary))
            mc, uc = np.linalg.eigh(_chain_matrix(cols, self.couplings.boundary))
            lam = c + K * (mr[:, None] + mc[None, :])
            kind, parts = "separable", (ur, uc, lam)
        else:
            mu, u = np.linalg.eigh(self.couplings.dense_matrix())
            lam = c + mu
            kind, parts = "dense", (u, lam)
        if lam.min() <= 0:
            raise ValueError(f"shift c must exceed -lambda_min(K) = {-(lam.min() - c):.6g} so that A = K + c I is "
                             f"positive definite, got c = {c:.6g}")
        object.__setattr__(self, "shift", c)
        object.__setattr__(self, "kind", kind)
        if kind == "separable":
            ur, uc, lam = parts
            object.__setattr__(self, "_ur", ur)
            object.__setattr__(self, "_uc", uc)
            object.__setattr__(self, "_sqrt", np.sqrt(lam))
        else:
            u, lam = parts
            object.__setattr__(self, "_dense", (u * np.sqrt(lam)) @ u.T)
        object.__setattr__(self, "eigenvalues", np.sort(lam.ravel()))

    @property
    def n(self) -> int:
        return self.couplings.n_spins

    def apply(self, z) -> np.ndarray:
        """:math:`S z` for ``z`` of shape (..., N) (NumPy)."""
        z = np.asarray(z, dtype=float)
        if self.kind == "dense":
            return z @ self._dense  # S is symmetric
        rows, cols = self.couplings.shape
        Z = z.reshape(z.shape[:-1] + (rows, cols))
        Y = np.swapaxes(self._ur, 0, 1) @ Z @ self._uc
        X = self._ur @ (self._sqrt * Y) @ self._uc.T
        return X.reshape(z.shape)

    def apply_pt(self, z):
        """:math:`S z` for a PyTensor vector ``z`` of length N (the graph a PyMC model uses)."""
        import pytensor.tensor as pt

        if self.kind == "dense":
            return pt.dot(pt.as_tensor_variable(self._dense), z)
        rows, cols = self.couplings.shape
        ur, uc = pt.as_tensor_variable(self._ur), pt.as_tensor_variable(self._uc)
        Z = z.reshape((rows, cols))
        X = pt.dot(ur, pt.dot(pt.as_tensor_variable(self._sqrt) * pt.dot(pt.dot(ur.T, Z), uc), uc.T))
        return X.reshape((rows * cols,))

    def matrix(self, max_spins: int = 4096) -> np.ndarray:
        """The dense :math:`S` (tests, small N)."""
        if self.n > max_spins:
            raise ValueError(f"matrix needs n_spins <= {max_spins}, got {self.n}")
        return self.apply(np.eye(self.n))


# ----------------------------------------------------------------------- Rao–Blackwellisation
def conditional_spin_means(x, field) -> np.ndarray:
    r""":math:`\mathbb E[s_i \mid x] = \tanh(x_i + h_i)` for continuous draws ``x`` of shape (..., N)."""
    return np.tanh(np.asarray(x, dtype=float) + np.asarray(field, dtype=float))


@numba.njit(cache=True)
def _abs_m_poisson_binomial(t):
    """E[|Σ s_i|] for independent s_i with E[s_i] = t_i: the exact count distribution by dynamic programming."""
    n_draw, n = t.shape
    out = np.empty(n_draw)
    dp = np.empty(n + 1)
    for d in range(n_draw):
        dp[:] = 0.0
        dp[0] = 1.0
        for i in range(n):
            p = 0.5 * (1.0 + t[d, i])
            for k in range(i + 1, 0, -1):
                dp[k] = dp[k] * (1.0 - p) + dp[k - 1] * p
            dp[0] *= 1.0 - p
        acc = 0.0
        for k in range(n + 1):
            acc += dp[k] * abs(2 * k - n)
        out[d] = acc
    return out


def abs_magnetisation_given_means(t) -> np.ndarray:
    r""":math:`\mathbb E[|M|/N \mid x]` for independent spins with means ``t`` (shape (draws, N)), exact, O(N²) per draw."""
    t = np.ascontiguousarray(np.asarray(t, dtype=float).reshape(-1, np.shape(t)[-1]))
    return _abs_m_poisson_binomial(t) / t.shape[1]


def hs_spin_observables(couplings: IsingCouplings, x, *, abs_magnetisation: bool = True) -> dict:
    r"""Per-draw Rao–Blackwellised spin observables from HS draws ``x`` (shape (..., N)).

    With :math:`t_i = \tanh(x_i + h_i)` and spins independent given x:

    * :math:`\mathbb E[E/N \mid x] = -\frac1N \sum_{e=(i,j)} t_i t_j` (i ≠ j on every edge);
    * :math:`\mathbb E[(M/N)^2 \mid x] = \big(N + (\sum_i t_i)^2 - \sum_i t_i^2\big)/N^2`;
    * :math:`\mathbb E[M/N \mid x] = \bar t`, and :math:`\mathbb E[|M|/N \mid x]` exactly from the
      Poisson-binomial law of the number of up spins (skip with ``abs_magnetisation=False``).

    Returns a dict of arrays shaped like ``x`` without its last axis, plus ``spin_mean`` (t itself).
    """
    x = np.asarray(x, dtype=float)
    n = couplings.n_spins
    if x.shape[-1] != n:
        raise ValueError(f"x must have last dimension {n}, got shape {x.shape}")
    t = conditional_spin_means(x, couplings.field)
    e = couplings.edges
    energy = -(t[..., e[:, 0]] * t[..., e[:, 1]]).sum(axis=-1) / n
    st = t.sum(axis=-1)
    m2 = (n + st ** 2 - (t ** 2).sum(axis=-1)) / n ** 2
    out = {"energy": energy, "magnetisation": st / n, "magnetisation_sq": m2, "spin_mean": t}
    if abs_magnetisation:
        out["abs_magnetisation"] = abs_magnetisation_given_means(t).reshape(x.shape[:-1])
    return out


def local_fields(couplings: IsingCouplings, spins) -> np.ndarray:
    r""":math:`f_i = h_i + \sum_j K_{ij} s_j` for spin draws of shape (..., N)."""
    from scipy import sparse

    s = np.asarray(spins, dtype=float)
    n = couplings.n_spins
    if s.shape[-1] != n:
        raise ValueError(f"spins must have last dimension {n}, got shape {s.shape}")
    e, w = couplings.edges, couplings.weights
    kmat = sparse.coo_matrix((np.concatenate([w, w]), (np.concatenate([e[:, 0], e[:, 1]]),
                                                        np.concatenate([e[:, 1], e[:, 0]]))), shape=(n, n)).tocsr()
    flat = s.reshape(-1, n)
    return (couplings.field + (kmat @ flat.T).T).reshape(s.shape)


def rb_marginals_from_spins(couplings: IsingCouplings, spins) -> np.ndarray:
    r"""Rao–Blackwellised :math:`\mathbb E[s_i] = \mathbb E[\tanh f_i]` per draw (the Gibbs conditional mean).

    Averaging ``tanh(local_fields)`` over draws estimates the marginal magnetisation with a smaller
    variance than averaging the spins (Rao–Blackwell): :math:`\mathbb E[s_i \mid s_{-i}] = \tanh f_i`.
    """
    return np.tanh(local_fields(couplings, spins))
