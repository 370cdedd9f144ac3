r"""Grokking: modular addition learned by a one-hidden-layer network (Power et al. 2022; Nanda et al. 2023).

The task: all :math:`p^2` pairs :math:`(a, b) \in \mathbb{Z}_p^2` with label :math:`c = (a + b) \bmod p`; a
random fraction :math:`f` of them is the training set :math:`\mathcal{D}`, the rest the test set.

The network (weights :math:`w = (E, W_1, b_1, W_2)`; embedding width :math:`d`, hidden width :math:`H`):

.. math:: h(a, b) = \mathrm{ReLU}\big(E_a W_1^{(a)} + E_b W_1^{(b)} + b_1\big) \in \mathbb{R}^H, \qquad
          \ell_c(a, b) = h(a, b)\, W_2 \in \mathbb{R}^p,

with one embedding :math:`E \in \mathbb{R}^{p \times d}` shared by both operands, :math:`W_1 = [W_1^{(a)};
W_1^{(b)}] \in \mathbb{R}^{2d \times H}`, :math:`W_2 \in \mathbb{R}^{H \times p}`.

The energy is the mean cross-entropy over the training set plus the weight-decay prior,

.. math:: L(w) = \frac{1}{|\mathcal{D}|} \sum_{(a,b,c) \in \mathcal{D}} \Big[\ln \sum_{c'} e^{\ell_{c'}(a,b)}
          - \ell_c(a, b)\Big], \qquad U(w) = L(w) + \frac{\lambda}{2} \lVert w \rVert^2 ,

and the Gibbs view of training at temperature :math:`T` is the density :math:`p_T(w) \propto e^{-U(w)/T}`, which
Langevin dynamics samples (:mod:`physml.inference.training.langevin`); :math:`T \to 0` is plain gradient
descent, :math:`T = 1/|\mathcal{D}|` with the total (not mean) log-likelihood is the Bayesian posterior under
a Gaussian prior of precision :math:`\lambda |\mathcal{D}|`. AdamW (Loshchilov & Hutter 2019) applies
:math:`\lambda` as decoupled weight decay instead.

The Fourier view (Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability"):
a generalising network computes :math:`a + b` through a few frequencies :math:`k` of
:math:`\cos(2\pi k a/p)`; the power of the embedding's discrete Fourier transform over the token index,
:math:`P_k = \sum_j |\hat E_{kj}|^2` for :math:`k = 1 \dots \lfloor p/2 \rfloor`, concentrates on them. Its
effective number of frequencies :math:`N_\mathrm{eff} = \exp(-\sum_k \pi_k \ln \pi_k)`, :math:`\pi_k = P_k /
\sum P`, falls from about :math:`p/2` (random embedding) to a few: an order parameter of the transition.

Many networks (*replicas*, e.g. seeds × weight decays × training sets) are trained at once: every weight
carries a leading replica axis and each replica has its own training mask; the compiled PyTensor function
(one compile per architecture, :func:`compiled_network`) returns every replica's loss, gradient and
train / test accuracy in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

#: the compiled network computes in single precision (3x faster than double on one core; the optimiser's
#: state and the weights stay in double)
DTYPE = "float32"

__all__ = ["Architecture", "Weights", "pairs", "labels", "training_masks", "init_weights", "compiled_network",
           "NetworkOutput", "evaluate", "weight_norm", "fourier_power", "effective_frequencies",
           "check_task", "objective", "observe", "compiled_hessian_vector_product", "hessian_vector_product"]


@dataclass(frozen=True)
class Architecture:
    """Modulus ``p``, embedding width ``embed``, hidden width ``hidden``."""

    p: int
    embed: int = 24
    hidden: int = 64
    dtype: str = DTYPE

    def __post_init__(self):
        check_task(p=self.p)
        for name in ("embed", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")


class Weights(NamedTuple):
    """Weights of R replicas: ``E`` (R, p, d), ``W1`` (R, 2d, H), ``b1`` (R, H), ``W2`` (R, H, p)."""

    E: np.ndarray
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray


class NetworkOutput(NamedTuple):
    """Per replica: the training loss L (R,), its gradient (a :class:`Weights`), train and test accuracy (R,)."""

    loss: np.ndarray
    grad: Weights
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray


def check_task(*, p: int | None = None, train_fraction: float | None = None, weight_decay: float | None = None,
               temperature: float | None = None) -> None:
    """ValueError naming the argument and its range: p ≥ 2, 0 < train_fraction < 1, weight_decay ≥ 0, T ≥ 0."""
    if p is not None and (isinstance(p, bool) or int(p) != p or p < 2):
        raise ValueError(f"p must be an integer >= 2, got {p!r}")
    if train_fraction is not None and not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    if weight_decay is not None and not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if temperature is not None and not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")


def pairs(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Operands (a, b) of all p² pairs, a-major."""
    check_task(p=p)
    a, b = np.divmod(np.arange(p * p), p)
    return a, b


