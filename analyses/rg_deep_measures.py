r"""Measures of a deep belief net trained on Ising configurations: receptive-field locality, and its top layer
against majority-rule block spins.

**Locality.** A receptive field :math:`R_{\cdot j}` of unit :math:`j` lives on the periodic :math:`L\times L`
lattice; its weight mass is :math:`\mu_i = |R_{ij}|/\sum_k|R_{kj}|`. Its centre is the periodic (circular)
mean of the site coordinates under :math:`\mu`, per axis :math:`c = \tfrac{L}{2\pi}\arg\sum_i \mu_i
e^{2\pi i x_i/L}`; :math:`d_i` is the periodic distance of site :math:`i` from the centre. The locality
profile is the mass within radius :math:`r`, averaged over units,

.. math::

    f(r) = \frac{1}{n}\sum_j \sum_{i:\,d_{ij}\le r} \mu_{ij},

and the half-mass radius :math:`r_{1/2}` the smallest :math:`d` holding half the mass. The baseline is the
same fields with each unit's weights randomly permuted over the sites (the same weights, no geometry), measured
the same way — so the centring's own bias is in both, and a learned field is *local* only if its
:math:`f(r)` exceeds the baseline's by more than the errors.

**Top layer against block spins.** A top-layer code :math:`h_j\in\{0,1\}` becomes a spin
:math:`\sigma_j = \pm(2h_j - 1)`, the sign chosen so that :math:`\sigma_j` correlates positively with the
configuration's magnetisation (an RBM unit may code "down"). Compared with majority-rule blocks of side
:math:`b = L/\sqrt{n_D}` (as many blocks as top units): the magnetisation :math:`m = \frac1n\sum_j \sigma_j`
(its ⟨|m|⟩, ⟨m²⟩ and the Wasserstein-1 distance between the |m| distributions) and the nearest-neighbour
correlation — for blocks the mean of :math:`s_I s_J` over adjacent blocks; for units the mean of
:math:`\langle\sigma_j\sigma_k\rangle` over pairs whose receptive-field centres lie at a periodic distance in
:math:`(b/2, 1.2\,b]` (adjacent, not diagonal, blocks) — and the *coverage*, the fraction of blocks holding at
least one unit centre (1 for block spins).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

from ..inference.spins.block_spin import majority_rule


def _masses(fields) -> np.ndarray:
    """(n_units, L²) weight masses μ (rows sum to 1)."""
    mass = np.abs(np.asarray(fields, dtype=float)).T
    total = mass.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("every receptive field must have nonzero weight mass")
    return mass / total


def _site_coordinates(L: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(L * L), L)
    return np.stack([rows, cols], axis=1).astype(float)


def _side(fields) -> int:
    n_sites = np.asarray(fields).shape[0]
    L = int(round(np.sqrt(n_sites)))
    if L * L != n_sites or L < 2:
        raise ValueError(f"fields must have L² rows for an integer L >= 2, got {n_sites}")
    return L


def field_centres(fields) -> np.ndarray:
    """(n_units, 2) periodic centres (row, col) of the receptive fields ``fields`` (L², n_units)."""
    L = _side(fields)
    mass = _masses(fields)
    angles = 2 * np.pi * _site_coordinates(L) / L  # (L², 2)
    resultant = mass @ np.exp(1j * angles)  # (n_units, 2)
    return np.mod(np.angle(resultant) * L / (2 * np.pi), L)


def periodic_distances(points, L: int) -> np.ndarray:
    """(n_points, L²) periodic Euclidean distance of every lattice site from each point (row, col)."""
    delta = np.abs(np.asarray(points, float)[:, None, :] - _site_coordinates(L)[None, :, :])
    delta = np.minimum(delta, L - delta)
    return np.sqrt((delta ** 2).sum(axis=2))


def locality_profile(fields, radii) -> np.ndarray:
    """f(r) of the module docstring at every r of ``radii``: mean fraction of weight mass within r of the centre."""
    L = _side(fields)
    mass = _masses(fields)
    dist = periodic_distances(field_centres(fields), L)
    radii = np.asarray(radii, dtype=float)
    inside = dist[:, :, None] <= radii[None, None, :]
    return (mass[:, :, None] * inside).sum(axis=1).mean(axis=0)


def half_mass_radius(fields) -> float:
    """Mean over units of the smallest distance from the centre holding half of the unit's weight mass."""
    L = _side(fields)
    mass = _masses(fields)
    dist = periodic_distances(field_centres(fields), L)
    order = np.argsort(dist, axis=1, kind="stable")
    cumulative = np.cumsum(np.take_along_axis(mass, order, axis=1), axis=1)
    first = np.argmax(cumulative >= 0.5, axis=1)
    return float(np.take_along_axis(dist, order, axis=1)[np.arange(len(first)), first].mean())


