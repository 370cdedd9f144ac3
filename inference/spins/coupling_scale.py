r"""The coupling-scale path of an Ising model, shared by its TI and AIS free energies.

The couplings are scaled, :math:`K_e \to \lambda K_e`, :math:`\lambda \in [0, 1]`, the field fixed:

.. math::

    f_\lambda(s) = e^{\lambda B(s) + h\cdot s}, \qquad B(s) = \sum_e K_e s_i s_j, \qquad
    \ln Z(0) = \sum_i \ln(2\cosh h_i) \quad (= N\ln 2 \text{ at } h = 0), \qquad
    \frac{d\ln Z}{d\lambda} = \langle B\rangle_\lambda .

At :math:`\lambda = 0` the spins are independent, :math:`P(s_i = 1) = (1 + \tanh h_i)/2`, drawn exactly.
In here: :func:`log_partition_independent`, :func:`exact_independent_spins`, the bond sum
:func:`weighted_bond_sum` (numba), the kernel of a sampler at scaled couplings (:func:`kernel_for`),
the input checks, and whether the specialised periodic-square path applies (:func:`fast_square`,
:func:`use_fast_path`).
"""

from __future__ import annotations

import numba
import numpy as np

from .checkerboard import CheckerboardKernel
from .lattice import IsingCouplings

__all__ = ["SAMPLERS", "weighted_bond_sum", "fast_square", "log_partition_independent", "kernel_for",
           "check_couplings_and_sampler", "exact_independent_spins", "use_fast_path", "default_sampler"]

SAMPLERS = ("checkerboard", "heat_bath", "swendsen_wang", "wolff")


@numba.njit(cache=True)
def weighted_bond_sum(spins, edges, weights):
    r""":math:`B(s) = \sum_e K_e s_i s_j`."""
    b = 0.0
    for e in range(edges.shape[0]):
        b += weights[e] * spins[edges[e, 0]] * spins[edges[e, 1]]
    return b


def fast_square(couplings: IsingCouplings) -> bool:
    """True when the specialised periodic-square kernel and the RB / marginal estimators apply
    (periodic L×L, L even, uniform K and h)."""
    c = couplings
    return bool(c.is_square_lattice and c.boundary == "periodic" and c.shape[0] == c.shape[1]
                and c.shape[0] % 2 == 0 and c.uniform_coupling is not None and c.uniform_field is not None
                and c.neighbour_table[0].shape[1] == 4)


def log_partition_independent(couplings: IsingCouplings) -> float:
    r""":math:`\ln Z(\lambda = 0) = \sum_i \ln 2\cosh h_i`."""
    h = np.abs(couplings.field)
    return float(np.sum(h + np.log1p(np.exp(-2 * h))))


def kernel_for(couplings: IsingCouplings, sampler: str, sweeps: int = 1):
    """The spin kernel of ``sampler`` (one of :data:`SAMPLERS`) at ``couplings``, ``sweeps`` per step."""
    if sampler in ("checkerboard", "heat_bath"):
        return CheckerboardKernel(couplings, "metropolis" if sampler == "checkerboard" else "heat_bath", sweeps)
    if sampler == "swendsen_wang":
        from .swendsen_wang import SwendsenWangKernel
        return SwendsenWangKernel(couplings, sweeps)
    if sampler == "wolff":
        from .wolff import WolffKernel
        return WolffKernel(couplings, max(1, sweeps))
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


def check_couplings_and_sampler(couplings, sampler) -> None:
    """ValueError unless ``couplings`` is an IsingCouplings record and ``sampler`` applies to it."""
    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler in ("swendsen_wang", "wolff") and not couplings.zero_field:
        raise ValueError(f"sampler {sampler!r} needs zero field h = 0")


def exact_independent_spins(couplings, rng) -> np.ndarray:
    """One exact draw of the spins at λ = 0 (int8, no ghost)."""
    p_up = 0.5 * (1 + np.tanh(couplings.field))
    return np.where(rng.random(couplings.n_spins) < p_up, 1, -1).astype(np.int8)


def use_fast_path(couplings, sampler, requested, name: str) -> bool:
    """Whether to use the sublattice (fast square-lattice) path: ``requested`` (None = when possible)."""
    fast = sampler in ("checkerboard", "heat_bath") and fast_square(couplings)
    if requested is None:
        return fast
    if requested and not fast:
        raise ValueError(f"{name} needs a periodic L x L lattice (L even, uniform K and h) and a "
                         "checkerboard / heat_bath sampler")
    return bool(requested)


def default_sampler(couplings) -> str:
    """The fast RB / marginal path where it applies, else Swendsen–Wang at h = 0, else checkerboard."""
    if fast_square(couplings) or not couplings.zero_field:
        return "checkerboard"
    return "swendsen_wang"
