"""Grokking task and network: the data set, the compiled gradient against finite differences and against an
independent NumPy loss, a tiny instance that memorises, the Fourier order parameter, bad input."""
import numpy as np
import pytest
from seeding import seed

from physml.inference.training.driver import adamw_update, train
from physml.models import grokking as gk


def numpy_loss(arch, w, mask):
    """Mean training cross-entropy per replica, written independently of the compiled graph."""
    a, b = np.divmod(np.arange(arch.p ** 2), arch.p)
    c = (a + b) % arch.p
    x = np.concatenate([w.E[:, a, :], w.E[:, b, :]], axis=2)                 # (R, p², 2d)
    logits = np.maximum(x @ w.W1 + w.b1[:, None, :], 0.0) @ w.W2
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    ce = lse - np.take_along_axis(logits, np.broadcast_to(c[None, :, None], logits.shape[:2] + (1,)), -1)[..., 0]
    return (ce * mask).sum(1) / mask.sum(1)


def test_dataset():
    a, b = gk.pairs(5)
    assert len(a) == 25 and gk.labels(5)[a * 5 + b].tolist() == ((a + b) % 5).tolist()
    masks = gk.training_masks(7, [0.3, 0.6], np.random.default_rng(0))
    assert masks.shape == (2, 49) and masks.sum(1).tolist() == [15, 29]


def test_gradient_against_finite_differences():
    arch = gk.Architecture(5, embed=3, hidden=4, dtype="float64")
    rng = np.random.default_rng(1)
    w = gk.init_weights(arch, 2, rng)
    w = w._replace(b1=rng.normal(0, 0.3, w.b1.shape))
    mask = gk.training_masks(5, [0.5, 0.7], rng)
    out = gk.evaluate(arch, w, mask)
    assert out.loss == pytest.approx(numpy_loss(arch, w, mask), rel=1e-12)
    h = 1e-6
    for k, (x, g) in enumerate(zip(w, out.grad)):
        for idx in np.ndindex(x.shape):
            up, down = [y.copy() for y in w], [y.copy() for y in w]
            up[k][idx] += h
            down[k][idx] -= h
            fd = (numpy_loss(arch, gk.Weights(*up), mask) - numpy_loss(arch, gk.Weights(*down), mask))[idx[0]] / (2 * h)
            assert g[idx] == pytest.approx(fd, abs=1e-6), f"{gk.Weights._fields[k]}{idx}"
    single = gk.evaluate(gk.Architecture(5, embed=3, hidden=4), w, mask)  # the float32 network agrees
    for g32, g64 in zip(single.grad, out.grad):
        assert np.allclose(g32, g64, rtol=1e-3, atol=1e-5)


def test_tiny_instance_memorises():
    arch = gk.Architecture(7, embed=8, hidden=32)
    rng = np.random.default_rng(seed(2))
    masks = gk.training_masks(7, [0.5] * 4, rng)
    history = train(gk.objective(arch, masks), gk.init_weights(arch, 4, rng), adamw_update(lr=0.01),
                    steps=300, record_every=50, observe=gk.observe)
    assert history.records["train_accuracy"][-1].tolist() == [1.0] * 4
    assert history.records["loss"][-1].max() < 0.1 and set(history.records) >= {"weight_norm", "fourier_frequencies"}


def test_fourier_order_parameter():
    p, d = 11, 6
    tokens = np.arange(p)[:, None]
    pure = np.cos(2 * np.pi * 3 * tokens / p + np.arange(d)[None, :])[None]   # one frequency, k = 3
    two = pure + np.cos(2 * np.pi * 5 * tokens / p)[None]                     # k = 3 and 5 with equal power
    flat = np.fft.irfft(np.ones(p // 2 + 1) * np.exp(1j * np.arange(p // 2 + 1)), n=p)[None, :, None]
    n_eff = gk.effective_frequencies(np.concatenate([pure, two[..., :d], np.repeat(flat, d, axis=2)]))
    assert n_eff[0] == pytest.approx(1.0) and n_eff[2] == pytest.approx(p // 2)
    assert 1.0 < n_eff[1] <= 2.0
    assert gk.fourier_power(pure).argmax(axis=1).tolist() == [2]  # k = 3 is the third of k = 1 … 5
    w = gk.Weights(np.ones((1, 2, 2)), np.ones((1, 1, 1)), np.zeros((1, 1)), 2 * np.ones((1, 1, 1)))
    assert gk.weight_norm(w) == pytest.approx([np.sqrt(4 + 1 + 4)])


@pytest.mark.parametrize("kwargs,match", [({"p": 1}, "p must be"), ({"p": 2.5}, "p must be"),
                                          ({"train_fraction": 0.0}, "train_fraction"),
                                          ({"train_fraction": 1.0}, "train_fraction"),
                                          ({"weight_decay": -0.1}, "weight_decay"),
                                          ({"temperature": -1e-3}, "temperature")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gk.check_task(**kwargs)
    if "p" in kwargs:
        with pytest.raises(ValueError, match=match):
            gk.Architecture(kwargs["p"])
    if "train_fraction" in kwargs:
        with pytest.raises(ValueError, match=match):
            gk.training_masks(5, [kwargs["train_fraction"]], np.random.default_rng(0))


def test_same_seed_same_history():
    arch = gk.Architecture(7, embed=8, hidden=32)

    def run():
        rng = np.random.default_rng(seed(5))
        masks = gk.training_masks(7, [0.5, 0.7], rng)
        return train(gk.objective(arch, masks), gk.init_weights(arch, 2, rng), adamw_update(lr=0.01, weight_decay=1.0),
                     steps=20, record_every=5, observe=gk.observe)
    first, second = run(), run()
    assert all(np.array_equal(first.records[k], second.records[k]) for k in first.records)


def test_hessian_vector_product_against_finite_differences_of_the_gradient():
    arch = gk.Architecture(5, embed=3, hidden=4, dtype="float64")
    rng = np.random.default_rng(3)
    w = gk.init_weights(arch, 1, rng)
    mask = gk.training_masks(5, [0.6], rng)
    hvp = gk.hessian_vector_product(arch, w, mask)
    flat = np.concatenate([x.ravel() for x in w])
    cuts = np.cumsum([x.size for x in w])[:-1]

    def grad(x):
        parts = gk.Weights(*(p.reshape(q.shape) for p, q in zip(np.split(x, cuts), w)))
        return np.concatenate([g.ravel() for g in gk.evaluate(arch, parts, mask).grad])
    v = rng.standard_normal(flat.size)
    h = 1e-5
    assert hvp(v) == pytest.approx((grad(flat + h * v) - grad(flat - h * v)) / (2 * h), abs=1e-6)
    dense = np.array([hvp(e) for e in np.eye(flat.size)])
    assert np.allclose(dense, dense.T, atol=1e-10)
