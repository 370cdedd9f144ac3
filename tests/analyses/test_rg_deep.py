"""Deep network ↔ RG section (analyses/rg_deep.py): the quick section end to end, the locality measure on
synthetic local / non-local fields, the top-layer-vs-block-spin comparison on a net that *is* a block-spin map,
the L1 penalty, the greedy stack, bad settings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from seeding import seed

from physml.analyses import rg_deep
from physml.analyses import rg_deep_measures as measures
from physml.analyses.common import clean_for_json
from physml.analyses.report import Report
from physml.inference.rbm import deep_belief as dbn
from physml.inference.rbm.contrastive_divergence import TrainingSettings, init_params, train
from physml.inference.spins.block_spin import majority_rule


def _numbers(obj, path=""):
    """(path, value) of every numeric leaf."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}/{i}")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, float(obj)


def test_quick_section_end_to_end(tmp_path):
    report = Report("deep RG test")
    out = rg_deep.add_deep_rg_section(report, tmp_path, settings={"other_analysis_key": 1}, quick=True,
                                      seed=seed(0))
    for rel in out["figures"]:
        assert (tmp_path / rel).is_file() and (tmp_path / rel).stat().st_size > 1000
    json.dumps(clean_for_json(out), allow_nan=False)
    assert set(out["by_coupling"]) == {"0.4", "0.44"} and len(out["figures"]) == 6
    for key, result in out["by_coupling"].items():
        unmeasured = {k for k, v in result["top_vs_blocks"].items()
                      if isinstance(v, dict) and v.get("agrees", 0) is None}
        for path, value in _numbers(result):  # nan only where the report says "not measurable"
            if not any(f"/top_vs_blocks/{k}/" in path for k in unmeasured):
                assert math.isfinite(value), (key, path)
        assert [x["units"] for x in result["layers"]] == [64, 16]
        for x in result["layers"]:
            assert 0 <= x["mass_within_b"]["mean"] <= 1 and x["mass_within_b"]["se"] > 0
    text = report.markdown()
    assert "Deep network ↔ RG" in text and "1410.3831" in text and "1704.06279" in text
    assert all(rel in text for rel in out["figures"])


def _blob_fields(L: int, side: int, width: float) -> np.ndarray:
    """One Gaussian blob per block centre of a side×side grid (periodic): a perfectly local layer."""
    rows, cols = np.divmod(np.arange(L * L), L)
    centres = (np.arange(side) + 0.5) * (L / side)
    fields = []
    for cr in centres:
        for cc in centres:
            dr = np.minimum(np.abs(rows - cr), L - np.abs(rows - cr))
            dc = np.minimum(np.abs(cols - cc), L - np.abs(cols - cc))
            fields.append(np.exp(-(dr ** 2 + dc ** 2) / (2 * width ** 2)))
    return np.array(fields).T


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_locality_measure_separates_local_from_nonlocal_fields(offset):
    L, side = 16, 8
    rng = np.random.default_rng(seed(10 + offset))
    local = _blob_fields(L, side, 1.0) + 0.002 * rng.standard_normal((L * L, side * side))
    nonlocal_ = rng.standard_normal((L * L, side * side))
    b = L / side
    excess = {}
    for name, field in (("local", local), ("nonlocal", nonlocal_)):
        learned = measures.locality_profile(field, [b])[0]
        shuffled = measures.locality_profile(measures.shuffled_fields(field, rng), [b])[0]
        excess[name] = learned - shuffled
    # a blob of width 1 keeps ~86 % of its mass within r = 2 (the noise dilutes it by ~6 %); a shuffled field
    # holds ≈ π r² / L² ≈ 0.05–0.07
    assert excess["local"] > 0.5
    # i.i.d. weights: learned and shuffled fields have the same law; 64 units average the difference to ≈ 0
    assert abs(excess["nonlocal"]) < 0.05
    assert measures.half_mass_radius(local) < 1.5 < 5 < measures.half_mass_radius(nonlocal_)


def test_field_centres_are_periodic():
    L = 12
    field = _blob_fields(L, 1, 1.0)  # one blob at (6, 6)
    shifted = np.roll(field.reshape(L, L), (-6, -6), axis=(0, 1)).reshape(-1, 1)  # blob across the corner
    centre = measures.field_centres(shifted)[0]
    assert np.all(np.minimum(centre, L - centre) < 1e-6)
    assert measures.locality_profile(shifted, [2.0])[0] == pytest.approx(measures.locality_profile(field, [2.0])[0])


