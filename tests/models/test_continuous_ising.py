"""The continuous (Hubbard–Stratonovich) Ising model against enumeration, Kaufman and quadrature."""

import math

import numpy as np
import pytest

from physml.inference import fit, free_energies
from physml.inference.spins.hubbard_stratonovich import (HSTransform, hs_spin_observables, local_fields,
                                                         min_coupling_eigenvalue)
from physml.inference.spins.lattice import grid_couplings
from physml.models import continuous_ising as ci
from physml.models import ising as im

from seeding import seed
from statcheck import assert_mcmc_mean, threshold


def assert_spin_observables(model, result, exact_scalars: dict, exact_marginals=None, label=""):
    """Rao–Blackwellised observables against exact values, each aggregated over the chains
    (statcheck.assert_mcmc_mean) with the bound for all checks of the call at once."""
    ds = ci.spin_observables(model, result)
    n_checks = len(exact_scalars) + (0 if exact_marginals is None else len(exact_marginals))
    for key, exact in exact_scalars.items():
        assert_mcmc_mean(ds[key].transpose("chain", "draw").values, exact, n_checks=n_checks, label=f"{label} {key}")
    if exact_marginals is not None:
        sm = ds["spin_mean"].transpose("chain", "draw", ...).values
        for i, exact in enumerate(exact_marginals):
            assert_mcmc_mean(sm[..., i], exact, n_checks=n_checks, label=f"{label} site {i}")


# ---------------------------------------------------------------- deterministic identities
@pytest.mark.parametrize("rows,cols,boundary", [(2, 2, "periodic"), (3, 4, "open"), (4, 4, "periodic"),
                                                (3, 3, "periodic"), (2, 5, "open")])
def test_square_root_transform(rows, cols, boundary):
    cp = grid_couplings(rows, cols, 0.4, np.linspace(-1, 1, rows * cols), boundary)
    lam_min = np.linalg.eigvalsh(cp.dense_matrix()).min()
    assert min_coupling_eigenvalue(cp) == pytest.approx(lam_min, abs=1e-12)
    tr = HSTransform(cp, -lam_min + 0.3)
    assert tr.kind == "separable"
    S = tr.matrix()
    A = cp.dense_matrix() + tr.shift * np.eye(cp.n_spins)
    np.testing.assert_allclose(S @ S, A, atol=1e-12)
    np.testing.assert_allclose(S, S.T, atol=1e-12)


def test_grid_matches_square_lattice():
    for bd in ("periodic", "open"):
        a, b = grid_couplings(4, 4, 0.3, 0.1, bd), im.ising_couplings(4, 0.3, 0.1, bd)
        np.testing.assert_array_equal(a.dense_matrix(), b.dense_matrix())


def test_shift_must_make_A_positive_definite():
    cp = im.ising_couplings(4, 0.35)
    with pytest.raises(ValueError, match="positive definite"):
        HSTransform(cp, 1.0)  # needs c > 4K = 1.4
    with pytest.raises(ValueError, match="margin"):
        ci.HSSpec(margin=0.0)


@pytest.mark.parametrize("L,K,h,boundary", [(2, 0.35, 0.0, "periodic"), (2, 0.6, 0.3, "open")])
def test_hs_identity_by_quadrature(L, K, h, boundary):
    """2×2: the HS integral equals Z, and its spin marginal equals the Ising distribution, for several c."""
    cp = im.ising_couplings(L, K, h, boundary)
    ex = im.enumerate_ising(cp)
    states = 1 - 2 * ((np.arange(16)[:, None] >> np.arange(4)) & 1)
    lw = cp.log_weight(states)
    p_exact = np.exp(lw - ex["log_z"])
    for margin in (0.2, 1.0, 3.0):
        c = -min_coupling_eigenvalue(cp) + margin
        assert ci.log_partition_quadrature(cp, c, 20) == pytest.approx(ex["log_z"], abs=1e-9)
        np.testing.assert_allclose(ci.spin_probabilities_quadrature(cp, c, 20), p_exact, atol=1e-9)


def test_pymc_log_density_matches_energy():
    """The compiled model's log density is −E(z) of the docstring (so its evidence is Z)."""
    cp = im.ising_couplings(3, 0.3, 0.2, "open")
    model = ci.continuous_ising_model(cp)
    assert ci.continuous_ising_model(cp) is model  # cached: compiled once
    _, tr = ci.hs_info(model)
    z = np.random.default_rng(0).normal(size=(3, cp.n_spins))
    f = model.compile_logp()
    got = np.array([f({ci.LATENT_VAR: zi}) for zi in z])
    np.testing.assert_allclose(got, -ci.hs_energy(z, tr), rtol=1e-10)
    # x-space density and z-space energy agree up to the Jacobian |S| of x = S z
    x = tr.apply(z)
    log_det_s = 0.5 * np.log(tr.eigenvalues).sum()
    np.testing.assert_allclose(ci.hs_log_density(x, cp, tr.shift) + log_det_s, -ci.hs_energy(z, tr), rtol=1e-10)


