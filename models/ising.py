r"""The Ising model: Boltzmann distribution, declarative PyMC model, exact references.

.. math::

    P(s) = \frac{1}{Z} \exp\Big(\sum_{\langle ij\rangle} K\, s_i s_j + \sum_i h_i s_i\Big),
    \qquad K = \beta J,\; s_i \in \{-1,+1\}.

Conventions used throughout physml: energies are in units of J with the field left out,
:math:`E = -\sum_{\langle ij\rangle} s_i s_j` (so Onsager's :math:`u(K_c) = -\sqrt2`); the free
energy is :math:`F = -\ln Z` in nats; per-draw observables are :math:`E/N`, :math:`|M|/N` and
:math:`(M/N)^2`; specific heat per spin :math:`c = K^2 N\,\mathrm{Var}(E/N)` and susceptibility
:math:`\chi = N(\langle m^2\rangle - \langle |m|\rangle^2)`.

Exact references: enumeration (N ≤ 20, any couplings), Kaufman's closed form on the periodic
torus at h = 0 (any L), a row-to-row transfer matrix (independent check, width ≤ 10), Onsager's
infinite-lattice free energy and energy, and Yang's spontaneous magnetisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special
from scipy.differentiate import derivative

from physml.inference.enumeration import binary_state_blocks, spin_states, spins_from_bits
from physml.inference.special import log_2cosh, log_abs_2sinh
from physml.inference.spins.lattice import (
    BOUNDARIES,
    K_CRITICAL,
    IsingCouplings,
    attach_couplings,
    couplings_from_matrix,
    square_lattice_couplings,
    validate_lattice_size,
)

__all__ = [
    "K_CRITICAL", "K_CRITICAL_MEAN_FIELD", "K_CRITICAL_BETHE", "IsingSpec", "ising_couplings",
    "ising_model", "ising_model_from_couplings", "log_partition_kaufman", "kaufman_observables",
    "log_partition_transfer_matrix", "enumerate_ising", "onsager_log_partition_per_spin",
    "onsager_energy_per_spin", "yang_magnetisation", "exact_reference", "SPIN_VAR",
]

K_CRITICAL_MEAN_FIELD = 0.25
r"""Naive mean-field critical coupling of the square lattice, :math:`1/z = 1/4`."""
K_CRITICAL_BETHE = math.atanh(1.0 / 3.0)
r"""Bethe critical coupling of the square lattice, :math:`\operatorname{atanh}(1/(z-1)) = \tfrac12\ln 2`."""
SPIN_VAR = "up"
"""Name of the PyMC Bernoulli variable: 1 where the spin is up (s = +1), 0 where it is down."""


@dataclass(frozen=True)
class IsingSpec:
    """Settings of a square-lattice Ising model: L ≥ 2, finite K, scalar h, boundary."""

    L: int = 16
    K: float = K_CRITICAL
    h: float = 0.0
    boundary: str = "periodic"

    def __post_init__(self):
        validate_lattice_size(self.L)
        for name in ("K", "h"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(v)):
                raise ValueError(f"{name} must be a finite real number, got {v!r}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")

    @property
    def n_spins(self) -> int:
        return self.L * self.L


def ising_couplings(L: int, K: float, h=0.0, boundary: str = "periodic") -> IsingCouplings:
    """Couplings of the L×L square lattice (h a scalar, an (L, L) or an (L²,) array)."""
    return square_lattice_couplings(L, K, h, boundary)


# ------------------------------------------------------------------ PyMC model
def ising_model_from_couplings(couplings: IsingCouplings):
    r"""A ``pm.Model`` whose density over ``up`` ∈ {0,1}^N is the Boltzmann distribution.

    ``up ~ Bernoulli(1/2)`` (a constant :math:`-N\ln 2`) plus ``pm.Potential("boltzmann",``
    :math:`\sum_e K_e s_i s_j + \sum_i h_i s_i`), :math:`s = 2\,\mathrm{up} - 1`. PyMC assigns
    ``BinaryGibbsMetropolis`` to it; physml's fast steps find the couplings attached to the model.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    n = couplings.n_spins
    with pm.Model() as model:
        up = pm.Bernoulli(SPIN_VAR, p=0.5, shape=n)
        s = 2 * up - 1
        pair = s[couplings.edges[:, 0]] * s[couplings.edges[:, 1]]
        pm.Potential("boltzmann", pt.dot(pair, couplings.weights) + pt.dot(s, couplings.field))
    attach_couplings(model, couplings, SPIN_VAR)
    return model


def ising_model(L: int = 16, K: float = K_CRITICAL, h=0.0, boundary: str = "periodic", *,
                couplings_matrix=None):
    """Declarative PyMC Ising model on an L×L lattice, or on ``couplings_matrix`` if given."""
    if couplings_matrix is not None:
        return ising_model_from_couplings(couplings_from_matrix(couplings_matrix, h))
    return ising_model_from_couplings(ising_couplings(L, K, h, boundary))