@pytest.mark.parametrize("flip", [False, True])
def test_a_block_spin_top_layer_matches_block_spins_exactly(flip):
    """A 'net' whose top units are the majority-rule block spins (b = 3, no ties) must agree exactly."""
    L, b = 12, 3
    rng = np.random.default_rng(seed(20))
    spins = rg_deep.ising_configurations(L, 0.44, 200, seed(21), thin=1)
    blocks = majority_rule(spins, b, rng).reshape(len(spins), -1)
    codes = (blocks + 1) / 2
    if flip:  # units coding "down" are re-oriented by their correlation with m
        codes = 1 - codes
    side = L // b
    rows, cols = np.divmod(np.arange(L * L), L)
    field = np.array([(rows // b == r) & (cols // b == c) for r in range(side) for c in range(side)], float).T
    out = measures.top_versus_blocks(spins, codes, field, rng)
    assert out["b"] == b and out["coverage_top"] == 1.0
    for name in ("abs_m", "m2", "nn_corr"):
        assert out[f"{name}_top"] == pytest.approx(out[f"{name}_block"], abs=1e-12)
    assert out["w1_abs_m"] == pytest.approx(0.0, abs=1e-12)


def test_l1_penalty_shrinks_and_sparsifies_weights():
    data = (np.random.default_rng(seed(30)).random((200, 16)) < 0.3).astype(float)
    mean_abs, small = {}, {}
    for l1 in (0.0, 0.05):
        settings = TrainingSettings(method="cd", n_epochs=30, learning_rate=0.1, batch_size=20, l1_decay=l1)
        W = train(data, init_params(16, 8, seed=seed(31), data=data), settings, seed=seed(32), monitor=False).params.W
        mean_abs[l1], small[l1] = np.abs(W).mean(), np.mean(np.abs(W) < 0.01)
    assert mean_abs[0.05] < 0.5 * mean_abs[0.0] and small[0.05] > small[0.0]
    with pytest.raises(ValueError, match="l1_decay"):
        TrainingSettings(l1_decay=-1.0)


def test_deep_belief_stack_shapes_and_fields():
    data = (np.random.default_rng(seed(40)).random((60, 16)) < 0.5).astype(float)
    settings = TrainingSettings(method="cd", n_epochs=2, learning_rate=0.05, batch_size=20)
    stack = dbn.train_deep_belief_net(data, [16, 8, 4], settings, seed=seed(41))
    fields = dbn.receptive_fields(stack)
    assert [f.shape for f in fields] == [(16, 8), (16, 4)]
    np.testing.assert_allclose(fields[1], stack[0].W @ stack[1].W)
    rng = np.random.default_rng(seed(42))
    codes = dbn.up_pass(data, stack, rng)
    assert [c.shape for c in codes] == [(60, 8), (60, 4)] and set(np.unique(codes[-1])) <= {0.0, 1.0}
    assert dbn.down_pass(codes[-1], stack, rng).shape == (60, 16)
    with pytest.raises(ValueError, match="decreasing"):
        dbn.train_deep_belief_net(data, [16, 16, 4], settings, seed=0)


@pytest.mark.parametrize("bad, name", [
    ({"deep_L": 3}, "deep_L"), ({"deep_K": "0.0"}, "deep_K"), ({"deep_K": "0.4,-0.3"}, "deep_K"),
    ({"deep_K": "a"}, "deep_K"), ({"deep_K": "0.1,0.2,0.3,0.4,0.5"}, "deep_K"),
    ({"deep_layers": "256,64,64"}, "deep_layers"), ({"deep_layers": "256,100,20"}, "deep_layers"),
    ({"deep_layers": "100,25"}, "deep_layers"), ({"deep_layers": "256,x"}, "deep_layers"),
    ({"deep_L": 5}, "deep_layers"),
    ({"deep_seeds": 1}, "deep_seeds"), ({"deep_epochs": -2}, "deep_epochs"), ({"deep_l1": -1.0}, "deep_l1"),
    ({"deep_learning_rate": 0.0}, "deep_learning_rate"), ({"deep_nonsense": 1}, "deep_nonsense"),
])
def test_bad_settings_raise_value_error_naming_the_setting(bad, name, tmp_path):
    with pytest.raises(ValueError, match=name):
        rg_deep.add_deep_rg_section(Report("t"), tmp_path, settings=bad, quick=True, seed=0)
    assert not any(tmp_path.iterdir())


def test_default_layers_halve_the_lattice():
    assert rg_deep.parse_layers("", 16) == [256, 64, 16]
    assert rg_deep.parse_layers("", 6) == [36, 9]
    assert rg_deep.parse_layers("400,100,25", 20) == [400, 100, 25]