def test_rao_blackwell_formulas_by_sampling_s_given_x():
    """E[E/N | x], E[(M/N)² | x], E[|M|/N | x] against direct sampling of independent spins."""
    cp = im.ising_couplings(3, 0.4, 0.1)
    rng = np.random.default_rng(seed(3))
    x = rng.normal(size=cp.n_spins)
    rb = hs_spin_observables(cp, x[None, :])
    t = np.tanh(x + cp.field)
    s = np.where(rng.random((200_000, cp.n_spins)) < 0.5 * (1 + t), 1, -1)
    direct = {"energy": -cp.bond_sum(s) / cp.n_spins, "magnetisation_sq": (s.mean(1)) ** 2,
              "abs_magnetisation": np.abs(s.mean(1))}
    for k, v in direct.items():
        assert abs(rb[k][0] - v.mean()) < threshold(len(direct)) * v.std() / math.sqrt(v.size)
    spins = rng.choice([-1, 1], size=(4, cp.n_spins))
    np.testing.assert_allclose(local_fields(cp, spins), cp.field + spins @ cp.dense_matrix())


# ---------------------------------------------------------------- sampling
@pytest.fixture(scope="module")
def torus4():
    cp = im.ising_couplings(4, 0.35)
    model = ci.continuous_ising_model(cp)
    nuts = fit(model, "nuts", draws=750, tune=500, chains=4, seed=seed(11), free_energy=("bridge",))
    return {"couplings": cp, "model": model, "nuts": nuts, "exact": im.enumerate_ising(cp)}


def test_hs_nuts_observables_vs_enumeration(torus4):
    ex = torus4["exact"]
    # h = 0: every marginal is 0
    assert_spin_observables(torus4["model"], torus4["nuts"],
                            {"energy": ex["energy_per_spin"], "abs_magnetisation": ex["abs_magnetisation"],
                             "magnetisation_sq": ex["magnetisation_sq"]}, np.zeros(16), "HS-NUTS 4x4")


def test_hs_free_energy_bridge_vs_exact(torus4):
    """The continuous model's evidence is Z: bridge sampling from the NUTS draws recovers −ln Z within 4 se."""
    rec = next(r for r in free_energies(torus4["nuts"]) if r.estimator == "bridge")
    assert abs(rec.value + torus4["exact"]["log_z"]) < threshold() * rec.se, rec


def test_hs_3x3_open_field_marginals_vs_enumeration():
    cp = im.ising_couplings(3, 0.5, np.linspace(-0.4, 0.4, 9), "open")
    model = ci.continuous_ising_model(cp)
    res = fit(model, "nuts", draws=500, tune=400, chains=4, seed=seed(5), free_energy=())
    states = 1 - 2 * ((np.arange(2 ** 9)[:, None] >> np.arange(9)) & 1)
    lw = cp.log_weight(states)
    p = np.exp(lw - np.logaddexp.reduce(lw))
    ex = im.enumerate_ising(cp)
    assert_spin_observables(model, res, {"energy": ex["energy_per_spin"]}, p @ states, "HS-NUTS 3x3 open")


def test_hs_advi_is_an_upper_bound(torus4):
    """Mean-field ADVI runs on the continuous model; its −ELBO is an upper bound on −ln Z (Gibbs–Bogoliubov)."""
    res = fit(torus4["model"], "advi", draws=200, seed=seed(2), free_energy=())
    rec = next(r for r in free_energies(res) if r.estimator == "neg_elbo")
    assert rec.kind == "upper_bound"
    assert rec.value > -torus4["exact"]["log_z"] - threshold() * rec.se
    # A check that can fail: the reported −ELBO equals E_q[ln q(z) − ln p(z)] recomputed here from the
    # fitted q = Π N(mean_i, sd_i²) and the model's energy −ln p(z) = E(z) (an independent path).
    params = res["vi_params"].to_dataset()
    mean, sd = params["mean"].values, params["sd"].values
    z = mean + sd * np.random.default_rng(seed(21)).standard_normal((4000, mean.size))
    _, tr = ci.hs_info(torus4["model"])
    log_q = -0.5 * np.sum(((z - mean) / sd) ** 2 + np.log(2 * np.pi * sd**2), axis=1)
    terms = log_q + ci.hs_energy(z, tr)
    mine, mine_se = terms.mean(), terms.std(ddof=1) / math.sqrt(terms.size)
    assert abs(rec.value - mine) < threshold() * math.hypot(rec.se, mine_se), (rec, mine, mine_se)
