r"""Mean-field free energy and KL(q‖p) of an Ising model by summing all 2^N states (not a test module).

For :math:`p(s) \propto w(s) = \exp(\tfrac12 s^\top J s + h^\top s)` (J symmetric, zero diagonal) and
the product :math:`q(s) = \prod_i \frac{1 + m_i s_i}{2}`, with sums over all :math:`s \in \{-1, 1\}^N`:

.. math::

    F_q = \sum_s q(s)\,[\ln q(s) - \ln w(s)], \qquad \ln Z = \ln \sum_s w(s), \qquad
    \mathrm{KL}(q\,\|\,p) = F_q + \ln Z \;\ge\; 0 .

Written here from the definitions (dense J, the full state list), independent of the library's
closed-form :math:`F_\mathrm{MF}(m)` and of its enumeration routines, so the Gibbs–Bogoliubov identity
:math:`F_\mathrm{MF} - F_\mathrm{exact} = \mathrm{KL}(q\|p)` is a check that can fail.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def ising_states(J, h):
    """All 2^N states s (rows, ±1) and their log weights ln w(s) = ½ sᵀJs + hᵀs (N ≤ 20)."""
    J, h = np.asarray(J, dtype=float), np.asarray(h, dtype=float)
    n = h.size
    if n > 20:
        raise ValueError(f"enumeration needs N <= 20 spins, got {n}")
    s = 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    return s, 0.5 * np.einsum("ki,ij,kj->k", s, J, s) + s @ h


def meanfield_kl_by_enumeration(J, h, m) -> dict:
    """``{"free_energy": F_q, "log_z": ln Z, "kl": KL(q‖p)}`` by enumeration (N ≤ 20)."""
    s, log_w = ising_states(J, h)
    m = np.asarray(m, dtype=float)
    with np.errstate(divide="ignore"):
        log_q = np.log(0.5 * (1.0 + m * s)).sum(axis=1)
    q = np.exp(log_q)
    free_energy = float(np.sum(np.where(q > 0, q * (log_q - log_w), 0.0)))
    log_z = float(logsumexp(log_w))
    return {"free_energy": free_energy, "log_z": log_z, "kl": free_energy + log_z}
