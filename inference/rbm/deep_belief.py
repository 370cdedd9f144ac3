r"""Deep belief nets: a stack of binary RBMs trained greedily, layer by layer (Hinton, Osindero & Teh 2006).

Layer sizes :math:`n_0 > n_1 > \dots > n_D` (:math:`n_0` visible units). RBM :math:`\ell` (weights
:math:`W^{(\ell)}\in\mathbb R^{n_{\ell-1}\times n_\ell}`) is trained by
:func:`~physml.inference.rbm.contrastive_divergence.train` on binary samples of the layer below,

.. math::

    h^{(0)} = v, \qquad h^{(\ell)} \sim p(h^{(\ell)}\mid h^{(\ell-1)})
        = \sigma\big(b^{(\ell)} + W^{(\ell)\top} h^{(\ell-1)}\big),

so each RBM models the distribution of the code below it (the "up pass", :func:`up_pass`). A sample
from the top layer is carried down with the visible conditionals of every RBM (:func:`down_pass`),
:math:`p(h^{(\ell-1)}\mid h^{(\ell)}) = \sigma(a^{(\ell)} + W^{(\ell)} h^{(\ell)})`.

The *receptive field* of a unit of layer :math:`\ell` on the visible layer is the product of the weight
matrices below it (Mehta & Schwab 2014, arXiv:1410.3831, Fig. 5):
:math:`R^{(\ell)} = W^{(1)} W^{(2)}\cdots W^{(\ell)}` (:func:`receptive_fields`), a linear summary of a
non-linear map.
"""

from __future__ import annotations

import numpy as np

from . import gibbs as rbm_gibbs
from .contrastive_divergence import RBMParams, TrainingSettings, init_params, train


def validate_layer_sizes(layer_sizes, n_visible: int | None = None) -> list[int]:
    """Integers ``n_0 > n_1 > … > n_D ≥ 1`` (at least two), ``n_0 == n_visible`` when given; else ValueError."""
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or any(s != t for s, t in zip(sizes, layer_sizes)):
        raise ValueError(f"layer_sizes must be >= 2 integers, got {list(layer_sizes)!r}")
    if sizes[-1] < 1 or any(b >= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"layer_sizes must be strictly decreasing and >= 1, got {sizes}")
    if n_visible is not None and sizes[0] != n_visible:
        raise ValueError(f"layer_sizes[0] must equal n_visible = {n_visible}, got {sizes[0]}")
    return sizes


def train_deep_belief_net(data, layer_sizes, settings: TrainingSettings, *, seed) -> list[RBMParams]:
    """Greedy layer-wise training on binary ``data`` (N, n_0): RBM ℓ on sampled codes of layer ℓ−1."""
    data = np.asarray(data, dtype=float)
    sizes = validate_layer_sizes(layer_sizes, data.shape[1] if data.ndim == 2 else None)
    stack: list[RBMParams] = []
    below = data
    for depth, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layer_seed = [*np.atleast_1d(seed).tolist(), depth]
        params = init_params(n_in, n_out, seed=layer_seed + [0], data=below)
        params = train(below, params, settings, seed=layer_seed + [1], monitor=False).params
        stack.append(params)
        rng = np.random.default_rng(layer_seed + [2])
        below = sample_bernoulli(rbm_gibbs.hidden_probabilities(below, params.W, params.b), rng)
    return stack


def sample_bernoulli(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binary samples with success probabilities ``p``."""
    return (rng.random(p.shape) < p).astype(float)


def up_pass(data, stack: list[RBMParams], rng: np.random.Generator) -> list[np.ndarray]:
    """Sampled binary codes of every hidden layer for the rows of ``data`` (list of (N, n_ℓ) arrays)."""
    codes, below = [], np.asarray(data, dtype=float)
    for params in stack:
        below = sample_bernoulli(rbm_gibbs.hidden_probabilities(below, params.W, params.b), rng)
        codes.append(below)
    return codes


def down_pass(top, stack: list[RBMParams], rng: np.random.Generator) -> np.ndarray:
    """Visible samples generated from top-layer codes ``top`` (N, n_D) through every RBM's p(below | above)."""
    above = np.asarray(top, dtype=float)
    for params in reversed(stack):
        above = sample_bernoulli(rbm_gibbs.visible_probabilities(above, params.W, params.a), rng)
    return above


def receptive_fields(stack: list[RBMParams]) -> list[np.ndarray]:
    """``[W1, W1 W2, W1 W2 W3, …]``: the (n_0, n_ℓ) receptive field of every layer on the visible units."""
    fields, product = [], None
    for params in stack:
        product = params.W if product is None else product @ params.W
        fields.append(product)
    return fields


__all__ = ["validate_layer_sizes", "train_deep_belief_net", "sample_bernoulli", "up_pass", "down_pass",
           "receptive_fields"]