def labels(p: int) -> np.ndarray:
    """(a + b) mod p for :func:`pairs`."""
    a, b = pairs(p)
    return (a + b) % p


def training_masks(p: int, fractions, rng: np.random.Generator) -> np.ndarray:
    """Boolean (R, p²): replica r trains on round(f_r p²) pairs drawn without replacement (at least one pair
    in each of the training and test sets)."""
    fractions = np.atleast_1d(np.asarray(fractions, dtype=float))
    for f in fractions:
        check_task(p=p, train_fraction=float(f))
    n = p * p
    masks = np.zeros((len(fractions), n), dtype=bool)
    for r, f in enumerate(fractions):
        k = min(max(int(round(f * n)), 1), n - 1)
        masks[r, rng.permutation(n)[:k]] = True
    return masks


def init_weights(arch: Architecture, replicas: int, rng: np.random.Generator) -> Weights:
    """He-style Gaussian initialisation, biases zero."""
    p, d, h = arch.p, arch.embed, arch.hidden
    return Weights(rng.standard_normal((replicas, p, d)) * np.sqrt(1.0 / d),
                   rng.standard_normal((replicas, 2 * d, h)) * np.sqrt(2.0 / (2 * d)),
                   np.zeros((replicas, h)),
                   rng.standard_normal((replicas, h, p)) * np.sqrt(1.0 / h))


def _network_graph(arch: Architecture):
    """Symbolic inputs (E, W1, b1, W2, train_mask), per-replica loss, logits and labels."""
    import pytensor.tensor as pt

    p, d, dt = arch.p, arch.embed, arch.dtype
    c = labels(p)
    E, W1, W2 = (pt.tensor3(name, dtype=dt) for name in ("E", "W1", "W2"))
    b1, mask = pt.matrix("b1", dtype=dt), pt.matrix("train_mask", dtype=dt)
    ea = pt.matmul(E, W1[:, :d, :])          # (R, p, H): every token's contribution as operand a
    eb = pt.matmul(E, W1[:, d:, :])
    pre = ea[:, :, None, :] + eb[:, None, :, :] + b1[:, None, None, :]      # (R, a, b, H): pairs a-major
    hidden = pt.maximum(pre.reshape((pre.shape[0], p * p, pre.shape[3])), 0.0)  # (R, p², H)
    logits = pt.matmul(hidden, W2)                                        # (R, p², p)
    top = pt.max(logits, axis=-1, keepdims=True)
    lse = pt.log(pt.sum(pt.exp(logits - top), axis=-1)) + top[..., 0]
    ce = lse - pt.sum(logits * np.eye(p, dtype=dt)[c], axis=-1)          # (R, p²)
    loss = pt.sum(ce * mask, axis=1) / pt.sum(mask, axis=1)
    return [E, W1, b1, W2, mask], loss, logits, c


@lru_cache(maxsize=8)
def compiled_network(arch: Architecture):
    """The compiled function ``(E, W1, b1, W2, train_mask) -> (loss, gE, gW1, gb1, gW2, train_acc, test_acc)``
    over R replicas (one compile per architecture)."""
    import pytensor
    import pytensor.tensor as pt

    inputs, loss, logits, c = _network_graph(arch)
    mask = inputs[-1]
    grads = pytensor.grad(pt.sum(loss), inputs[:4])
    correct = pt.eq(pt.argmax(logits, axis=-1), c)
    train_acc = pt.sum(correct * mask, axis=1) / pt.sum(mask, axis=1)
    test_acc = pt.sum(correct * (1 - mask), axis=1) / pt.sum(1 - mask, axis=1)
    return pytensor.function(inputs, [loss, *grads, train_acc, test_acc])


