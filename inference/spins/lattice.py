r"""Ising couplings on lattices and general graphs: grids, neighbour tables, colourings, validation.

Every Ising-type density in physml is described by one :class:`IsingCouplings` record:

.. math::

    \ln P(s) = \sum_{e=(i,j)} K_e\, s_i s_j + \sum_i h_i s_i - \ln Z,
    \qquad s_i \in \{-1, +1\},

where the sum runs over the *edges* of a multigraph (an L = 2 torus has every bond twice,
exactly as in Kaufman's solution). :math:`K = \beta J` is dimensionless.

Samplers need three derived tables, all computed once and cached on the record:

* a padded neighbour table ``nbr`` (N, d) with matching weights ``nbr_w``; padding points at
  a ghost site ``N`` whose spin is always 0, so kernels never branch on boundaries;
* a proper colouring (no edge inside a colour class). On a bipartite lattice this is the
  checkerboard (2 colours); a periodic lattice with odd L is not bipartite and gets a greedy
  colouring with 3 colours, so a colour-by-colour sweep stays exact;
* the dense symmetric matrix ``K_ij`` (for small N only: mean field, BP, enumeration).

Grids are built once here: :func:`grid_edges` / :func:`grid_couplings` (rows×cols, periodic or open;
right bonds then down bonds, sites ``r * cols + c``), and the square lattice is the rows = cols = L case
(:func:`square_lattice_edges`, :func:`square_lattice_couplings`).

A PyMC model carries its couplings through :func:`attach_couplings` /
:func:`couplings_of` (a weak-key registry), so ``inference`` never imports ``physml.models``.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

BOUNDARIES = ("periodic", "open")

K_CRITICAL = 0.5 * math.log1p(math.sqrt(2.0))
r"""Onsager's critical coupling of the square lattice, :math:`K_c = \tfrac12\ln(1+\sqrt2)`."""


