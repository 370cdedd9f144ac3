r"""Restricted Boltzmann machine: a latent-variable energy-based model.

Binary visible units :math:`v\in\{0,1\}^{n_v}` and hidden units :math:`h\in\{0,1\}^{n_h}`,
weights :math:`W\in\mathbb R^{n_v\times n_h}`, biases :math:`a\in\mathbb R^{n_v}`,
:math:`b\in\mathbb R^{n_h}`:

.. math::

    E(v, h) = -v^\top W h - a^\top v - b^\top h, \qquad
    P(v) = \frac{1}{Z}\sum_h e^{-E(v,h)} = \frac{e^{-F(v)}}{Z},

with the *free energy* of a visible configuration (hidden units summed out)

.. math::

    F(v) = -\ln\sum_h e^{-E(v,h)} = -a^\top v - \sum_j \operatorname{softplus}(b_j + (W^\top v)_j),

so maximum likelihood is free-energy minimisation:
:math:`\ln P(v) = -F(v) - \ln Z`. Given one layer, the units of the other are
independent (the exact, factorised "mean field" of an RBM):

.. math::

    p(h_j = 1\mid v) = \sigma(b_j + (W^\top v)_j), \qquad p(v_i = 1\mid h) = \sigma(a_i + (W h)_i).

Contents, in order: the energy (the free energy :func:`free_energy` and the conditionals
:func:`hidden_conditional`, :func:`visible_conditional` are the ones the algorithms use,
from :mod:`physml.inference.rbm.exact` and :mod:`physml.inference.rbm.gibbs`); data
(bars-and-stripes, user files); the Bayesian RBM as a PyMC model with the exact
:math:`\ln Z` in PyTensor, and its symmetry-invariant predictive distribution; the exact
reference: :math:`\ln Z` (:func:`log_partition_exact`, enumerating the smaller layer,
≤ 20 units) and the exact distribution over visible patterns. AIS lives in
:mod:`physml.inference.rbm.ais`, learning in
:mod:`physml.inference.rbm.contrastive_divergence`.

Symmetries of the Bayesian posterior
------------------------------------
Permuting hidden units (columns of :math:`W` with the entries of :math:`b`) leaves
:math:`P(v)` unchanged, and so does flipping a hidden unit,
:math:`h_j\to 1-h_j`: :math:`W_{:j}\to -W_{:j}`, :math:`b_j\to -b_j`,
:math:`a\to a + W_{:j}`. With the (exchangeable, symmetric) Normal priors the
posterior therefore has :math:`n_h!\,2^{n_h}` equivalent modes; quantities that
are functions of :math:`P(v)` — :math:`\ln Z`, the log-likelihood, the
predictive probability of every visible pattern — are invariant and are the ones
to compare across chains and methods.

References
----------
- Smolensky (1986), "Information processing in dynamical systems: foundations of harmony theory".
- Hinton (2002), "Training products of experts by minimizing contrastive divergence", Neural Comput. 14, 1771.
- Tieleman (2008), "Training restricted Boltzmann machines using approximations to the likelihood gradient", ICML.
- Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks", ICML.
- MacKay (2003), *Information Theory, Inference, and Learning Algorithms* (bars-and-stripes data).
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
from scipy.special import logsumexp

from physml.inference.rbm.exact import (
    MAX_ENUMERATED_UNITS,
    all_binary_states,
    free_energy,
    log_partition_enumerate,
)
from physml.inference.rbm.gibbs import hidden_probabilities as hidden_conditional
from physml.inference.rbm.gibbs import visible_probabilities as visible_conditional

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "validate_params",
    "energy",
    "free_energy",
    "hidden_conditional",
    "visible_conditional",
    "log_partition_exact",
    "log_likelihood",
    "visible_distribution",
    "pattern_codes",
    "pattern_frequencies",
    "bars_and_stripes_patterns",
    "bars_and_stripes",
    "validate_binary",
    "load_binary_rows",
    "resolve_data",
    "build_bayesian_rbm",
    "predictive_distribution",
    "REFERENCES",
]

REFERENCES = [
    "Smolensky (1986), harmony theory (the RBM).",
    "Hinton (2002), Neural Comput. 14, 1771 (contrastive divergence).",
    "Tieleman (2008), ICML (persistent contrastive divergence).",
    "Salakhutdinov & Murray (2008), ICML, 'On the quantitative analysis of deep belief networks' (AIS for RBMs).",
    "MacKay (2003), Information Theory, Inference, and Learning Algorithms (bars and stripes).",
]


# --------------------------------------------------------------------------- energy

def validate_params(W, a, b):
    """Arrays ``(W, a, b)`` as floats, with a ValueError naming the argument on a shape mismatch."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] < 1:
        raise ValueError(f"W must be a 2-D (n_visible, n_hidden) array with n_visible >= 1, got shape {W.shape}")
    if W.shape[1] < 1:
        raise ValueError(f"n_hidden must be >= 1, got W of shape {W.shape}")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != (W.shape[0],):
        raise ValueError(f"a (visible biases) must have shape ({W.shape[0]},), got {a.shape}")
    if b.shape != (W.shape[1],):
        raise ValueError(f"b (hidden biases) must have shape ({W.shape[1]},), got {b.shape}")
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("W, a and b must be finite")
    return W, a, b


