"""Multi-spin coded Metropolis (physml.inference.spins.multispin) against exact answers.

* packing: pack/unpack round trip and the popcount observables equal the edge sums (deterministic);
* bit-sliced Bernoulli lanes: per-lane frequencies calibrated against their exact probabilities;
* one sweep's transition matrix on 2×4 and 4×2 tori (256 states), exact by enumeration of the
  checkerboard Metropolis schedule, against the empirical transitions of a long chain (pooled χ²);
* E/N and |M|/N vs exact values: enumeration / transfer matrix (L = 4, 6) and Kaufman (E/N, L = 32, 256),
  pooled over 8 chains with ``statcheck.assert_mcmc_mean``;
* the SpinKernel protocol, ``fit(model, "multispin")`` and bad input.
"""

import math

import numpy as np
import pytest
from scipy import stats

from physml.inference import fit
from physml.inference.spins.kernel import SpinKernel, edge_sums, with_ghost
from physml.inference.spins.lattice import grid_couplings
from physml.inference.spins.multispin import MultispinKernel, run_multispin
from physml.inference.spins.multispin_packing import packed_layout, packed_sums, unpack_spins
from physml.inference.spins.xoshiro_bits import digit_masks, fixed_point_probability, lane_bits
from physml.models.ising import (K_CRITICAL, enumerate_ising, ising_couplings, ising_model,
                                 ising_model_from_couplings, kaufman_observables)
from seeding import seed
from statcheck import P_FAIL, assert_calibrated, assert_mcmc_mean

SHAPES = [(2, 2), (2, 4), (4, 2), (4, 4), (6, 10), (4, 384), (2, 200), (8, 256)]


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("max_bits", [64, 1])
def test_pack_round_trip_and_popcount_sums(rows, cols, max_bits):
    c = grid_couplings(rows, cols, 0.4)
    kern = MultispinKernel(c, max_bits=max_bits)
    lay = kern.layout
    assert lay.bits * lay.n_words == cols // 2 and lay.bits <= max_bits
    for s in range(3):
        spins = kern.init(rng=np.random.default_rng(seed(s))).spins
        words = kern.pack(spins)
        out = np.zeros(rows * cols, dtype=np.int8)
        unpack_spins(words, rows, cols, lay.n_words, out)
        assert np.array_equal(out, spins)
        assert packed_sums(words, rows, lay.n_words, lay.bits, lay.mask) == edge_sums(with_ghost(spins), c.edges,
                                                                                        rows * cols)