def _check_finite(name: str, value) -> None:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True, eq=False)
class IsingCouplings:
    r"""Couplings and fields of an Ising model on a (multi)graph.

    Parameters
    ----------
    n_spins : int
        Number of spins N (≥ 1).
    edges : (E, 2) int array
        Endpoints of each edge, ``0 <= i != j < N``; repeated edges add up.
    weights : (E,) float array
        Coupling :math:`K_e` of each edge (finite).
    field : (N,) float array
        External field :math:`h_i` (finite).
    shape : tuple or None
        Grid shape ``(rows, cols)`` (``(L, L)`` for square lattices); sites are numbered ``r * cols + c``.
    boundary : str or None
        ``"periodic"`` / ``"open"`` for grids, ``None`` for general graphs.
    """

    n_spins: int
    edges: np.ndarray
    weights: np.ndarray
    field: np.ndarray
    shape: tuple | None = None
    boundary: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if not (isinstance(self.n_spins, (int, np.integer)) and self.n_spins >= 1):
            raise ValueError(f"n_spins must be an integer >= 1, got {self.n_spins!r}")
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        weights = np.asarray(self.weights, dtype=float).reshape(-1)
        fld = np.asarray(self.field, dtype=float)
        if fld.ndim == 0:
            fld = np.full(self.n_spins, float(fld))
        if fld.shape != (self.n_spins,):
            raise ValueError(f"field h must be a scalar or have shape ({self.n_spins},), got shape {fld.shape}")
        if weights.shape[0] != edges.shape[0]:
            raise ValueError(f"weights must have one entry per edge ({edges.shape[0]}), got {weights.shape[0]}")
        if edges.size and (edges.min() < 0 or edges.max() >= self.n_spins):
            raise ValueError(f"edges must index spins in [0, {self.n_spins - 1}]")
        if np.any(edges[:, 0] == edges[:, 1]):
            raise ValueError("edges must not be self-loops (i == j)")
        _check_finite("couplings K", weights)
        _check_finite("field h", fld)
        if self.boundary is not None and self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        for name, val in (("edges", edges), ("weights", weights), ("field", fld)):
            val.setflags(write=False)
            object.__setattr__(self, name, val)

    # ------------------------------------------------------------------ derived
    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @cached_property
    def is_square_lattice(self) -> bool:
        return self.shape is not None and len(self.shape) == 2

    @cached_property
    def uniform_coupling(self) -> float | None:
        """The common edge weight K if all edges share it, else None."""
        if self.n_edges and np.all(self.weights == self.weights[0]):
            return float(self.weights[0])
        return None

    @cached_property
    def uniform_field(self) -> float | None:
        if np.all(self.field == self.field[0]):
            return float(self.field[0])
        return None

    @cached_property
    def zero_field(self) -> bool:
        return bool(np.all(self.field == 0.0))

    @cached_property
    def neighbour_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(nbr, nbr_w)``: (N, d) int32 neighbour indices and float64 weights.

        Padding entries point to the ghost site N (spin 0) and carry the uniform coupling
        (or 0), so a kernel can sum ``w * s[nbr]`` over all d entries without branching.
        """
        n = self.n_spins
        deg = np.bincount(self.edges.ravel(), minlength=n) if self.n_edges else np.zeros(n, int)
        d = max(int(deg.max()) if n else 0, 1)
        nbr = np.full((n, d), n, dtype=np.int32)
        pad = self.uniform_coupling if self.uniform_coupling is not None else 0.0
        w = np.full((n, d), pad, dtype=np.float64)
        fill = np.zeros(n, dtype=np.int64)
        for (i, j), k in zip(self.edges, self.weights):
            nbr[i, fill[i]] = j
            w[i, fill[i]] = k
            fill[i] += 1
            nbr[j, fill[j]] = i
            w[j, fill[j]] = k
            fill[j] += 1
        return nbr, w

    @cached_property
    def colouring(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, starts)``: sites sorted by colour, colour c is ``order[starts[c]:starts[c+1]]``.

        Square lattices with a bipartite structure use the checkerboard ``(r + c) mod 2``;
        anything else (odd periodic L, general graphs) gets a greedy proper colouring.
        """
        colour = None
        if self.is_square_lattice:
            rows, cols = self.shape
            r, c = np.divmod(np.arange(self.n_spins), cols)
            cb = (r + c) % 2
            if self.n_edges == 0 or np.all(cb[self.edges[:, 0]] != cb[self.edges[:, 1]]):
                colour = cb
        if colour is None:
            colour = greedy_colouring(self.n_spins, self.edges)
        check_proper_colouring(colour, self.edges)
        order = np.argsort(colour, kind="stable").astype(np.int32)
        counts = np.bincount(colour)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return order, starts

    @property
    def n_colours(self) -> int:
        return len(self.colouring[1]) - 1

    def dense_matrix(self, max_spins: int = 4096) -> np.ndarray:
        r"""Symmetric zero-diagonal :math:`K_{ij}` with :math:`\ln P = \tfrac12 s^\top K s + h^\top s`."""
        if self.n_spins > max_spins:
            raise ValueError(f"dense_matrix needs n_spins <= {max_spins}, got {self.n_spins}")
        mat = np.zeros((self.n_spins, self.n_spins))
        np.add.at(mat, (self.edges[:, 0], self.edges[:, 1]), self.weights)
        np.add.at(mat, (self.edges[:, 1], self.edges[:, 0]), self.weights)
        return mat

    def log_weight(self, spins: np.ndarray) -> np.ndarray:
        r""":math:`\sum_e K_e s_i s_j + \sum_i h_i s_i` for spins of shape (..., N) in {-1, +1}."""
        s = np.asarray(spins, dtype=float)
        pair = s[..., self.edges[:, 0]] * s[..., self.edges[:, 1]]
        return pair @ self.weights + s @ self.field

    def bond_sum(self, spins: np.ndarray) -> np.ndarray:
        r""":math:`\sum_e s_i s_j` (unweighted), so that :math:`E = -K\,\cdot` bond_sum for uniform K."""
        s = np.asarray(spins, dtype=float)
        return (s[..., self.edges[:, 0]] * s[..., self.edges[:, 1]]).sum(axis=-1)

    def scaled(self, coupling_factor: float, field_factor: float = 1.0) -> "IsingCouplings":
        """Couplings times ``coupling_factor`` and field times ``field_factor`` (a tempering rung).

        The colouring and neighbour table of ``self`` are reused, so rungs are cheap.
        """
        new = IsingCouplings(self.n_spins, self.edges, self.weights * coupling_factor,
                             self.field * field_factor, self.shape, self.boundary)
        if "colouring" in self.__dict__:
            new.__dict__["colouring"] = self.colouring
        if "neighbour_table" in self.__dict__:
            nbr, w = self.neighbour_table
            new.__dict__["neighbour_table"] = (nbr, w * coupling_factor)
        return new

    def with_scale(self, factor: float) -> "IsingCouplings":
        """Couplings and field multiplied by ``factor`` (an inverse temperature ratio)."""
        return self.scaled(factor, factor)

    def with_coupling(self, K: float) -> "IsingCouplings":
        """Same graph and field, every edge weight set to ``K``."""
        return IsingCouplings(self.n_spins, self.edges, np.full(self.n_edges, float(K)), self.field,
                              self.shape, self.boundary)


def greedy_colouring(n_spins: int, edges: np.ndarray) -> np.ndarray:
    """A proper colouring by the greedy (first-fit) rule in site order."""
    adj = [[] for _ in range(n_spins)]
    for i, j in np.asarray(edges).reshape(-1, 2):
        adj[i].append(j)
        adj[j].append(i)
    colour = np.full(n_spins, -1, dtype=np.int64)
    for i in range(n_spins):
        used = {colour[j] for j in adj[i] if colour[j] >= 0}
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return colour


def check_proper_colouring(colour: np.ndarray, edges: np.ndarray) -> None:
    edges = np.asarray(edges).reshape(-1, 2)
    if edges.size and np.any(colour[edges[:, 0]] == colour[edges[:, 1]]):
        raise ValueError("colouring is not proper: an edge joins two sites of the same colour")