# ------------------------------------------------------------------ Kaufman
def _kaufman_rect(rows: int, cols: int, K: float) -> float:
    if K == 0.0:
        return rows * cols * math.log(2.0)
    t2 = math.tanh(2.0 * K)
    c = math.cosh(2.0 * K) / t2
    k = np.arange(2 * cols)
    gam = np.arccosh(c - np.cos(np.pi * k / cols))
    gam[0] = 2.0 * K + math.log(math.tanh(K))  # signed: Kaufman's gamma_0 = 2(K - K*)
    odd, even = gam[1::2], gam[0::2]
    half = 0.5 * rows
    log_z1, log_z2 = log_2cosh(half * odd).sum(), log_abs_2sinh(half * odd).sum()
    log_z3, log_abs_z4 = log_2cosh(half * even).sum(), log_abs_2sinh(half * even).sum()
    # Z3 > |Z4| always; combine the signed pair exactly, then a plain log-sum-exp of positives
    with np.errstate(divide="ignore"):
        log_z34 = log_z3 + np.log1p(np.sign(gam[0]) * np.exp(log_abs_z4 - log_z3))
    lse = special.logsumexp([log_z1, log_z2, log_z34])
    return float(-math.log(2.0) + 0.5 * rows * cols * math.log(2.0 * math.sinh(2.0 * K)) + lse)


def log_partition_kaufman(L: int, K: float, rows: int | None = None) -> float:
    r"""Exact :math:`\ln Z` of the periodic L×L torus at h = 0 (Kaufman 1949), any L, K ≥ 0.

    .. math::

        Z = \tfrac12 (2\sinh 2K)^{MN/2} (Z_1 + Z_2 + Z_3 + Z_4),\quad
        Z_{1,2} = \prod_{r=0}^{N-1} 2\,{\cosh \atop \sinh}\big(\tfrac{M}{2}\gamma_{2r+1}\big),\quad
        Z_{3,4} = \prod_{r=0}^{N-1} 2\,{\cosh \atop \sinh}\big(\tfrac{M}{2}\gamma_{2r}\big),

    :math:`\cosh\gamma_k = \cosh 2K \coth 2K - \cos(\pi k/N)`, and the *signed*
    :math:`\gamma_0 = 2K + \ln\tanh K` (negative below :math:`K_c`, which makes :math:`Z_4 < 0`).
    Terms are combined by a signed log-sum-exp. ``rows`` (M) defaults to L (N = L columns).
    """
    L = validate_lattice_size(L)
    rows = L if rows is None else validate_lattice_size(rows)
    if isinstance(K, bool) or not math.isfinite(float(K)) or float(K) < 0:
        raise ValueError(f"K must be finite and >= 0, got {K!r}")
    return _kaufman_rect(rows, L, float(K))


def kaufman_observables(L: int, K: float) -> dict:
    r"""Exact per-spin observables on the periodic torus from derivatives of Kaufman's ln Z.

    :math:`\ln Z/N`, :math:`u = \langle E\rangle/N = -\frac1N\,\partial_K \ln Z`,
    :math:`c = \frac{K^2}{N}\,\partial_K^2 \ln Z`. Derivatives by ``scipy.differentiate``.
    """
    L = validate_lattice_size(L)
    K = float(K)
    if not math.isfinite(K) or K <= 0:
        raise ValueError(f"K must be finite and > 0, got {K!r}")
    n = L * L
    f = np.vectorize(lambda k: _kaufman_rect(L, L, float(k)), otypes=[float])
    step = min(0.05, K / 4)
    d1 = derivative(f, K, initial_step=step, order=8)
    d1f = np.vectorize(lambda k: float(derivative(f, k, initial_step=step, order=8).df), otypes=[float])
    d2 = derivative(d1f, K, initial_step=step, order=4)
    return {"log_z": _kaufman_rect(L, L, K), "log_z_per_spin": _kaufman_rect(L, L, K) / n,
            "energy_per_spin": -float(d1.df) / n, "specific_heat_per_spin": K * K * float(d2.df) / n,
            "energy_per_spin_error": float(d1.error) / n}


def log_partition_transfer_matrix(width: int, rows: int, K: float) -> float:
    r""":math:`\ln \mathrm{Tr}\, T^{M}` for a periodic rows×width torus at h = 0 (width ≤ 10).

    :math:`T_{ab} = \exp\big(\tfrac K2\sum_c (a_c a_{c+1} + b_c b_{c+1}) + K \sum_c a_c b_c\big)`
    is symmetric; :math:`\ln Z = \ln\sum_k \lambda_k^{M}` by a signed log-sum-exp.
    """
    if width > 10:
        raise ValueError(f"width must be <= 10 for the transfer matrix, got {width}")
    states = spin_states(width)
    intra = (states * np.roll(states, -1, axis=1)).sum(axis=1)
    inter = states @ states.T
    logT = 0.5 * K * (intra[:, None] + intra[None, :]) + K * inter
    shift = logT.max()
    lam = np.linalg.eigvalsh(np.exp(logT - shift))
    nz = lam != 0
    val = special.logsumexp(rows * np.log(np.abs(lam[nz])), b=np.sign(lam[nz]) ** rows)
    return float(val + rows * shift)


