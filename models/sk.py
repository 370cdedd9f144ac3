r"""The Sherrington–Kirkpatrick spin glass: energy, declarative PyMC model, exact and mean-field references.

.. math::

    H(s) = -\sum_{i<j} J_{ij} s_i s_j - h\sum_i s_i, \qquad J_{ij} = J_{ji} \sim \mathcal N(0, 1/N),
    \qquad P(s) = e^{-\beta H(s)}/Z,

an Ising model on the complete graph with couplings :math:`K_{ij} = \beta J_{ij}` and field :math:`\beta h`
(Sherrington & Kirkpatrick 1975). Energies are per spin in units of J.

Exact references:

* **enumeration** (N ≤ 20, all :math:`2^N` states in blocks): :math:`\ln Z`, :math:`\langle H\rangle/N`, and the
  overlap distribution of two independent replicas, :math:`P(q) = \sum_{s,t} p(s)p(t)\,\delta_{q, s\cdot t/N}`.
  With :math:`t = s \odot \tau`, :math:`s\cdot t = \sum_i\tau_i` and :math:`\sum_s p(s)p(s\odot\tau)` is the
  XOR self-convolution of p, :math:`\mathcal W^{-1}[(\mathcal W p)^2]` by the fast Walsh–Hadamard transform
  :math:`\mathcal W` (:math:`O(N 2^N)`);
* **annealed** (exact for :math:`N\to\infty` at T > 1, h = 0): :math:`\ln\mathbb E_J Z = N\ln 2 + \beta^2 (N-1)/4`,
  per spin :math:`-\beta f = \ln 2 + \beta^2/4`;
* **replica symmetric** (SK 1975, h = 0): :math:`q = \int\!Dz\,\tanh^2(\beta\sqrt q z)`,
  :math:`-\beta f = \tfrac{\beta^2}{4}(1-q)^2 + \int\!Dz\,\ln 2\cosh(\beta\sqrt q z)`,
  :math:`u = -\tfrac{\beta}{2}(1-q^2)`, :math:`s = \beta u - \beta f`; q > 0 only for T < 1, and
  :math:`s(T\to 0) = -1/(2\pi)`, :math:`u(0) = -\sqrt{2/\pi}` — a negative entropy, the known failure of
  RS (the Parisi solution gives :math:`e_0 = -0.7633`).

Finite-size analysis:

* **ground-state energy** per spin :math:`e_N = \mathbb E_J \min_s H/N` extrapolated as
  :math:`e_N = e_0 + a N^{-2/3} (+ b N^{-4/3})` (Parisi, Ritort & Slanina 1993; Boettcher 2005) by weighted
  least squares with the disorder-sample errors;
* **SG Binder ratio** :math:`g = \tfrac12\big(3 - [\langle q^4\rangle]/[\langle q^2\rangle]^2\big)` (disorder
  averages [·] of numerator and denominator): 0 for Gaussian q (T > T_c, N → ∞), 1 for q = ±q_EA; curves of
  different N cross at :math:`T_c = 1`;
* the **Gaussian-coupling identity** (integration by parts in :math:`J_{ij}`, Katzgraber, Palassini & Young
  2001) :math:`[\langle H\rangle]/N = -\tfrac{\beta}{2}(1 - [\langle q^2\rangle])` at h = 0 — an equilibration
  check for two-replica PT runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from physml.inference.enumeration import binary_state_blocks, spins_from_bits
from physml.inference.special import log_2cosh
from physml.inference.spins.lattice import IsingCouplings, couplings_from_matrix
from physml.models.ising import ising_model_from_couplings

__all__ = ["SKSpec", "sk_couplings_matrix", "sk_couplings", "sk_model", "enumerate_sk", "walsh_hadamard",
           "annealed_log_partition_per_spin", "annealed_log_partition_finite", "replica_symmetric",
           "RS_ZERO_T_ENTROPY", "RS_ZERO_T_ENERGY", "PARISI_GROUND_STATE_ENERGY",
           "binder_ratio", "energy_from_overlap", "extrapolate_ground_state"]

RS_ZERO_T_ENTROPY = -1.0 / (2.0 * math.pi)
RS_ZERO_T_ENERGY = -math.sqrt(2.0 / math.pi)
PARISI_GROUND_STATE_ENERGY = -0.7633  # Parisi (1980); Crisanti & Rizzo (2002): -0.76316


@dataclass(frozen=True)
class SKSpec:
    """One SK sample: N ≥ 2 spins, temperature T > 0, uniform field h, the coupling sample's seed."""

    n: int = 16
    T: float = 0.5
    h: float = 0.0
    sample_seed: int = 0

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n!r}")
        if not (isinstance(self.T, (int, float)) and math.isfinite(self.T) and self.T > 0):
            raise ValueError(f"T must be a finite number > 0, got {self.T!r}")
        if not math.isfinite(self.h):
            raise ValueError(f"h must be finite, got {self.h!r}")

    @property
    def beta(self) -> float:
        return 1.0 / self.T