def energy(v, h, W, a, b) -> np.ndarray:
    r""":math:`E(v,h) = -v^\top W h - a^\top v - b^\top h` (broadcast over leading axes)."""
    v = np.asarray(v, dtype=float)
    h = np.asarray(h, dtype=float)
    return -np.einsum("...i,ij,...j->...", v, W, h) - v @ a - h @ b


# --------------------------------------------------------------------------- data

def bars_and_stripes_patterns(size: int) -> np.ndarray:
    """The distinct bars-and-stripes images of a ``size × size`` grid, flattened row-major.

    Each is a set of full rows (stripes) or of full columns (bars): ``2**(size+1) - 2`` patterns
    (empty and full images belong to both families).
    """
    if int(size) != size or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size}")
    lines = all_binary_states(size)
    stripes = np.repeat(lines[:, :, None], size, axis=2).reshape(len(lines), -1)
    bars = np.repeat(lines[:, None, :], size, axis=1).reshape(len(lines), -1)
    patterns = np.unique(np.concatenate([stripes, bars]), axis=0)
    return patterns


def bars_and_stripes(size: int, n_samples: int, *, seed) -> np.ndarray:
    """``n_samples`` seeded bars-and-stripes images (MacKay's generator).

    Choose bars or stripes with probability ½ each, then switch every line on
    with probability ½; so the empty and full images are twice as likely as the others.
    """
    if int(size) != size or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size}")
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples}")
    rng = np.random.default_rng(seed)
    lines = (rng.random((n_samples, size)) < 0.5).astype(float)
    stripes = np.repeat(lines[:, :, None], size, axis=2)
    bars = np.repeat(lines[:, None, :], size, axis=1)
    use_bars = rng.random(n_samples) < 0.5
    images = np.where(use_bars[:, None, None], bars, stripes)
    return images.reshape(n_samples, size * size)


def validate_binary(data, n_visible: int | None = None, name: str = "data") -> np.ndarray:
    """``data`` as a float (N, n_visible) array of 0/1 values, or a ValueError saying what is wrong."""
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array of binary rows, got shape {np.shape(data)}")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric 0/1 values: {err}") from None
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{name} must be binary (0/1); row {r}, column {c} holds {arr[r, c]!r}")
    if n_visible is not None and arr.shape[1] != n_visible:
        raise ValueError(f"{name} must have n_visible = {n_visible} columns, got {arr.shape[1]}")
    return arr