def _grid_side(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    return int(v)


def validate_lattice_size(L) -> int:
    return _grid_side("L", L)


def grid_edges(rows: int, cols: int, boundary: str = "periodic") -> np.ndarray:
    """Edges (right bonds, then down bonds) of a rows×cols grid, sites numbered ``r * cols + c``.

    With ``periodic`` a side of length 2 has its bonds twice (right and left neighbours coincide),
    which is the convention of Kaufman's and Onsager's solutions.
    """
    rows, cols = _grid_side("rows", rows), _grid_side("cols", cols)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    r, c = np.divmod(np.arange(rows * cols), cols)
    if boundary == "periodic":
        right = np.stack([r * cols + c, r * cols + (c + 1) % cols], axis=1)
        down = np.stack([r * cols + c, ((r + 1) % rows) * cols + c], axis=1)
    else:
        mr, md = c < cols - 1, r < rows - 1
        right = np.stack([(r * cols + c)[mr], (r * cols + c + 1)[mr]], axis=1)
        down = np.stack([(r * cols + c)[md], ((r + 1) * cols + c)[md]], axis=1)
    return np.concatenate([right, down]).astype(np.int64)


def square_lattice_edges(L: int, boundary: str = "periodic") -> np.ndarray:
    """Edges of the L×L square lattice: :func:`grid_edges` ``(L, L, boundary)``."""
    return grid_edges(validate_lattice_size(L), L, boundary)


def grid_couplings(rows: int, cols: int, K: float, h=0.0, boundary: str = "periodic") -> IsingCouplings:
    """:class:`IsingCouplings` of a rows×cols grid with one coupling K and field h (scalar, (rows, cols) or (N,))."""
    rows, cols = _grid_side("rows", rows), _grid_side("cols", cols)
    if isinstance(K, bool) or not isinstance(K, (int, float, np.integer, np.floating)) or not math.isfinite(K):
        raise ValueError(f"K must be a finite real number, got {K!r}")
    n = rows * cols
    h_arr = np.asarray(h, dtype=float)
    if h_arr.ndim == 2 and h_arr.shape == (rows, cols):
        h_arr = h_arr.reshape(-1)
    if h_arr.ndim not in (0, 1) or (h_arr.ndim == 1 and h_arr.shape != (n,)):
        raise ValueError(f"h must be a scalar or have shape ({rows}, {cols}) or ({n},), got shape {np.shape(h)}")
    edges = grid_edges(rows, cols, boundary)
    return IsingCouplings(n, edges, np.full(len(edges), float(K)), h_arr, (rows, cols), boundary)


def square_lattice_couplings(L: int, K: float, h=0.0, boundary: str = "periodic") -> IsingCouplings:
    """:class:`IsingCouplings` of the L×L square lattice with uniform coupling K and field h."""
    L = validate_lattice_size(L)
    return grid_couplings(L, L, K, h, boundary)


def couplings_from_matrix(K, h=0.0, *, atol: float = 1e-12) -> IsingCouplings:
    r"""Couplings from a symmetric matrix with zero diagonal, :math:`\ln P = \tfrac12 s^\top K s + h^\top s`."""
    mat = np.asarray(K, dtype=float)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"coupling matrix must be square, got shape {mat.shape}")
    _check_finite("coupling matrix", mat)
    if not np.allclose(mat, mat.T, rtol=0.0, atol=atol):
        raise ValueError("coupling matrix must be symmetric (K_ij == K_ji)")
    if np.any(np.abs(np.diag(mat)) > atol):
        raise ValueError("coupling matrix must have a zero diagonal")
    i, j = np.nonzero(np.triu(mat, k=1))
    return IsingCouplings(mat.shape[0], np.stack([i, j], axis=1), mat[i, j], h)


# --------------------------------------------------------------- model registry
_COUPLINGS: "weakref.WeakKeyDictionary[object, tuple[IsingCouplings, str]]" = weakref.WeakKeyDictionary()


def attach_couplings(model, couplings: IsingCouplings, var_name: str) -> None:
    """Record that ``model`` (a ``pm.Model``) is the Ising model ``couplings`` over ``var_name``.

    ``var_name`` is the model's Bernoulli variable of spin-up indicators (1 ↔ s = +1).
    """
    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    _COUPLINGS[model] = (couplings, var_name)


def couplings_of(model) -> tuple[IsingCouplings, str] | None:
    """``(couplings, var_name)`` attached to ``model``, or None."""
    try:
        return _COUPLINGS.get(model)
    except TypeError:
        return None


def ising_support_reason(model, *, need_zero_field: bool = False) -> str | None:
    """None when ``model`` carries Ising couplings (and zero field if asked), else why not."""
    found = couplings_of(model)
    if found is None:
        return "the model carries no Ising couplings (build it with physml.models.ising)"
    if need_zero_field and not found[0].zero_field:
        return "cluster updates need zero field h = 0"
    return None
