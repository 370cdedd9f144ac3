"""AdamW against a step computed by hand, its per-replica weight decay, and that nothing is modified in place."""
from typing import NamedTuple

import numpy as np
import pytest

from physml.inference.training import adamw_init, adamw_step


class Pair(NamedTuple):
    a: np.ndarray
    b: np.ndarray


def test_two_steps_by_hand():
    w0, g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.1]), np.array([-0.2, 0.3])
    lr, wd, eps = 0.1, 0.01, 1e-8
    state = adamw_init(w0)
    w1, state = adamw_step(state, w0, g1, lr=lr, weight_decay=wd, eps=eps)
    # step 1: m̂ = g, v̂ = g², so the Adam direction is g/|g| = sign(g)
    assert w1 == pytest.approx([1.0 - 0.1 * (1 + 0.01 * 1.0), -2.0 - 0.1 * (1 + 0.01 * -2.0)], abs=1e-7)
    w2, state = adamw_step(state, w1, g2, lr=lr, weight_decay=wd, eps=eps)
    # step 2 by hand for the first coordinate: m = 0.9·0.05 − 0.02 = 0.025, v = 0.98·0.005 + 0.02·0.04 = 0.0057
    m_hat, v_hat = 0.025 / (1 - 0.81), 0.0057 / (1 - 0.98 ** 2)
    assert state.t == 2 and state.m[0] == pytest.approx(0.025) and state.v[0] == pytest.approx(0.0057)
    assert w2[0] == pytest.approx(w1[0] - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * w1[0]), rel=1e-12)


def test_named_tuple_per_replica_decay_and_purity():
    rng = np.random.default_rng(0)
    w = Pair(rng.standard_normal((3, 4)), rng.standard_normal((3, 2, 2)))
    zero = Pair(np.zeros((3, 4)), np.zeros((3, 2, 2)))
    keep = [x.copy() for x in w]
    state = adamw_init(w)
    new, new_state = adamw_step(state, w, zero, lr=0.5, weight_decay=np.array([0.0, 0.1, 1.0]))
    assert isinstance(new, Pair) and new_state.t == 1 and state.t == 0
    for x, k in zip(w, keep):
        assert np.array_equal(x, k)  # inputs untouched
    for old, moved in zip(w, new):  # zero gradient: pure decay w(1 − lr λ_r) per replica
        assert np.allclose(moved, old * np.array([1.0, 0.95, 0.5]).reshape((3,) + (1,) * (old.ndim - 1)))
    with pytest.raises(ValueError, match="per-replica"):
        adamw_step(state, w, zero, lr=0.5, weight_decay=np.array([0.1, 0.2]))