def shuffled_fields(fields, rng: np.random.Generator) -> np.ndarray:
    """The baseline: every unit's weights permuted independently over the sites."""
    fields = np.asarray(fields, dtype=float)
    return np.stack([rng.permutation(col) for col in fields.T], axis=1)


def oriented_spins(codes, spins) -> np.ndarray:
    """σ_j = ±(2h_j − 1), signed so that each σ_j correlates non-negatively with the magnetisation of ``spins``."""
    codes = np.asarray(codes, dtype=float)
    m = np.asarray(spins, dtype=float).reshape(len(codes), -1).mean(axis=1)
    sigma = 2.0 * codes - 1.0
    sign = np.where((sigma * (m - m.mean())[:, None]).sum(axis=0) < 0, -1.0, 1.0)
    return sigma * sign


def block_nn_correlation(blocks) -> float:
    """Mean of s_I s_J over nearest-neighbour blocks of (N, l, l) periodic block configurations."""
    s = np.asarray(blocks, dtype=float)
    return float(0.5 * ((s * np.roll(s, 1, -1)).mean() + (s * np.roll(s, 1, -2)).mean()))


def unit_nn_correlation(sigma, centres, L: int, b: int) -> float:
    """Mean ⟨σ_j σ_k⟩ over unit pairs whose centres are at periodic distance in (b/2, 1.2 b] (nearest, not
    diagonal, neighbours of a block lattice: √2 b > 1.2 b); nan if none."""
    centres = np.asarray(centres, float)
    delta = np.abs(centres[:, None, :] - centres[None, :, :])
    dist = np.sqrt((np.minimum(delta, L - delta) ** 2).sum(axis=2))
    pairs = np.argwhere(np.triu((dist > b / 2) & (dist <= 1.2 * b), k=1))
    if len(pairs) == 0:
        return float("nan")
    sigma = np.asarray(sigma, float)
    return float((sigma[:, pairs[:, 0]] * sigma[:, pairs[:, 1]]).mean())


def coverage(centres, L: int, b: int) -> float:
    """Fraction of the (L/b)² blocks holding at least one unit centre."""
    cells = np.floor(np.mod(np.asarray(centres, float), L) / b).astype(int) % (L // b)
    return len({(int(r), int(c)) for r, c in cells}) / (L // b) ** 2


def top_versus_blocks(spins, top_codes, top_field, rng: np.random.Generator) -> dict:
    """The comparison of the module docstring for configurations ``spins`` (N, L, L) in ±1, their top-layer
    codes (N, n_D) and the top layer's receptive fields (L², n_D). Returns a dict of floats."""
    spins = np.asarray(spins)
    L = spins.shape[-1]
    side = int(round(np.sqrt(top_codes.shape[1])))
    b = L // side
    blocks = majority_rule(spins, b, rng)
    sigma = oriented_spins(top_codes, spins)
    centres = field_centres(top_field)
    m_top, m_block = sigma.mean(axis=1), blocks.reshape(len(blocks), -1).mean(axis=1)
    return {"b": b, "abs_m_top": float(np.abs(m_top).mean()), "abs_m_block": float(np.abs(m_block).mean()),
            "m2_top": float((m_top ** 2).mean()), "m2_block": float((m_block ** 2).mean()),
            "w1_abs_m": float(wasserstein_distance(np.abs(m_top), np.abs(m_block))),
            "nn_corr_top": unit_nn_correlation(sigma, centres, L, b), "nn_corr_block": block_nn_correlation(blocks),
            "coverage_top": coverage(centres, L, b)}


def spin_statistics(spins) -> dict:
    """⟨|m|⟩ and the nearest-neighbour correlation of (N, L, L) ±1 configurations."""
    s = np.asarray(spins, dtype=float)
    return {"abs_m": float(np.abs(s.reshape(len(s), -1).mean(axis=1)).mean()), "nn_corr": block_nn_correlation(s)}


__all__ = ["field_centres", "periodic_distances", "locality_profile", "half_mass_radius", "shuffled_fields",
           "oriented_spins", "block_nn_correlation", "unit_nn_correlation", "coverage", "top_versus_blocks",
           "spin_statistics"]