# ------------------------------------------------------------------ enumeration
def enumerate_ising(couplings: IsingCouplings, max_spins: int = 20) -> dict:
    r"""Exact :math:`\ln Z`, :math:`\langle E\rangle/N`, :math:`\langle|M|\rangle/N`, :math:`\langle (M/N)^2\rangle` by summing all :math:`2^N` states.

    Also the specific heat :math:`K^2 N \mathrm{Var}(E/N)` (uniform K) and the susceptibility
    :math:`N(\langle m^2\rangle - \langle|m|\rangle^2)`. E is the bond energy :math:`-\sum_e s_i s_j`.
    """
    n = couplings.n_spins
    if n > max_spins:
        raise ValueError(f"enumeration needs N <= {max_spins} spins, got {n}")
    lw, e, am, m2 = [], [], [], []
    for bits in binary_state_blocks(n, 1 << 16):
        s = spins_from_bits(bits)
        lw.append(couplings.log_weight(s))
        e.append(-couplings.bond_sum(s) / n)
        mag = s.sum(axis=1) / n
        am.append(np.abs(mag))
        m2.append(mag ** 2)
    lw, e, am, m2 = map(np.concatenate, (lw, e, am, m2))
    log_z = float(special.logsumexp(lw))
    p = np.exp(lw - log_z)
    mean = lambda x: float(p @ x)  # noqa: E731
    K = couplings.uniform_coupling or 0.0
    return {"log_z": log_z, "log_z_per_spin": log_z / n, "energy_per_spin": mean(e),
            "abs_magnetisation": mean(am), "magnetisation_sq": mean(m2),
            "specific_heat_per_spin": K * K * n * (mean(e * e) - mean(e) ** 2),
            "susceptibility": n * (mean(m2) - mean(am) ** 2)}


# ------------------------------------------------------------------ infinite lattice
def onsager_log_partition_per_spin(K: float) -> float:
    r"""Onsager: :math:`\ln Z/N = \ln(2\cosh 2K) + \frac1{2\pi}\int_0^\pi \ln\frac{1+\sqrt{1-\kappa^2\sin^2\theta}}{2}\,d\theta`, :math:`\kappa = 2\sinh 2K/\cosh^2 2K`."""
    K = float(K)
    kappa = 2.0 * math.sinh(2 * K) / math.cosh(2 * K) ** 2
    integrand = lambda th: math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - (kappa * math.sin(th)) ** 2))))  # noqa: E731
    val, _ = integrate.quad(integrand, 0.0, math.pi, epsabs=1e-13, epsrel=1e-13, limit=200)
    return math.log(2.0 * math.cosh(2 * K)) + val / (2.0 * math.pi)


def onsager_energy_per_spin(K: float) -> float:
    r"""Onsager: :math:`u = -\coth 2K\,[1 + \frac2\pi(2\tanh^2 2K - 1) K_1(\kappa)]`, :math:`K_1` = ``ellipk(κ²)``; :math:`u(K_c) = -\sqrt2`."""
    K = float(K)
    kappa = 2.0 * math.sinh(2 * K) / math.cosh(2 * K) ** 2
    pref = 2.0 * math.tanh(2 * K) ** 2 - 1.0
    term = 0.0 if abs(pref) < 1e-14 else pref * special.ellipk(kappa ** 2)
    return -1.0 / math.tanh(2 * K) * (1.0 + 2.0 / math.pi * term)


def yang_magnetisation(K: float) -> float:
    r"""Spontaneous magnetisation :math:`(1 - \sinh^{-4} 2K)^{1/8}` for :math:`K > K_c`, else 0."""
    K = float(K)
    if K <= K_CRITICAL:
        return 0.0
    return (1.0 - math.sinh(2 * K) ** -4) ** 0.125


def exact_reference(spec: IsingSpec) -> dict:
    """The exact numbers available for ``spec``: enumeration (N ≤ 16), Kaufman (periodic, h = 0), Onsager."""
    out: dict = {"K_c": K_CRITICAL, "K_c_mean_field": K_CRITICAL_MEAN_FIELD, "K_c_bethe": K_CRITICAL_BETHE,
                 "onsager_log_z_per_spin": onsager_log_partition_per_spin(spec.K) if spec.K > 0 else math.log(2),
                 "onsager_energy_per_spin": onsager_energy_per_spin(spec.K) if spec.K > 0 else 0.0,
                 "yang_magnetisation": yang_magnetisation(spec.K)}
    if spec.n_spins <= 16:
        ex = enumerate_ising(ising_couplings(spec.L, spec.K, spec.h, spec.boundary))
        out.update({"source": "enumeration", **ex, "free_energy": -ex["log_z"]})
    elif spec.boundary == "periodic" and spec.h == 0 and spec.K > 0:
        ko = kaufman_observables(spec.L, spec.K)
        out.update({"source": "kaufman", **ko, "free_energy": -ko["log_z"]})
    else:
        out["source"] = "none (open boundary or h != 0 beyond enumeration)"
    return out
