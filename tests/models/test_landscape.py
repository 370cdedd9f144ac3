"""Local free energy F_γ(w) of a quadratic loss: the closed form against numerical integration (1-D), Laplace
exact, TI over γ calibrated against the closed form over repeats (statcheck bounds); Hessian tools against
a dense matrix."""
import math

import numpy as np
import pytest
from scipy import integrate
from seeding import seeds
from statcheck import assert_calibrated

from physml.inference.training.local_free_energy import laplace_local_free_energy, ti_local_free_energy
from physml.models import landscape as ls


def quadratic(n=4):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.geomspace(0.3, 30.0, n)) @ q.T
    loss = ls.QuadraticLoss(a, rng.standard_normal(n), 1.5)
    return loss, loss.m + rng.standard_normal(n)


def test_closed_form_against_quadrature():
    loss = ls.QuadraticLoss(np.array([[2.5]]), np.array([0.3]), 0.7)
    w, gamma = 1.1, 0.8
    z = integrate.quad(lambda x: math.exp(-loss.loss_grad(np.array([[x]]))[0][0] - gamma / 2 * (x - w) ** 2),
                       -np.inf, np.inf, epsabs=1e-13)[0]
    assert ls.exact_local_free_energy(loss, [w], gamma) == pytest.approx(-math.log(z), abs=1e-9)
    with pytest.raises(ValueError, match="gamma"):
        ls.exact_local_free_energy(loss, [w], 0.0)


def test_laplace_is_exact_for_a_quadratic():
    loss, w = quadratic()
    for gamma in (0.1, 1.0, 50.0):
        value, _ = laplace_local_free_energy(loss.loss_grad, loss.hessian, w, gamma)
        assert value == pytest.approx(ls.exact_local_free_energy(loss, w, gamma), abs=1e-7)


def test_ti_over_gamma_is_calibrated():
    loss, w = quadratic()
    gamma, exact = 0.5, ls.exact_local_free_energy(loss, w, 0.5)
    values, ses = [], []
    for s in seeds(300, 12):
        fe = ti_local_free_energy(loss.loss_grad, loss.hessian, w, gamma, gamma_max=300.0, curvature=30.0,
                                  n_rungs=9, chains=4, draws=150, burn=30, step_scale=1.0,
                                  rng=np.random.default_rng(s))
        assert fe.kind == "estimate" and not fe.note.startswith("unreliable")
        values.append(fe.value)
        ses.append(fe.se)
    assert_calibrated(values, ses, exact, label="TI over gamma, quadratic loss")


def test_hessian_tools_against_a_dense_matrix():
    loss, _ = quadratic(12)
    eig = np.sort(np.linalg.eigvalsh(loss.A))[::-1]
    assert ls.top_eigenvalues(lambda v: loss.A @ v, 12, k=3) == pytest.approx(eig[:3], rel=1e-8)
    traces = [ls.hutchinson_trace(lambda v: loss.A @ v, 12, 40, np.random.default_rng(s)) for s in seeds(400, 12)]
    assert_calibrated([t for t, _ in traces], [se for _, se in traces], float(np.trace(loss.A)),
                      label="Hutchinson trace")