def sk_couplings_matrix(n: int, seed) -> np.ndarray:
    r"""Symmetric :math:`J` with zero diagonal, :math:`J_{ij} \sim \mathcal N(0, 1/N)` for i < j."""
    SKSpec(n=n)
    upper = np.triu(np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, n)), 1)
    return upper + upper.T


def sk_couplings(spec: SKSpec) -> IsingCouplings:
    r"""Ising couplings :math:`K = \beta J`, field :math:`\beta h` of the sample ``spec``."""
    J = sk_couplings_matrix(spec.n, spec.sample_seed)
    return couplings_from_matrix(spec.beta * J, spec.beta * spec.h)


def sk_model(spec: SKSpec):
    """Declarative PyMC model of the SK sample (the Ising model on its couplings)."""
    return ising_model_from_couplings(sk_couplings(spec))


# ------------------------------------------------------------------ enumeration
def walsh_hadamard(values) -> np.ndarray:
    r"""Fast Walsh–Hadamard transform :math:`(\mathcal W a)_k = \sum_j (-1)^{\mathrm{popcount}(j\,\&\,k)} a_j`."""
    a = np.array(values, dtype=float)
    n = a.size
    if n & (n - 1):
        raise ValueError(f"values must have a power-of-two length, got {n}")
    h = 1
    while h < n:
        a = a.reshape(-1, 2, h)
        a = np.stack([a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]], axis=1)
        h *= 2
    return a.reshape(-1)


def enumerate_sk(couplings: IsingCouplings, max_spins: int = 20, block_size: int = 1 << 15) -> dict:
    r"""Exact :math:`\ln Z`, :math:`\langle\ell\rangle/N` (ℓ = ln weight = −βH), the overlap distribution
    (``q`` grid, ``p_q``) of two independent replicas, the site magnetisations ⟨s_i⟩ and max ℓ (= −βE₀), by
    summing all :math:`2^N` states."""
    n = couplings.n_spins
    if n > max_spins:
        raise ValueError(f"enumeration needs N <= {max_spins} spins, got {n}")
    K, h = couplings.dense_matrix(), np.asarray(couplings.field)
    lw = np.empty(2 ** n)
    start = 0
    for bits in binary_state_blocks(n, block_size):
        s = spins_from_bits(bits).astype(float)
        lw[start:start + len(s)] = 0.5 * np.einsum("bi,ij,bj->b", s, K, s) + s @ h
        start += len(s)
    log_z = float(special.logsumexp(lw))
    p = np.exp(lw - log_z)
    mag, start = np.zeros(n), 0
    for bits in binary_state_blocks(n, block_size):
        mag += p[start:start + len(bits)] @ spins_from_bits(bits).astype(float)
        start += len(bits)
    conv = walsh_hadamard(walsh_hadamard(p) ** 2) / p.size  # Σ_s p(s) p(s xor τ)
    flips = np.zeros(p.size, dtype=np.int64)
    for i in range(n):
        flips += (np.arange(p.size) >> i) & 1
    p_q = np.bincount(flips, weights=np.clip(conv, 0.0, None), minlength=n + 1)[::-1]
    q = (2.0 * np.arange(n + 1) - n) / n  # q = (N − 2 flips)/N, ascending
    return {"log_z": log_z, "log_weight_per_spin": float(p @ lw) / n, "q": q, "p_q": p_q / p_q.sum(),
            "magnetisation": mag, "max_log_weight": float(lw.max())}