def test_bernoulli_lanes_are_calibrated():
    """Lanes 0..31 at p = e^{-4K}, 32..47 at p², 48..63 not requested (always 0): binomial z-scores."""
    p_fixed = fixed_point_probability(math.exp(-4 * 0.3))
    lanes_a, lanes_b = np.uint64(2 ** 32 - 1), np.uint64((2 ** 16 - 1) << 32)
    n = 100_000
    state = np.random.default_rng(seed(11)).integers(0, 2 ** 63, size=4, dtype=np.uint64)
    words = lane_bits(digit_masks(p_fixed << 64), digit_masks(p_fixed * p_fixed), lanes_a, lanes_b, state, n)
    freq = ((words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).mean(axis=0)
    assert np.all(freq[48:] == 0)
    p = p_fixed / 2.0 ** 64
    exact = np.r_[np.full(32, p), np.full(16, p * p)]
    assert_calibrated(freq[:48], np.sqrt(exact * (1 - exact) / n), exact, label="Bernoulli lanes")


# ----------------------------------------------------------------- exact one-sweep transition matrix
def _state_index(spins):
    return ((spins > 0).astype(np.int64) << np.arange(spins.shape[-1])).sum(axis=-1)


def _colour_half_sweep(couplings, rows, cols, colour):
    """Exact T_c[x, y] of one colour class's simultaneous Metropolis updates (independent sites)."""
    n = rows * cols
    states = np.array([[1 if (x >> i) & 1 else -1 for i in range(n)] for x in range(2 ** n)])
    sites = [i for i in range(n) if (i // cols + i % cols) % 2 == colour]
    K = couplings.uniform_coupling
    T = np.zeros((2 ** n, 2 ** n))
    for x, s in enumerate(states):
        field = np.zeros(n)
        np.add.at(field, couplings.edges[:, 0], s[couplings.edges[:, 1]])
        np.add.at(field, couplings.edges[:, 1], s[couplings.edges[:, 0]])
        q = [min(1.0, math.exp(-2 * K * s[i] * field[i])) for i in sites]
        for subset in range(2 ** len(sites)):
            prob, y = 1.0, x
            for k, i in enumerate(sites):
                if (subset >> k) & 1:
                    prob, y = prob * q[k], y ^ (1 << i)
                else:
                    prob *= 1 - q[k]
            T[x, y] += prob
    return T, states


def _pooled_chi2(counts, expected):
    """χ² over cells with expected ≥ 5 per row, the rest of the row pooled into one cell (or its largest)."""
    stat, df = 0.0, 0
    for o_row, e_row in zip(counts, expected):
        big = e_row >= 5
        if not big.any():
            continue
        o, e = list(o_row[big]), list(e_row[big])
        rest_o, rest_e = o_row[~big].sum(), e_row[~big].sum()
        if rest_e >= 5:
            o.append(rest_o)
            e.append(rest_e)
        else:
            k = int(np.argmax(e))
            o[k] += rest_o
            e[k] += rest_e
        o, e = np.array(o, float), np.array(e, float)
        stat += float(((o - e) ** 2 / e).sum())
        df += len(o) - 1
    return stat, df


@pytest.mark.parametrize("rows,cols,max_bits,K", [(2, 4, 64, 0.4), (2, 4, 1, 0.25), (4, 2, 64, 0.3)])
def test_one_sweep_transition_matrix_is_exact(rows, cols, max_bits, K):
    c = grid_couplings(rows, cols, K)
    T0, states = _colour_half_sweep(c, rows, cols, 0)
    T1, _ = _colour_half_sweep(c, rows, cols, 1)
    T = T0 @ T1
    boltzmann = np.exp(K * (states[:, c.edges[:, 0]] * states[:, c.edges[:, 1]]).sum(axis=1))
    boltzmann /= boltzmann.sum()
    np.testing.assert_allclose(boltzmann @ T, boltzmann, atol=1e-14)  # the reference leaves P invariant
    kern = MultispinKernel(c, max_bits=max_bits)
    rng = np.random.default_rng(seed(21))
    batch = kern.sample_batch(rng, with_ghost(kern.init(rng=rng).spins), 600_000, True)
    x = _state_index(batch.spins)
    counts = np.bincount(x[:-1] * 256 + x[1:], minlength=256 * 256).reshape(256, 256).astype(float)
    assert counts[T == 0].sum() == 0, "transitions the exact sweep forbids"
    stat, df = _pooled_chi2(counts, counts.sum(axis=1, keepdims=True) * T)
    p_value = stats.chi2.sf(stat, df)
    assert p_value > P_FAIL, f"chi2 {stat:.1f} on {df} df, p = {p_value:.2e}"


# ----------------------------------------------------------------- exact observables
def transfer_matrix_observables(L: int, K: float) -> dict:
    """Exact E/N and |M|/N of the periodic L×L torus (L ≤ 6): row transfer matrix tracking the magnetisation."""
    rows = np.array([[1 if (a >> c) & 1 else -1 for c in range(L)] for a in range(2 ** L)])
    row_m = rows.sum(axis=1)
    row_b = (rows * np.roll(rows, -1, axis=1)).sum(axis=1)
    inter = rows @ rows.T
    n = L * L
    moments = []
    for dK in (0.0, 1e-6, -1e-6):  # ln Z(K ± dK) for the energy by a central difference
        k = K + dK
        W = np.exp(k * (inter + row_b[None, :]))  # W[b, c]: from row b to row c (row c's own bonds)
        v = np.zeros((2 ** L, 2 ** L, n + 1))  # v[a0, b, (M + n)/2]
        for a in range(2 ** L):
            v[a, a, (row_m[a] + L) // 2] = math.exp(k * row_b[a])
        for _ in range(L - 1):
            u = np.einsum("abm,bc->acm", v, W)
            v = np.zeros_like(u)
            for cc in range(2 ** L):
                shift = (row_m[cc] + L) // 2
                v[:, cc, shift:] = u[:, cc, :n + 1 - shift]
        z_m = np.einsum("abm,ba->m", v, np.exp(k * inter))
        moments.append(z_m)
    z_m = moments[0]
    abs_m = np.abs(np.arange(-n, n + 1, 2)) / n
    energy = -(math.log(moments[1].sum()) - math.log(moments[2].sum())) / 2e-6 / n
    return {"energy_per_spin": energy, "abs_magnetisation": float((abs_m * z_m).sum() / z_m.sum())}


def test_transfer_matrix_reference_matches_enumeration():
    ex = enumerate_ising(ising_couplings(4, 0.37))
    tm = transfer_matrix_observables(4, 0.37)
    assert abs(tm["abs_magnetisation"] - ex["abs_magnetisation"]) < 1e-12
    assert abs(tm["energy_per_spin"] - ex["energy_per_spin"]) < 1e-6


def _pooled_check(L, K, max_bits, exact, draws, tune, seed_no):
    res = run_multispin(ising_model(L, K), draws=draws, tune=tune, chains=8, seed=seed(seed_no), record_spins=False,
                        max_bits=max_bits)
    for name, value in exact.items():
        assert_mcmc_mean(res.posterior[name].values, value, n_checks=len(exact), label=f"L={L} K={K:.4f} {name}")


@pytest.mark.parametrize("L,K,max_bits", [(4, 0.3, 64), (4, K_CRITICAL, 1), (6, K_CRITICAL, 64), (6, 0.5, 1)])
def test_energy_and_abs_magnetisation_match_exact_small(L, K, max_bits):
    tm = transfer_matrix_observables(L, K)
    _pooled_check(L, K, max_bits, {"energy": tm["energy_per_spin"], "abs_magnetisation": tm["abs_magnetisation"]},
                  3000, 300, 31)


@pytest.mark.parametrize("L,K,draws", [(32, K_CRITICAL, 3000), (256, 0.3, 200), (256, 0.4, 300)])
def test_energy_matches_kaufman(L, K, draws):
    _pooled_check(L, K, 64, {"energy": kaufman_observables(L, K)["energy_per_spin"]}, draws, 200, 41)


# ----------------------------------------------------------------- protocol, fit(), bad input
def test_protocol_seeded_and_pure():
    kern = MultispinKernel(ising_couplings(8, 0.4), sweeps=2)
    assert isinstance(kern, SpinKernel)
    s0 = kern.init(rng=np.random.default_rng(seed(1)))
    before = s0.spins.copy()
    a, b = (kern.step(np.random.default_rng(seed(2)), s0) for _ in range(2))
    assert np.array_equal(s0.spins, before) and np.array_equal(a.spins, b.spins)
    assert a.n_updates == 2 * 64
    runs = [kern.sample(np.random.default_rng(seed(3)), s0, 5, record_spins=True) for _ in range(2)]
    assert np.array_equal(runs[0][2], runs[1][2]) and np.array_equal(runs[0][0].spins, runs[0][2][-1])
    assert np.array_equal(runs[0][1]["energy"], runs[1][1]["energy"])


@pytest.mark.filterwarnings("ignore::physml.inference.draw_checks.FitWarning")
def test_fit_method_registered():
    res = fit(ising_model(8, 0.3), "multispin", draws=200, tune=50, chains=2, seed=seed(4))
    assert res.posterior["spins"].shape == (2, 200, 64) and res.attrs["physml_method"] == "multispin"
    with pytest.raises(ValueError, match="even"):
        fit(ising_model(5, 0.3), "multispin", draws=5, tune=0, chains=1)


@pytest.mark.parametrize("couplings,match", [
    (grid_couplings(4, 3, 0.4), "even lattice sides"),
    (ising_couplings(3, 0.4), "even lattice sides"),
    (ising_couplings(4, 0.0), "K > 0"),
    (ising_couplings(4, -0.3), "K > 0"),
    (ising_couplings(4, 0.3, h=0.1), "zero field"),
    (ising_couplings(4, 0.3, boundary="open"), "periodic"),
])
def test_bad_couplings_raise(couplings, match):
    with pytest.raises(ValueError, match=match):
        MultispinKernel(couplings)


def test_bad_options_raise():
    c = ising_couplings(4, 0.3)
    with pytest.raises(ValueError, match="sweeps"):
        MultispinKernel(c, sweeps=0)
    with pytest.raises(ValueError, match="max_bits"):
        MultispinKernel(c, max_bits=65)
    with pytest.raises(ValueError, match="rows"):
        packed_layout(3, 4)
    with pytest.raises(ValueError, match="couplings"):
        MultispinKernel("not couplings")
    with pytest.raises(ValueError, match="multispin"):
        fit(ising_model_from_couplings(ising_couplings(4, 0.3, h=0.2)), "multispin", draws=5, tune=0, chains=1)
