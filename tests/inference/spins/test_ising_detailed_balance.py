"""Exact transition matrices on 2x2 and 3x3 lattices: stationarity and detailed balance of every kernel."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from physml.inference.spins.checkerboard import CheckerboardKernel, site_up_probability
from physml.inference.spins.kernel import with_ghost
from physml.inference.spins.lattice import square_lattice_couplings
from physml.inference.spins.swendsen_wang import SwendsenWangKernel
from physml.inference.spins.wolff import WolffKernel

from seeding import seed
from statcheck import threshold


def all_states(n):
    return (1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)).astype(np.int8)


def boltzmann(c):
    lw = c.log_weight(all_states(c.n_spins))
    p = np.exp(lw - lw.max())
    return p / p.sum()


def site_matrix(c, rule, i):
    """Exact single-site kernel at site i from the compiled P(s_i' = +1 | s)."""
    n = c.n_spins
    S = all_states(n)
    T = np.zeros((2 ** n, 2 ** n))
    for a, s in enumerate(S):
        p = site_up_probability(c, rule, s, i)
        up, down = a & ~(1 << i), a | (1 << i)  # bit set <=> spin -1
        T[a, up] += p
        T[a, down] += 1 - p
    return T


def colour_matrices(c, rule):
    order, starts = c.colouring
    mats = []
    for k in range(len(starts) - 1):
        T = np.eye(2 ** c.n_spins)
        for i in order[starts[k]:starts[k + 1]]:
            T = T @ site_matrix(c, rule, i)
        mats.append(T)
    return mats


def assert_detailed_balance(pi, T, tol=1e-12):
    flow = pi[:, None] * T
    assert np.max(np.abs(flow - flow.T)) < tol


def assert_stationary(pi, T, tol=1e-12):
    assert np.allclose(T.sum(axis=1), 1.0, atol=tol)
    assert np.max(np.abs(pi @ T - pi)) < tol


LATTICES = [(2, "periodic"), (3, "periodic"), (3, "open")]


@pytest.mark.parametrize("L,boundary", LATTICES)
@pytest.mark.parametrize("rule", ["metropolis", "heat_bath"])
def test_single_site_and_half_sweeps_satisfy_detailed_balance(L, boundary, rule):
    c = square_lattice_couplings(L, 0.37, h=0.15, boundary=boundary)
    pi = boltzmann(c)
    for i in range(c.n_spins):
        assert_detailed_balance(pi, site_matrix(c, rule, i))
    mats = colour_matrices(c, rule)
    if L % 2 and boundary == "periodic":
        assert len(mats) >= 3  # an odd torus is not bipartite: the greedy colouring needs more colours
    else:
        assert len(mats) == 2
    for T in mats:
        assert_detailed_balance(pi, T)
    full = np.linalg.multi_dot(mats) if len(mats) > 2 else mats[0] @ mats[1]
    assert_stationary(pi, full)


@pytest.mark.parametrize("rule", ["metropolis", "heat_bath"])
def test_compiled_sweep_implements_the_matrix(rule):
    """The sweep sets s_i = +1 iff u_i < P(s_i' = +1 | s): probe u just below / above that threshold."""
    c = square_lattice_couplings(3, 0.41, h=-0.2, boundary="periodic")
    general = square_lattice_couplings(3, 0.41, h=np.linspace(-0.2, 0.2, 9), boundary="periodic")
    rng = np.random.default_rng(3)
    for cc in (c, general):
        kern = CheckerboardKernel(cc, rule)
        order, starts = cc.colouring
        for s in all_states(9)[rng.choice(512, 40, replace=False)]:
            for col in range(len(starts) - 1):
                p = np.array([site_up_probability(cc, rule, s, i) for i in range(9)])
                for sign in (-1, 1):
                    buf = with_ghost(s)
                    u = np.clip(p + sign * 1e-9, 0, 1 - 1e-16)[None, :]
                    kern.sweep_inplace(buf, u, colours=[col])
                    sites = order[starts[col]:starts[col + 1]]
                    expect = np.where(u[0, sites] < p[sites], 1, -1)
                    assert np.array_equal(buf[sites], expect)
                    others = np.setdiff1d(np.arange(9), sites)
                    assert np.array_equal(buf[others], s[others])


def fk_matrices(c):
    """Exact Swendsen-Wang and Wolff matrices by enumerating Fortuin-Kasteleyn bond sets."""
    n, E = c.n_spins, c.n_edges
    S = all_states(n)
    p = -np.expm1(-2 * np.abs(c.weights))
    subsets = ((np.arange(2 ** E)[:, None] >> np.arange(E)) & 1).astype(bool)
    labels, ncl = [], []
    for b in subsets:
        e = c.edges[b]
        g = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        k, lab = connected_components(g, directed=False)
        ncl.append(k)
        labels.append(lab)
    labels, ncl = np.array(labels), np.array(ncl)
    sat = (np.sign(c.weights)[None, :] * S[:, c.edges[:, 0]] * S[:, c.edges[:, 1]]) > 0  # (states, E)
    allowed = ~np.any(subsets[None, :, :] & ~sat[:, None, :], axis=2)  # b subset of satisfied edges
    logp = np.where(subsets[None], np.log(p)[None, None], np.log1p(-p)[None, None])
    W = np.where(allowed, np.exp(np.where(sat[:, None, :], logp, 0.0).sum(axis=2)), 0.0)
    T_sw = W @ (allowed * 2.0 ** -ncl[None, :]).T
    T_w = np.zeros_like(T_sw)
    bits = 1 << np.arange(n)
    for a, b in zip(*np.nonzero(W)):
        for i in range(n):
            mask = bits[labels[b] == labels[b, i]].sum()
            T_w[a, a ^ mask] += W[a, b] / n
    return T_sw, T_w


@pytest.mark.parametrize("L,boundary", [(2, "periodic"), (3, "open")])
def test_cluster_kernels_satisfy_detailed_balance(L, boundary):
    c = square_lattice_couplings(L, 0.35, boundary=boundary)
    pi = boltzmann(c)
    T_sw, T_w = fk_matrices(c)
    for T in (T_sw, T_w):
        assert_stationary(pi, T)
        assert_detailed_balance(pi, T)


def test_cluster_kernels_sample_the_exact_rows():
    """Transition frequencies of the compiled SW / Wolff kernels match the exact rows (binomial sigma,
    bound for all 2 × 3 × 16 cells at once)."""
    c = square_lattice_couplings(2, 0.35)
    T_sw, T_w = fk_matrices(c)
    rng = np.random.default_rng(seed(11))
    n_rep = 4000
    for kern, T in ((SwendsenWangKernel(c), T_sw), (WolffKernel(c, 1), T_w)):
        for a in (0, 5, 6):
            s0 = all_states(4)[a]
            counts = np.zeros(16)
            for _ in range(n_rep):
                new = kern.step(rng, kern.init(s0)).spins
                counts[int(((new < 0) * (1 << np.arange(4))).sum())] += 1
            freq, exact = counts / n_rep, T[a]
            sigma = np.sqrt(exact * (1 - exact) / n_rep)
            assert np.all(np.abs(freq - exact) <= threshold(2 * 3 * 16) * sigma + 1e-12), (freq, exact)


@pytest.mark.parametrize("L,h", [(2, 0.0), (4, 0.0), (4, 0.3), (6, -0.2)])
@pytest.mark.parametrize("rule", ["metropolis", "heat_bath"])
def test_specialised_square_kernel_equals_general_kernel(L, h, rule):
    """Same uniforms -> same spins: the periodic-square kernel (no neighbour table) against the
    table kernel on the general graph, whose single-site matrices are checked above."""
    from physml.inference.spins.checkerboard import sweep_table

    c = square_lattice_couplings(L, 0.43, h=h)
    kern = CheckerboardKernel(c, rule)
    assert kern.specialised
    nbr, _ = c.neighbour_table
    order, starts = c.colouring
    rng = np.random.default_rng(L)
    for _ in range(5):
        s = kern.init(rng=rng).spins
        u = rng.random((3, c.n_spins))
        a, b = with_ghost(s), with_ghost(s)
        kern.sweep_inplace(a, u)
        sweep_table(b, nbr, kern._table, order, starts, u, np.arange(2, dtype=np.int64))
        assert np.array_equal(a, b)


def test_in_numba_generator_is_the_explicit_uniform_path():
    """The draws made inside the batched kernels are exactly the uniforms the u-path consumes."""
    from physml.inference.spins.checkerboard import general_sweeps, square_sweeps, square_visit_uniforms
    from physml.inference.spins.rng import NO_U, rng_state, uniforms

    c = square_lattice_couplings(6, 0.4, h=0.1)
    kern = CheckerboardKernel(c, "metropolis")
    st = rng_state(np.random.default_rng(5))
    s = kern.init(rng=np.random.default_rng(6)).spins
    a, b = with_ghost(s), with_ghost(s)
    st_a = st.copy()
    square_sweeps(a, 6, kern._table, 4, NO_U, st_a, np.zeros((2, 9), dtype=np.int64))
    u = square_visit_uniforms(6, 4, st.copy())
    square_sweeps(b, 6, kern._table, 4, u, np.zeros(4, dtype=np.uint64), np.zeros((2, 9), dtype=np.int64))
    assert np.array_equal(a, b)
    # general graph (3-colour odd torus, site-dependent field): uniforms in visiting order
    g = square_lattice_couplings(3, 0.4, h=np.linspace(-0.3, 0.3, 9))
    gk = CheckerboardKernel(g, "heat_bath")
    nbr, w = g.neighbour_table
    order, starts = g.colouring
    s = gk.init(rng=np.random.default_rng(7)).spins
    a, b = with_ghost(s), with_ghost(s)
    general_sweeps(a, nbr, w, g.field, gk._table_arr, False, order, starts, 3, NO_U, st.copy(), 1)
    flat = uniforms(st.copy(), 3 * 9).reshape(3, 9)
    u = np.empty((3, 9))
    u[:, order] = flat
    gk.sweep_inplace(b, u)
    assert np.array_equal(a, b)
    # the batched driver reproduces itself from the same Generator seed
    k8 = CheckerboardKernel(square_lattice_couplings(8, 0.44), "metropolis")
    x = [k8.sample_batch(np.random.default_rng(9), with_ghost(np.ones(64, np.int8)), 50, True) for _ in range(2)]
    assert np.array_equal(x[0].energy, x[1].energy) and np.array_equal(x[0].spins, x[1].spins)


@pytest.mark.parametrize("h", [0.0, 0.25])
def test_rao_blackwell_bond_sum_has_the_exact_mean(h):
    """E_pi[sum_{i in A} n_i tanh(K n_i + h)] = E_pi[sum_<ij> s_i s_j] by enumeration (4x4 torus)."""
    c = square_lattice_couplings(4, 0.41, h=h)
    pi = boltzmann(c)
    S = all_states(16).astype(float)
    order, starts = c.colouring
    nsum = S @ c.dense_matrix() / 0.41  # neighbour sums (with multiplicity)
    for col in range(2):
        sites = order[starts[col]:starts[col + 1]]
        rb = (nsum[:, sites] * np.tanh(0.41 * nsum[:, sites] + h)).sum(axis=1)
        assert abs(pi @ rb - pi @ c.bond_sum(S)) < 1e-10