# ------------------------------------------------------------------ mean-field theory
def annealed_log_partition_per_spin(beta: float) -> float:
    r""":math:`\ln 2 + \beta^2/4`: the annealed (= quenched for T > 1, N → ∞) :math:`-\beta f`."""
    return math.log(2.0) + beta * beta / 4.0


def annealed_log_partition_finite(n: int, beta: float) -> float:
    r""":math:`\ln\mathbb E_J Z / N = \ln 2 + \beta^2 (N - 1)/(4N)` at finite N (h = 0)."""
    return math.log(2.0) + beta * beta * (n - 1) / (4.0 * n)


def _gauss(f) -> float:
    return integrate.quad(lambda z: f(z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), -np.inf, np.inf,
                          points=None, limit=400, epsabs=1e-13, epsrel=1e-11)[0]


def replica_symmetric(T: float) -> dict:
    """RS order parameter q, −βf, energy u and entropy s per spin of SK at temperature T > 0, h = 0."""
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a finite number > 0, got {T!r}")
    beta = 1.0 / T
    q = 0.0
    if beta > 1.0:
        def gap(x):
            return _gauss(lambda z: math.tanh(beta * math.sqrt(x) * z) ** 2) - x
        q = optimize.brentq(gap, 1e-12, 1.0 - 1e-15, xtol=1e-14)
    minus_beta_f = beta ** 2 / 4 * (1 - q) ** 2 + _gauss(lambda z: float(log_2cosh(beta * math.sqrt(q) * z)))
    u = -beta / 2 * (1 - q * q)
    return {"q": q, "minus_beta_f": minus_beta_f, "energy": u, "entropy": beta * u + minus_beta_f}


# ------------------------------------------------------------------ finite-size analysis
def binder_ratio(q2, q4):
    r""":math:`g = \tfrac12(3 - \langle q^4\rangle/\langle q^2\rangle^2)` (arrays broadcast)."""
    return 0.5 * (3.0 - np.asarray(q4) / np.asarray(q2) ** 2)


def energy_from_overlap(beta, q2):
    r"""SK at h = 0: :math:`[\langle H\rangle]/N = -\tfrac{\beta}{2}(1 - [\langle q^2\rangle])` (exact for any N)."""
    return -0.5 * np.asarray(beta) * (1.0 - np.asarray(q2))


def extrapolate_ground_state(sizes, energies, ses, *, quadratic: bool = False) -> dict:
    r"""Weighted least squares :math:`e_N = e_0 + a N^{-2/3} (+ b N^{-4/3})` with errors ``ses``.

    Returns e₀, its se (from the covariance with the given errors; multiplied by √(χ²/dof) when that exceeds 1),
    the other coefficients, χ²/dof and z of e₀ against Parisi's −0.7633.
    """
    n, y, se = (np.asarray(a, dtype=float) for a in (sizes, energies, ses))
    deg = 2 if quadratic else 1
    if n.size < deg + 2 or np.any(se <= 0) or np.any(n < 2):
        raise ValueError(f"need >= {deg + 2} sizes >= 2 with positive errors, got sizes {n.tolist()}")
    x = n ** (-2.0 / 3.0)
    coef, cov = np.polyfit(x, y, deg, w=1.0 / se, cov="unscaled")
    chi2 = float(np.sum(((np.polyval(coef, x) - y) / se) ** 2))
    dof = n.size - deg - 1
    inflate = max(1.0, math.sqrt(chi2 / dof))
    e0, e0_se = float(coef[-1]), float(math.sqrt(cov[-1, -1])) * inflate
    return {"e0": e0, "se": e0_se, "a": float(coef[-2]), "b": float(coef[0]) if quadratic else 0.0,
            "chi2_per_dof": chi2 / dof, "dof": dof, "z_parisi": (e0 - PARISI_GROUND_STATE_ENERGY) / e0_se,
            "relative_error": abs(e0 / PARISI_GROUND_STATE_ENERGY - 1.0), "quadratic": quadratic}
