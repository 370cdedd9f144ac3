"""Large-data regression inputs: the chunked CSV reader (same numbers, same one-line errors) and the
exact conjugate reference from sufficient statistics accumulated in chunks.  Deterministic: no seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physml.cli import main
from physml.models import regression as reg
from physml.models import regression_data


def _csv(tmp_path, text: str, name: str = "d.csv") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_chunked_csv_equals_a_plain_parse(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(1003, 4))
    path = tmp_path / "t.csv"
    np.savetxt(path, table, delimiter=",", header="a, y,b,c", comments="", fmt="%.17g")
    monkeypatch.setattr(regression_data, "CSV_CHUNK_ROWS", 100)  # 11 chunks, the last one short
    data = reg.load_data(path, "y")
    assert data.predictors == ("a", "b", "c") and data.target == "y" and data.n == 1003
    np.testing.assert_array_equal(data.y, table[:, 1])
    np.testing.assert_array_equal(data.X, table[:, [0, 2, 3]])


def test_blank_lines_are_skipped(tmp_path):
    data = reg.load_data(_csv(tmp_path, "a,y\n1,2\n\n3,4\n5,6"), "y")  # no final newline, row complete
    np.testing.assert_array_equal(data.X[:, 0], [1, 3, 5])
    np.testing.assert_array_equal(data.y, [2, 4, 6])


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("a,b,y\n1,2,3\n2,1,4\n", "target column 'z'"),
    ("a,y\n1,2\nfoo,3\n4,5\n", "only numbers"),
    ("a,y\n1,2\nnan,3\n4,5\n", "finite"),
    ("a,y\n1,2\n3,\n4,5\n", "finite"),
    ("a,y\n1,2\n3,4,5\n", "every row must have 2 columns"),
    ("a,y\n1,2\n3,4\n5", "ends mid-row"),
    ("a,y\n1,2\n", "at least 2 data rows"),
])
def test_bad_csv_is_one_clear_line(tmp_path, text, message):
    target = "z" if "'z'" in message else "y"
    with pytest.raises(ValueError, match=message) as err:
        reg.load_data(_csv(tmp_path, text), target)
    assert "\n" not in str(err.value)


def test_cli_csv_ending_mid_row_exits_2_with_one_line(tmp_path, capsys):
    path = _csv(tmp_path, "a,b,y\n1,2,3\n2,1,4\n3,5,1\n4,4")
    code = main(["run", "regression", "--data", path, "--target", "y", "--out", str(tmp_path / "res")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "ends mid-row" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "res").exists()


def test_sufficient_statistics_in_chunks_equal_the_direct_products():
    data = reg.synthetic_data(n=1001, d=3, rho=0.5, seed=7)
    st = reg.sufficient_stats(data, chunk_rows=64)
    np.testing.assert_allclose(st.XtX, data.X.T @ data.X, rtol=1e-12)
    np.testing.assert_allclose(st.Xty, data.X.T @ data.y, rtol=1e-12)
    assert st.n == data.n and st.yty == pytest.approx(float(data.y @ data.y), rel=1e-12)
    with pytest.raises(ValueError, match="chunk_rows must be >= 1"):
        reg.sufficient_stats(data, chunk_rows=0)


def test_posterior_from_statistics_equals_the_textbook_formula_and_the_student_t_evidence():
    data, prior = reg.synthetic_data(n=300, d=3, seed=3), reg.ConjugatePrior(3, v0=2.0)
    post = reg.nig_posterior(data, prior)
    P0 = np.linalg.inv(prior.V0)
    Ln = data.X.T @ data.X + P0
    mu = np.linalg.solve(Ln, data.X.T @ data.y)
    np.testing.assert_allclose(post.mu_n, mu, rtol=1e-10)
    assert post.b_n == pytest.approx(prior.b0 + 0.5 * (data.y @ data.y - mu @ Ln @ mu), rel=1e-10)
    assert reg.log_evidence_exact(data, prior) == pytest.approx(reg.log_evidence_student_t(data, prior), abs=1e-8)


@pytest.mark.parametrize("a", [50.0, 3e3, 5e6])
def test_sigma_sd_is_accurate_at_any_n(a):
    """sd(σ), σ² ~ InvGamma(a, b): by quadrature of (σ − E σ)² (no cancellation) against the closed form,
    whose direct form 1 − (a−1)Γ(a−½)²/Γ(a)² loses every digit near a = 5e6 (n = 1e7)."""
    from scipy import integrate, stats

    b = 0.8 * a
    post = reg.NIGPosterior(np.zeros(1), np.eye(1), a, b, ("x1",))
    mean, sd = post.sigma_moments()
    dist = stats.invgamma(a, scale=b)
    scale = b / (a - 1) / math.sqrt(a)  # about the sd of σ²
    lo, hi = dist.mean() - 40 * scale, dist.mean() + 40 * scale
    m1 = integrate.quad(lambda s2: math.sqrt(s2) * dist.pdf(s2), max(lo, 0.0), hi, epsrel=1e-13, limit=400)[0]
    var = integrate.quad(lambda s2: (math.sqrt(s2) - m1) ** 2 * dist.pdf(s2), max(lo, 0.0), hi, epsrel=1e-12,
                         limit=400)[0]
    assert mean == pytest.approx(m1, rel=1e-7)  # ln Γ near 8e7 carries ~1e-8 absolute error
    assert sd == pytest.approx(math.sqrt(var), rel=1e-5)


def _data(n: int) -> reg.RegressionData:
    X = np.arange(3.0 * n).reshape(n, 3) / n  # deterministic, no seed needed
    return reg.RegressionData(X, X @ np.array([1.0, 0.25, -0.5]) + np.sin(np.arange(n)), ("x1", "x2", "x3"))


@pytest.mark.parametrize("build", [reg.conjugate_model, reg.independent_model])
def test_large_data_model_holds_the_data_arrays_not_copies(build):
    import tracemalloc

    from pymc.backends.arviz import find_constants, find_observations

    data = _data(reg.BORROW_MIN_ROWS * 5)  # 16 MB; a copy of X and y alone would be 1×
    prior = reg.ConjugatePrior(3) if build is reg.conjugate_model else reg.IndependentPrior()
    tracemalloc.start()
    try:
        model = build(data, prior)
        observed, constants = find_observations(model), find_constants(model)
        built = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.shares_memory(model["X"].get_value(borrow=True), data.X)
    assert np.shares_memory(observed["y"], data.y) and "X" not in constants
    assert built < 0.5 * (data.X.nbytes + data.y.nbytes), f"building the model allocated {built} bytes"
    assert model.dim_lengths["obs"].eval() == data.n


def test_small_data_model_keeps_x_as_constant_data():
    from pymc.backends.arviz import find_constants

    data = _data(50)
    model = reg.conjugate_model(data, reg.ConjugatePrior(3))
    np.testing.assert_array_equal(find_constants(model)["X"], data.X)
    assert list(model.coords["obs"]) == list(range(50))
