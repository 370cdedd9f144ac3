r"""Bayesian pseudo-likelihood for the renormalised nearest-neighbour coupling K′ of block-spin configurations.

Energy first: the nearest-neighbour Ising model :math:`P(s) \propto e^{K'\sum_{\langle ij\rangle} s_i s_j}` has
the conditional of one spin given its neighbours (Besag 1975)

.. math::

    P(s_i \mid s_{\partial i}) = \sigma(2K' s_i h_i), \qquad h_i = \sum_{j\sim i} s_j,

and the log pseudo-likelihood of configurations :math:`s^{(c)}` is
:math:`\ell_\mathrm{PL}(K') = \sum_c \sum_i \ln\sigma(2K' s_i^{(c)} h_i^{(c)})`; it depends on the data only
through the counts :math:`n_t` of the products :math:`t = s_i h_i \in \{-4,-2,0,2,4\}`. The PyMC model puts
K′ ~ U(0, 2) and adds ℓ_PL as a potential (a pseudo-posterior: its maximiser is consistent for K′, but its
spread ignores the dependence between sites, so its sd is only approximate). On un-blocked equilibrium
samples of the nearest-neighbour model, K′ must equal the coupling that generated them.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..inference.spins.block_spin import neighbour_field

PRODUCTS = np.array([-4, -2, 0, 2, 4])


def product_counts(spins) -> np.ndarray:
    """Counts n_t of s_i h_i = t for t in PRODUCTS over all sites of (..., L, L) configurations."""
    t = (np.asarray(spins, dtype=np.int64) * neighbour_field(spins)).reshape(-1)
    return np.array([np.count_nonzero(t == v) for v in PRODUCTS])


def log_pseudo_likelihood(K: float, counts) -> float:
    """ℓ_PL(K) = Σ_t n_t ln σ(2 K t) (numpy)."""
    return float(np.dot(counts, -np.logaddexp(0.0, -2.0 * K * PRODUCTS)))


def pseudo_likelihood_model(spins) -> pm.Model:
    """K′ ~ U(0, 2) with the log pseudo-likelihood of ``spins`` (..., L, L) as a potential."""
    counts = product_counts(spins)
    with pm.Model() as model:
        K = pm.Uniform("K_prime", 0.0, 2.0)
        pm.Potential("pseudo_likelihood", pt.sum(counts * -pt.log1pexp(-2.0 * K * PRODUCTS)))
    return model
