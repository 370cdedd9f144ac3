"""Grokking training speed: steps per second of the compiled PyTensor network against a plain NumPy
implementation of the same network (forward and backward written by hand), measured in the same run.

Both sides train R replicas full-batch on all p² pairs (a + b mod p) with the same AdamW update
(physml.inference.training) and one BLAS thread; the NumPy gradient is first checked against the compiled
one (float64). Rows: PyTensor float32 (what ``physml run grokking`` uses), PyTensor float64, NumPy float64.
The rate is the best of ``repeats`` blocks of ``steps`` steps (warm: compiled before timing).

Run: python benchmarks/grokking.py [--quick]   (quick: p = 23, R = 4, 30 steps × 2 repeats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from physml.inference.training import adamw_init, adamw_step
from physml.models import grokking as gk
from timing import best_rate, load_note, ratio


def numpy_loss_and_grad(arch: gk.Architecture, w: gk.Weights, mask: np.ndarray):
    """The network of :mod:`physml.models.grokking` by hand: mean training cross-entropy and its gradient."""
    p, d = arch.p, arch.embed
    a, b = gk.pairs(p)
    c = gk.labels(p)
    mask = mask.astype(float)
    n = mask.sum(1, keepdims=True)
    ea, eb = w.E @ w.W1[:, :d], w.E @ w.W1[:, d:]                        # (R, p, H)
    pre = ea[:, a] + eb[:, b] + w.b1[:, None, :]
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ w.W2                                               # (R, p², p)
    logits -= logits.max(-1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(-1, keepdims=True)
    loss = ((np.log(prob[:, np.arange(p * p), c]) * -mask).sum(1, keepdims=True) / n)[:, 0]
    dlogits = prob
    dlogits[:, np.arange(p * p), c] -= 1.0
    dlogits *= (mask / n)[..., None]
    gW2 = hidden.transpose(0, 2, 1) @ dlogits
    dpre = (dlogits @ w.W2.transpose(0, 2, 1)) * (pre > 0)
    gb1 = dpre.sum(1)
    dea, deb = np.zeros_like(ea), np.zeros_like(eb)
    for r in range(len(dea)):
        np.add.at(dea[r], a, dpre[r])
        np.add.at(deb[r], b, dpre[r])
    gW1 = np.concatenate([w.E.transpose(0, 2, 1) @ dea, w.E.transpose(0, 2, 1) @ deb], axis=1)
    gE = dea @ w.W1[:, :d].transpose(0, 2, 1) + deb @ w.W1[:, d:].transpose(0, 2, 1)
    return loss, gk.Weights(gE, gW1, gb1, gW2)


def rate(loss_and_grad, weights, steps: int, repeats: int) -> float:
    """Best steps per second of ``steps`` AdamW steps over ``repeats`` blocks."""
    def block():
        w, state = weights, adamw_init(weights)
        t0 = time.perf_counter()
        for _ in range(steps):
            _, grad = loss_and_grad(w)
            w, state = adamw_step(state, w, grad, lr=1e-2, weight_decay=1.0)
        return steps, time.perf_counter() - t0
    return best_rate(block, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    p, replicas, steps, repeats = (23, 4, 30, 2) if args.quick else (23, 16, 100, 3)
    print(f"# grokking training speed: p = {p}, {replicas} replicas, {steps} steps × {repeats} ({load_note()})\n")
    rng = np.random.default_rng(0)
    arch32, arch64 = gk.Architecture(p), gk.Architecture(p, dtype="float64")
    weights = gk.init_weights(arch32, replicas, rng)
    mask = gk.training_masks(p, [0.6] * replicas, rng)
    with threadpool_limits(limits=1, user_api="blas"):
        exact = gk.evaluate(arch64, weights, mask)
        loss, grad = numpy_loss_and_grad(arch64, weights, mask)
        worst = max(float(np.max(np.abs(g1 - g2))) for g1, g2 in zip(grad, exact.grad))
        print(f"NumPy vs PyTensor (float64): max |Δloss| {np.max(np.abs(loss - exact.loss)):.2e}, "
              f"max |Δgrad| {worst:.2e} (max |grad| {max(float(np.max(np.abs(g))) for g in exact.grad):.2e})\n")
        assert worst < 1e-10, "the NumPy baseline is not the same network"
        rows = [(name, rate(lambda w, a=arch: gk.evaluate(a, w, mask)[:2], weights, steps, repeats))
                for name, arch in (("PyTensor float32 (compiled)", arch32), ("PyTensor float64 (compiled)", arch64))]
        rows.append(("NumPy float64 (by hand)", rate(lambda w: numpy_loss_and_grad(arch64, w, mask), weights,
                                                      steps, repeats)))
    baseline = rows[-1][1]
    print("| implementation | steps / s | replica-steps / s | vs NumPy |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r:.1f} | {r * replicas:.0f} | {ratio(r, baseline)} |")
    print(f"\n({load_note()})")


if __name__ == "__main__":
    main()
