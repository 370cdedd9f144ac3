"""RBM model: energy, free energy, conditionals, exact ln Z, data and input validation."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from rbm_brute_force import all_states, brute_force_log_z, random_rbm
from scipy.special import logsumexp
from seeding import seed

from physml.inference.rbm import exact as rbm_exact
from physml.models import rbm


@pytest.mark.parametrize("shape", [(3, 2), (2, 4), (4, 4), (1, 1)])
def test_exact_log_z_matches_full_enumeration(shape):
    W, a, b = random_rbm(*shape, rng_seed=seed(sum(shape)))
    assert rbm.log_partition_exact(W, a, b) == pytest.approx(brute_force_log_z(W, a, b), rel=1e-12, abs=1e-12)


def test_exact_log_z_chunked_hidden_sum_matches_visible_sum():
    """16 visible × 15 hidden: the library enumerates the smaller (hidden) layer, 2^15 states in chunks;
    here ln Z is summed over the other layer, all 2^16 visible states, with the hidden units in closed
    form: ln Z = logsumexp_v [a·v + Σ_j ln(1 + exp(b_j + (vW)_j))]."""
    W, a, b = random_rbm(16, 15, rng_seed=seed(3), scale=0.3)
    assert W.shape[1] < W.shape[0] <= rbm_exact.MAX_ENUMERATED_UNITS  # so the library sums over h
    v = all_states(16)
    over_visible = logsumexp(v @ a + np.logaddexp(0.0, b + v @ W).sum(axis=1))
    assert rbm.log_partition_exact(W, a, b) == pytest.approx(over_visible, rel=1e-12)


def test_free_energy_is_minus_log_sum_over_hidden():
    W, a, b = random_rbm(4, 3, rng_seed=seed(5))
    vs, hs = all_states(4), all_states(3)
    direct = -logsumexp(-rbm.energy(vs[:, None, :], hs[None, :, :], W, a, b), axis=1)
    np.testing.assert_allclose(rbm.free_energy(vs, W, a, b), direct, rtol=1e-12)


def test_conditionals_factorise_and_match_the_joint():
    W, a, b = random_rbm(3, 2, rng_seed=seed(7))
    vs, hs = all_states(3), all_states(2)
    joint = np.exp(-rbm.energy(vs[:, None, :], hs[None, :, :], W, a, b))  # (v, h)
    p_h_given_v = joint / joint.sum(axis=1, keepdims=True)
    p_v_given_h = joint / joint.sum(axis=0, keepdims=True)
    ph = rbm.hidden_conditional(vs, W, b)  # (v, n_h)
    pv = rbm.visible_conditional(hs, W, a)  # (h, n_v)
    factorised_h = np.prod(np.where(hs[None, :, :] == 1, ph[:, None, :], 1 - ph[:, None, :]), axis=2)
    factorised_v = np.prod(np.where(vs[None, :, :] == 1, pv[:, None, :], 1 - pv[:, None, :]), axis=2).T
    np.testing.assert_allclose(factorised_h, p_h_given_v, rtol=1e-12)
    np.testing.assert_allclose(factorised_v, p_v_given_h, rtol=1e-12)


def test_visible_distribution_and_log_likelihood_are_normalised():
    W, a, b = random_rbm(5, 3, rng_seed=seed(11))
    p = rbm.visible_distribution(W, a, b)
    assert p.sum() == pytest.approx(1.0, rel=1e-12)
    states = rbm_exact.all_binary_states(5)
    np.testing.assert_allclose(np.log(p), rbm.log_likelihood(states, W, a, b), rtol=1e-10)
    np.testing.assert_array_equal(rbm.pattern_codes(states), np.arange(32))


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
def test_model_expectations_match_brute_force(shape):
    W, a, b = random_rbm(*shape, rng_seed=seed(13))
    vs, hs = all_states(shape[0]), all_states(shape[1])
    logw = -rbm.energy(vs[:, None, :], hs[None, :, :], W, a, b)
    p = np.exp(logw - logsumexp(logw))
    E_vh, E_v, E_h, log_z = rbm_exact.model_expectations(W, a, b)
    np.testing.assert_allclose(E_vh, np.einsum("vh,vi,hj->ij", p, vs, hs), rtol=1e-10)
    np.testing.assert_allclose(E_v, p.sum(axis=1) @ vs, rtol=1e-10)
    np.testing.assert_allclose(E_h, p.sum(axis=0) @ hs, rtol=1e-10)
    assert log_z == pytest.approx(logsumexp(logw), rel=1e-12)


def test_exact_gradient_matches_finite_differences():
    W, a, b = random_rbm(4, 3, rng_seed=seed(17), scale=0.5)
    data = rbm.bars_and_stripes(2, 30, seed=seed(1))
    shapes = [W.shape, a.shape, b.shape]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(x):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        return [p.reshape(s) for p, s in zip(parts, shapes)]

    def ll(x):
        return rbm_exact.mean_log_likelihood(data, *unpack(x))

    x0 = np.concatenate([W.ravel(), a, b])
    dW, da, db, value = rbm_exact.exact_log_likelihood_gradient(data, W, a, b)
    assert value == pytest.approx(ll(x0), rel=1e-12)
    eps = 1e-6
    numeric = approx_fprime(x0, ll, eps)  # forward differences: error O(eps * |f''|)
    np.testing.assert_allclose(np.concatenate([dW.ravel(), da, db]), numeric, atol=1e-5)


def test_bars_and_stripes_patterns_and_samples():
    p3, p4 = rbm.bars_and_stripes_patterns(3), rbm.bars_and_stripes_patterns(4)
    assert p3.shape == (14, 9) and p4.shape == (30, 16)
    data = rbm.bars_and_stripes(3, 400, seed=seed(0))
    assert data.shape == (400, 9)
    assert set(rbm.pattern_codes(data)) <= set(rbm.pattern_codes(p3))
    np.testing.assert_array_equal(data, rbm.bars_and_stripes(3, 400, seed=seed(0)))
    # every image is constant along rows (stripes) or along columns (bars)
    img = data.reshape(-1, 3, 3)
    assert np.all((img.std(axis=2).max(axis=1) == 0) | (img.std(axis=1).max(axis=1) == 0))
    freq = rbm.pattern_frequencies(data)
    assert freq.sum() == pytest.approx(1.0)


def test_load_user_rows_npy_and_csv(tmp_path):
    data = rbm.bars_and_stripes(3, 20, seed=seed(2))
    np.save(tmp_path / "rows.npy", data)
    np.savetxt(tmp_path / "rows.csv", data.astype(int), fmt="%d", delimiter=",")
    np.testing.assert_array_equal(rbm.load_binary_rows(tmp_path / "rows.npy"), data)
    loaded, label, shape = rbm.resolve_data(str(tmp_path / "rows.csv"))
    np.testing.assert_array_equal(loaded, data)
    assert shape == (3, 3) and label == "rows.csv"


def test_bad_input_is_a_clear_error(tmp_path):
    W, a, b = random_rbm(4, 2, rng_seed=seed(0))
    with pytest.raises(ValueError, match="binary"):
        rbm.validate_binary([[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="n_visible = 4"):
        rbm.log_likelihood(np.zeros((3, 5)), W, a, b)
    with pytest.raises(ValueError, match="n_hidden"):
        rbm.validate_params(np.zeros((4, 0)), a, np.zeros(0))
    with pytest.raises(ValueError, match="n_hidden"):
        rbm.build_bayesian_rbm(np.zeros((3, 4)), 0)
    with pytest.raises(ValueError, match=r"a \(visible biases\)"):
        rbm.log_partition_exact(W, np.zeros(3), b)
    with pytest.raises(ValueError, match="<= 20"):
        rbm.log_partition_exact(np.zeros((21, 21)), np.zeros(21), np.zeros(21))
    with pytest.raises(ValueError, match="size"):
        rbm.bars_and_stripes(1, 10, seed=seed(0))
    with pytest.raises(ValueError, match="does not exist"):
        rbm.resolve_data(str(tmp_path / "missing.npy"))
    (tmp_path / "bad.csv").write_text("0,1,0.5\n1,0,1\n")
    with pytest.raises(ValueError, match="binary"):
        rbm.load_binary_rows(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="bas3"):
        rbm.resolve_data("bas5")