@lru_cache(maxsize=8)
def compiled_hessian_vector_product(arch: Architecture):
    """``(E, W1, b1, W2, train_mask, vE, vW1, vb1, vW2) -> (H v)`` per replica (each replica's own Hessian of
    its training loss L: the replicas do not interact, so the Hessian of their sum is block diagonal)."""
    import pytensor
    import pytensor.tensor as pt

    inputs, loss, _, _ = _network_graph(arch)
    weights = inputs[:4]
    vectors = [x.type(f"v_{x.name}") for x in weights]
    grads = pytensor.grad(pt.sum(loss), weights)
    directional = sum(pt.sum(g * v) for g, v in zip(grads, vectors))
    return pytensor.function(inputs + vectors, pytensor.grad(directional, weights))


def hessian_vector_product(arch: Architecture, weights: Weights, train_mask: np.ndarray):
    """v ↦ H v for ONE network (replica axis of length 1) with v flattened over its weights (in field order)."""
    if weights.E.shape[0] != 1:
        raise ValueError(f"weights must hold one replica, got {weights.E.shape[0]}")
    fn, dt = compiled_hessian_vector_product(arch), arch.dtype
    args = [w.astype(dt) for w in weights] + [train_mask.astype(dt)]
    shapes = [w.shape for w in weights]
    cuts = np.cumsum([int(np.prod(sh)) for sh in shapes])[:-1]

    def hvp(v: np.ndarray) -> np.ndarray:
        parts = [x.reshape(sh).astype(dt) for x, sh in zip(np.split(np.asarray(v, float), cuts), shapes)]
        return np.concatenate([h.ravel() for h in fn(*args, *parts)]).astype(float)
    return hvp


def evaluate(arch: Architecture, weights: Weights, train_mask: np.ndarray) -> NetworkOutput:
    """Loss, gradient and accuracies of every replica (the compiled network)."""
    dt = arch.dtype
    loss, gE, gW1, gb1, gW2, tr, te = compiled_network(arch)(*(w.astype(dt) for w in weights), train_mask.astype(dt))
    return NetworkOutput(loss.astype(float), Weights(*(x.astype(float) for x in (gE, gW1, gb1, gW2))),
                         tr.astype(float), te.astype(float))


def objective(arch: Architecture, train_mask: np.ndarray):
    """The :class:`~physml.inference.training.driver.Objective` of R replicas with their training masks."""
    def evaluate_replicas(weights: Weights):
        out = evaluate(arch, weights, train_mask)
        return out.loss, out.grad, {"train_accuracy": out.train_accuracy, "test_accuracy": out.test_accuracy}
    return evaluate_replicas


def weight_norm(weights: Weights) -> np.ndarray:
    """‖w‖ per replica (all weights and biases)."""
    return np.sqrt(sum(np.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in weights))


def fourier_power(E: np.ndarray) -> np.ndarray:
    """P_k = Σ_j |Ê_kj|² for k = 1 … ⌊p/2⌋ (R, ⌊p/2⌋): the embedding's power per frequency over the token
    axis (k = 0, the mean embedding, is left out; k and p − k carry the same power for real E)."""
    p = E.shape[1]
    spectrum = np.abs(np.fft.rfft(E, axis=1)) ** 2
    return spectrum[:, 1:p // 2 + 1, :].sum(axis=2)


def effective_frequencies(E: np.ndarray) -> np.ndarray:
    """N_eff = exp(entropy of π_k = P_k/ΣP) per replica: ≈ p/2 for a random embedding, a few once the
    network computes a + b through a few Fourier modes."""
    power = fourier_power(E)
    pi = power / power.sum(axis=1, keepdims=True)
    return np.exp(-np.sum(np.where(pi > 0, pi * np.log(np.where(pi > 0, pi, 1.0)), 0.0), axis=1))


def observe(weights: Weights) -> dict[str, np.ndarray]:
    """The order parameters recorded during training: ‖w‖ and the embedding's N_eff."""
    return {"weight_norm": weight_norm(weights), "fourier_frequencies": effective_frequencies(weights.E)}
