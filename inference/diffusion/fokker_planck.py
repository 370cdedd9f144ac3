r"""A 1-D finite-volume Fokker–Planck solver for the VP forward process: conservative, positivity-preserving.

The forward density obeys :math:`\partial_t p = \tfrac12\beta(t)\,\partial_x J_0[p]` with
:math:`J_0[p] = x\,p + \partial_x p`; the time dependence factorises, so with τ(t) = ½B(t) = ½∫₀ᵗβ,

.. math:: \partial_\tau p = \partial_x (x\,p + \partial_x p) = L_0\,p, \qquad p(t) = e^{\tau(t) L_0}\, p(0)

(an Ornstein–Uhlenbeck generator; exact in time with :func:`scipy.sparse.linalg.expm_multiply`).
On n cells of width h over [−a, a], the flux through the face x_{i+½} is the Chang–Cooper /
Scharfetter–Gummel exponentially fitted flux (Chang & Cooper 1970, J. Comput. Phys. 6, 1),

.. math:: F_{i+1/2} = \frac{1}{h}\big[\mathcal B(w)\,p_i - \mathcal B(-w)\,p_{i+1}\big],
          \qquad w = h\,x_{i+1/2},\quad \mathcal B(w) = \frac{w}{e^w-1},

zero through the two outer faces. It vanishes exactly on the discrete equilibrium p_{i+1}/p_i = e^{−w}
(the Gaussian N(0, 1) sampled at cell centres), reduces to central differences for small w (second order
in h), and makes L₀ a Metzler matrix with zero column sums: e^{τL₀} ≥ 0 elementwise (positivity) and
1ᵀe^{τL₀} = 1ᵀ (conservation of total mass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import expm_multiply

from .schedule import LinearBetaSchedule, check_time


def bernoulli_function(w) -> np.ndarray:
    """B(w) = w / (e^w − 1), with B(0) = 1."""
    w = np.asarray(w, dtype=float)
    safe = np.where(w == 0, 1.0, w)
    return np.where(w == 0, 1.0, safe / np.expm1(safe))


@dataclass(frozen=True)
class FokkerPlanckGrid:
    """n_cells equal cells on [−half_width, half_width]."""

    half_width: float
    n_cells: int

    def __post_init__(self):
        if not (np.isfinite(self.half_width) and self.half_width > 0):
            raise ValueError(f"half_width must be a finite number > 0, got {self.half_width!r}")
        if isinstance(self.n_cells, bool) or not isinstance(self.n_cells, (int, np.integer)) or self.n_cells < 3:
            raise ValueError(f"n_cells must be an integer >= 3, got {self.n_cells!r}")

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(-self.half_width, self.half_width, self.n_cells + 1)

    @property
    def centres(self) -> np.ndarray:
        e = self.edges
        return 0.5 * (e[1:] + e[:-1])

    @property
    def width(self) -> float:
        return 2 * self.half_width / self.n_cells

    def generator(self) -> sparse.csc_matrix:
        """L₀ acting on cell masses (module docstring): tridiagonal, off-diagonals ≥ 0, columns sum to 0."""
        h, faces = self.width, self.edges[1:-1]
        up, down = bernoulli_function(h * faces) / h**2, bernoulli_function(-h * faces) / h**2
        n = self.n_cells
        diag = np.zeros(n)
        diag[:-1] -= up      # mass leaving cell i through its right face
        diag[1:] -= down     # mass leaving cell i+1 through its left face
        return sparse.diags([down, diag, up], [1, 0, -1], shape=(n, n), format="csc")


def fokker_planck_solve(grid: FokkerPlanckGrid, mass0, schedule: LinearBetaSchedule, times) -> np.ndarray:
    """Cell masses at each of ``times`` (shape (len(times), n_cells)) from the cell masses ``mass0`` at t = 0."""
    m0 = np.asarray(mass0, dtype=float)
    if m0.shape != (grid.n_cells,) or not np.all(np.isfinite(m0)) or np.any(m0 < 0):
        raise ValueError(f"mass0 must be {grid.n_cells} finite non-negative cell masses")
    taus = 0.5 * schedule.integral(check_time(times, "times"))
    gen = grid.generator()
    return np.stack([expm_multiply(gen * float(tau), m0) for tau in np.atleast_1d(taus)])