def load_binary_rows(path, n_visible: int | None = None) -> np.ndarray:
    """Binary rows from a ``.npy`` file or a CSV / whitespace text file (one row per line, no header)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            text = path.read_text()
            delimiter = "," if "," in text else None
            arr = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except ValueError as err:
        raise ValueError(f"could not read binary rows from {str(path)!r}: {err}") from None
    return validate_binary(arr, n_visible=n_visible, name=f"data in {path.name}")


def resolve_data(spec: str | None, *, n_samples: int = 200, seed=0) -> tuple[np.ndarray, str, tuple[int, int] | None]:
    """Data set named by ``spec``: ``"bas3"`` (default), ``"bas4"`` or a path to ``.npy``/CSV rows.

    Returns ``(data, label, image_shape)``; ``image_shape`` is ``None`` for user rows
    whose width is not a perfect square.
    """
    spec = "bas3" if spec in (None, "") else str(spec)
    if spec in ("bas3", "bas4"):
        size = int(spec[-1])
        return bars_and_stripes(size, n_samples, seed=seed), f"bars-and-stripes {size}x{size}", (size, size)
    if spec.startswith("bas"):
        raise ValueError(f"data must be 'bas3', 'bas4' or a path to a .npy/CSV file, got {spec!r}")
    data = load_binary_rows(spec)
    side = math.isqrt(data.shape[1])
    shape = (side, side) if side * side == data.shape[1] else None
    return data, pathlib.Path(spec).name, shape


# --------------------------------------------------------------------------- Bayesian RBM

def build_bayesian_rbm(data, n_hidden: int, *, prior_sigma: float = 1.0):
    r"""The Bayesian RBM as a :class:`pymc.Model`.

    .. math::

        W_{ij}, a_i, b_j \sim \mathcal N(0, \sigma^2),\qquad
        \ln p(\mathcal D\mid\theta) = \sum_n [-F(v_n)] - N \ln Z(\theta),

    the likelihood an observed ``pm.CustomDist`` named ``v`` over the data rows (held in
    ``pm.Data("visible_data")``) whose log-density is :math:`-F(v_n) - \ln Z(\theta)` — the same
    sum as a ``pm.Potential``, but an observed variable, so the evidence estimators of
    :mod:`physml.inference` see a likelihood — and :math:`\ln Z` enumerated exactly in
    PyTensor over the smaller layer (≤ 20 units; keep it ≲ 12 for speed).
    Deterministics ``log_z`` and ``mean_log_likelihood`` are invariant under the
    hidden-unit permutation / sign-flip symmetry.
    """
    import pymc as pm
    import pytensor.tensor as pt

    data = validate_binary(data)
    if int(n_hidden) != n_hidden or n_hidden < 1:
        raise ValueError(f"n_hidden must be an integer >= 1, got {n_hidden}")
    if not prior_sigma > 0:
        raise ValueError(f"prior_sigma must be > 0, got {prior_sigma}")
    n_visible = data.shape[1]
    n_hidden = int(n_hidden)
    if min(n_visible, n_hidden) > MAX_ENUMERATED_UNITS:
        raise ValueError(f"the exact ln Z needs min(n_visible, n_hidden) <= {MAX_ENUMERATED_UNITS}, "
                         f"got ({n_visible}, {n_hidden})")
    coords = {"visible": np.arange(n_visible), "hidden": np.arange(n_hidden), "row": np.arange(data.shape[0])}
    enumerate_hidden = n_hidden <= n_visible
    states_np = all_binary_states(n_hidden if enumerate_hidden else n_visible)

    def log_partition(W, a, b):
        states = pt.as_tensor_variable(states_np)
        if enumerate_hidden:
            terms = states @ b + pt.softplus(a + states @ W.T).sum(axis=1)
        else:
            terms = states @ a + pt.softplus(b + states @ W).sum(axis=1)
        return pt.logsumexp(terms)

    def core(x, ndim):  # PyMC hands the parameters broadcast to the rows; they are shared, take one copy
        while x.ndim > ndim:
            x = x[0]
        return x

    def rbm_logp(value, W, a, b):
        # ln P(v_n) = -F(v_n) - ln Z, one term per data row
        W, a, b = core(W, 2), core(a, 1), core(b, 1)
        return value @ a + pt.softplus(b + value @ W).sum(axis=-1) - log_partition(W, a, b)

    with pm.Model(coords=coords) as model:
        rows = pm.Data("visible_data", data, dims=("row", "visible"))
        # W = 0 is a saddle point of the posterior (the hidden-unit symmetries map it to itself):
        # start optimisers and samplers from a fixed, seeded, symmetry-breaking point instead
        w_start = 0.5 * prior_sigma * np.random.default_rng(20080801).standard_normal((n_visible, n_hidden))
        W = pm.Normal("W", 0.0, prior_sigma, dims=("visible", "hidden"), initval=w_start)
        a = pm.Normal("a", 0.0, prior_sigma, dims="visible")
        b = pm.Normal("b", 0.0, prior_sigma, dims="hidden")
        log_z = pm.Deterministic("log_z", log_partition(W, a, b))
        pm.CustomDist("v", W, a, b, logp=rbm_logp, observed=rows, signature="(v,h),(v),(h)->(v)",
                      dims=("row", "visible"))
        neg_free = rows @ a + pt.softplus(b + rows @ W).sum(axis=1)
        pm.Deterministic("mean_log_likelihood", neg_free.mean() - log_z)
    return model


def predictive_distribution(W_draws, a_draws, b_draws, *, batch: int = 256) -> np.ndarray:
    r"""Posterior (or prior) predictive :math:`\bar P(v) = \frac1S\sum_s P(v\mid\theta_s)` over all
    :math:`2^{n_v}` visible patterns, and the per-draw distributions' log.

    ``W_draws`` has shape (S, n_visible, n_hidden). Returns the (2**n_visible,) mean distribution.
    Invariant under hidden-unit permutations and sign flips, so comparable across modes,
    chains and methods.
    """
    W_draws = np.asarray(W_draws, dtype=float)
    a_draws = np.asarray(a_draws, dtype=float)
    b_draws = np.asarray(b_draws, dtype=float)
    S, n_visible, _ = W_draws.shape
    if n_visible > MAX_ENUMERATED_UNITS:
        raise ValueError(f"n_visible must be <= {MAX_ENUMERATED_UNITS} to list all patterns, got {n_visible}")
    return per_draw_visible_distribution(W_draws, a_draws, b_draws, batch=batch).mean(axis=0)


def per_draw_visible_distribution(W_draws, a_draws, b_draws, *, batch: int = 256) -> np.ndarray:
    r""":math:`P(v\mid\theta_s)` for every draw ``s`` and pattern ``v``: shape (S, 2**n_visible)."""
    W_draws = np.asarray(W_draws, dtype=float)
    a_draws = np.asarray(a_draws, dtype=float)
    b_draws = np.asarray(b_draws, dtype=float)
    S, n_visible, _ = W_draws.shape
    states = all_binary_states(n_visible)
    out = np.empty((S, states.shape[0]))
    for s0 in range(0, S, batch):
        Wb, ab, bb = W_draws[s0:s0 + batch], a_draws[s0:s0 + batch], b_draws[s0:s0 + batch]
        x = np.einsum("pi,sij->spj", states, Wb) + bb[:, None, :]
        log_p = states @ ab.T
        log_p = log_p.T + np.logaddexp(0.0, x).sum(axis=2)
        out[s0:s0 + batch] = np.exp(log_p - logsumexp(log_p, axis=1, keepdims=True))
    return out


# --------------------------------------------------------------------------- exact reference

def log_partition_exact(W, a, b) -> float:
    r"""Exact :math:`\ln Z` of a binary RBM by enumerating its smaller layer.

    .. math::

        \ln Z = \operatorname{logsumexp}_h\Big[b^\top h + \sum_i\operatorname{softplus}(a_i + (Wh)_i)\Big]

    (or the same over :math:`v` when the visible layer is smaller): :math:`2^{\min(n_v,n_h)}`
    terms, in chunks. Raises ValueError when the smaller layer exceeds 20 units.
    """
    W, a, b = validate_params(W, a, b)
    smaller = min(W.shape)
    if smaller > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact enumeration needs min(n_visible, n_hidden) <= {MAX_ENUMERATED_UNITS}, got "
            f"min{W.shape} = {smaller}; use physml.inference.rbm.ais.log_partition_ais instead")
    return log_partition_enumerate(W, a, b)


def log_likelihood(data, W, a, b, log_z: float | None = None) -> np.ndarray:
    r""":math:`\ln P(v_n) = -F(v_n) - \ln Z` for every row of ``data`` (exact ln Z unless given)."""
    W, a, b = validate_params(W, a, b)
    data = validate_binary(data, n_visible=W.shape[0])
    if log_z is None:
        log_z = log_partition_exact(W, a, b)
    return -free_energy(data, W, a, b) - log_z


def visible_distribution(W, a, b) -> np.ndarray:
    r"""Exact :math:`P(v)` of all :math:`2^{n_v}` visible patterns, ordered as :func:`pattern_codes`."""
    W, a, b = validate_params(W, a, b)
    if W.shape[0] > MAX_ENUMERATED_UNITS:
        raise ValueError(f"n_visible must be <= {MAX_ENUMERATED_UNITS} to list all patterns, got {W.shape[0]}")
    log_p = -free_energy(all_binary_states(W.shape[0]), W, a, b)
    return np.exp(log_p - logsumexp(log_p))


def pattern_codes(data) -> np.ndarray:
    """Integer code of each binary row (unit 0 = most significant bit), matching
    :func:`physml.inference.rbm.exact.all_binary_states`."""
    data = np.asarray(data)
    weights = 1 << np.arange(data.shape[1] - 1, -1, -1, dtype=np.int64)
    return data.astype(np.int64) @ weights


def pattern_frequencies(data) -> np.ndarray:
    """Empirical frequency of each of the :math:`2^{n_v}` visible patterns in ``data``."""
    data = validate_binary(data)
    if data.shape[1] > MAX_ENUMERATED_UNITS:
        raise ValueError(f"n_visible must be <= {MAX_ENUMERATED_UNITS} to list all patterns, got {data.shape[1]}")
    counts = np.bincount(pattern_codes(data), minlength=2 ** data.shape[1])
    return counts / counts.sum()
