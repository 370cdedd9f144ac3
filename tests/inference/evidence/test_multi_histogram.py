"""Ferrenberg–Swendsen multi-histogram reweighting against a family with exact ln Z.

Base measure u ~ N(0, 1) tilted by e^{θu}: p_θ = N(θ, 1) and ln Z(θ) = θ²/2 exactly, so runs at θ_k are
plain normal draws. Repeated over independent data sets, the reweighted ln Z(θ) − ln Z(θ_1) (at a simulated
and at an un-simulated θ) and ⟨u⟩_θ must be calibrated with their jackknife errors.
"""
import numpy as np
import pytest
from seeding import seeds
from statcheck import assert_calibrated

from physml.inference.evidence.multi_histogram import block_slices, jackknife_blocks, multi_histogram

THETAS = np.array([-0.5, 0.25, 1.0])


def _runs(rng, n=400):
    return [{"u": rng.normal(t, 1.0, n)} for t in THETAS]


def _estimate(sub, theta_mid=0.6):
    mh = multi_histogram(THETAS, [r["u"] for r in sub])
    u = mh.u
    return np.array([mh.log_z[-1], mh.log_partition(theta_mid), mh.expectation(theta_mid, u)])


def test_log_z_and_reweighted_mean_are_calibrated():
    exact = np.array([(THETAS[-1] ** 2 - THETAS[0] ** 2) / 2, (0.6 ** 2 - THETAS[0] ** 2) / 2, 0.6])
    vals, ses = [], []
    for s in seeds(100, 20):
        v, se = jackknife_blocks(_runs(np.random.default_rng(s)), _estimate, n_blocks=10)
        vals.append(v)
        ses.append(se)
    vals, ses = np.array(vals), np.array(ses)
    for j, label in enumerate(("ln Z_3 - ln Z_1", "ln Z(0.6) - ln Z_1", "<u>_0.6")):
        assert_calibrated(vals[:, j], ses[:, j], exact[j], label=label)


def test_self_consistency_and_ess():
    mh = multi_histogram(THETAS, [r["u"] for r in _runs(np.random.default_rng(seeds(7, 1)[0]))])
    for k, t in enumerate(THETAS):  # ln Z(θ_k) evaluated by the reweighting formula equals the solved ln Z_k
        assert mh.log_partition(t) == pytest.approx(mh.log_z[k], abs=1e-6)
    assert mh.ess(0.25) > 400 and mh.ess(8.0) < 60  # far outside every histogram: few effective draws


def test_block_slices_cover_range():
    sl = block_slices(23, 5)
    assert sum(s.stop - s.start for s in sl) == 23 and sl[0].start == 0 and sl[-1].stop == 23


@pytest.mark.parametrize("thetas,samples", [([0.1, 0.1], [np.zeros(5), np.ones(5)]), ([0.1], []),
                                            ([0.1, 0.2], [np.zeros(5), np.array([1.0])]),
                                            ([0.1], [np.array([np.nan, 1.0])])])
def test_bad_input(thetas, samples):
    with pytest.raises(ValueError):
        multi_histogram(thetas, samples)


def test_jackknife_needs_two_blocks():
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife_blocks([{"u": np.zeros(4)}], lambda r: np.zeros(1), n_blocks=1)
