"""Teacher–student network of physml.models.landscape: gradient and exact Hessian against finite differences,
the Dinh et al. rescaling (same function, different sharpness, invariant normalised Hessian), and the local
free energy of a small network's minimum by Laplace against TI over γ (agree within error, or self-flagged)."""
import numpy as np
import pytest
from scipy import optimize
from seeding import seed

from physml.inference.training.local_free_energy import laplace_local_free_energy, ti_local_free_energy
from physml.models import landscape as ls


def problem(s, **kw):
    sizes = {"dim": 3, "hidden": 5, "teacher_hidden": 2, "n_train": 12, "sigma": 0.3, "n_test": 200} | kw
    return ls.teacher_student(**sizes, rng=np.random.default_rng(s))


def minimum(pb, lam, s):
    def u(w):
        value, grad = pb.loss_grad(w[None])
        return float(value[0]) + 0.5 * lam * w @ w, grad[0] + lam * w
    w0 = 0.5 * np.random.default_rng(s).standard_normal(pb.n_weights)
    return optimize.minimize(u, w0, jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 1e-15}).x


def test_gradient_and_hessian_against_finite_differences():
    pb = problem(seed(0))
    w, eps = np.random.default_rng(seed(1)).standard_normal(pb.n_weights), 1e-6
    value, grad = pb.loss_grad(w[None])
    steps = np.eye(pb.n_weights) * eps
    fd_grad = (pb.loss_grad(w + steps)[0] - pb.loss_grad(w - steps)[0]) / (2 * eps)
    fd_hess = (pb.loss_grad(w + steps)[1] - pb.loss_grad(w - steps)[1]) / (2 * eps)
    scale = np.abs(pb.hessian(w)).max()
    assert np.allclose(fd_grad, grad[0], atol=1e-6 * max(1.0, np.abs(grad).max()))
    assert np.allclose(fd_hess, pb.hessian(w), atol=1e-6 * scale) and np.allclose(pb.hessian(w), pb.hessian(w).T)
    assert value[0] == pytest.approx(0.5 * np.sum((pb.predict(w, pb.x)[0] - pb.y) ** 2) / pb.sigma ** 2)


def test_rescaling_keeps_the_function_and_changes_the_sharpness():
    pb = problem(seed(3))
    w = minimum(pb, 0.3, seed(4))
    alpha = 2.5
    w2 = ls.rescale_layers(pb, w, alpha)
    assert np.allclose(pb.predict(w2, pb.x_test), pb.predict(w, pb.x_test), rtol=1e-10, atol=1e-10)
    assert pb.loss_grad(w2[None])[0][0] == pytest.approx(pb.loss_grad(w[None])[0][0], rel=1e-10, abs=1e-12)
    h, h2 = pb.hessian(w), pb.hessian(w2)
    top, top2 = np.linalg.eigvalsh(h)[-1], np.linalg.eigvalsh(h2)[-1]
    assert abs(top2 / top - 1) > 0.2 and abs(np.trace(h2) / np.trace(h) - 1) > 0.2
    assert np.allclose(np.linalg.eigvalsh(ls.normalised_hessian(h2, w2)),
                       np.linalg.eigvalsh(ls.normalised_hessian(h, w)), rtol=1e-8, atol=1e-8 * top)
    with pytest.raises(ValueError, match="alpha"):
        ls.rescale_layers(pb, w, -1.0)


def test_laplace_and_ti_agree_at_a_small_networks_minimum():
    """Within 4 se plus a small Laplace bias allowance, or the TI record flags itself unreliable."""
    pb = problem(seed(7), dim=2, hidden=3, n_train=10)
    w = minimum(pb, 0.5, seed(8))
    gamma = 20.0
    laplace, _ = laplace_local_free_energy(pb.loss_grad, pb.hessian, w, gamma)
    kappa = np.linalg.eigvalsh(pb.hessian(w))[-1]
    ti = ti_local_free_energy(pb.loss_grad, pb.hessian, w, gamma, gamma_max=1e4, curvature=kappa, n_rungs=9,
                              draws=400, rng=np.random.default_rng(seed(9)))
    assert np.isfinite(ti.value) and ti.se > 0
    assert abs(ti.value - laplace) <= 4 * ti.se + 0.1 or ti.note.startswith("unreliable")


@pytest.mark.parametrize("key,value", [("dim", 0), ("hidden", 1.5), ("n_train", -1), ("sigma", 0.0)])
def test_bad_problem_sizes(key, value):
    kw = {"dim": 2, "hidden": 3, "teacher_hidden": 1, "n_train": 5, "sigma": 0.3, "n_test": 10} | {key: value}
    with pytest.raises(ValueError, match=key):
        ls.teacher_student(**kw, rng=np.random.default_rng(0))
