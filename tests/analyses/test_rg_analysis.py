"""`physml run rg`: a small run end to end (NUTS only), bad settings → ValueError naming the setting, CLI → exit 2."""
import json
import math
import subprocess
import sys

import pytest
import xarray as xr
from seeding import seed

from physml.analyses import rg

SMALL = {"b": "2", "L": "16", "k_points": "3", "draws": "60", "nuts_draws": "200", "jackknife_blocks": "6",
         "min_blocked": "4", "deep_L": "8", "deep_K": "0.44", "deep_samples": "60", "deep_epochs": "2",
         "deep_seeds": "2"}


def test_small_run_writes_outputs(tmp_path):
    s = rg.run(tmp_path, settings=SMALL, methods=["nuts"], quick=True, seed=seed(0), data=None, progress=False)
    assert {"couplings", "fixed_point", "nn_crossing_three_couplings", "unblocked_check", "scale_invariance",
            "deep_network"} <= set(s)
    assert list(s["deep_network"]["by_coupling"]) == ["0.44"]
    assert len(s["couplings"]) == 3 * 3  # 3 K × levels 0 (16²), 1 (8²), 2 (4²)
    fp = s["fixed_point"][0]
    assert fp["b"] == 2 and fp["L"] == 16
    for key in ("K_star", "y_t", "nu", "lambda"):
        assert math.isfinite(fp[key]["mean"]) and math.isfinite(fp[key]["sd"]) and fp[key]["sd"] > 0, (key, fp)
    assert json.loads((tmp_path / "summary.json").read_text())["warnings"] == s["warnings"]
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Check: the estimator on un-blocked samples", "## RG flow K → K′", "## Fixed point K*",
                    "## Repeated blocking", "## Scale invariance", "## Deep network ↔ RG"):
        assert heading in report
    for f in ("layers.png", "flow.png", "couplings_by_level.png", "scale_invariance.png"):
        assert (tmp_path / "figures" / f).exists()
    post = xr.open_datatree(tmp_path / "pseudo_likelihood_nuts.nc")["posterior"]
    assert {"K_nn_1", "K_nn_3", "K_nnn_3", "K_plaquette_3"} <= set(post.data_vars)


@pytest.mark.parametrize("settings, name", [
    ({"b": "1"}, "b"), ({"b": "x"}, "b"), ({"b": "5", "L": "16"}, "b = 5"), ({"L": "15", "b": "2"}, "b = 2"),
    ({"L": "4", "b": "2"}, "L"), ({"b": "2,3", "L": "16,27,64"}, "b and L"), ({"K_center": "-0.1"}, "K_center"),
    ({"K_center": "0"}, "K_center"), ({"K_halfwidth": "0.5"}, "K_halfwidth"), ({"k_points": "4"}, "k_points"),
    ({"k_points": "1"}, "k_points"), ({"sweeps": "0"}, "sweeps"), ({"jackknife_blocks": "1000"}, "jackknife_blocks"),
    ({"min_blocked": "2"}, "min_blocked"), ({"nope": "1"}, "nope"), ({"deep_L": "3"}, "deep_L"),
    ({"deep_seeds": "1"}, "deep_seeds")])
def test_bad_settings(tmp_path, settings, name):
    with pytest.raises(ValueError, match=name):
        rg.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)
    assert not any(tmp_path.iterdir())


def test_bad_method(tmp_path):
    with pytest.raises(ValueError, match="method"):
        rg.run(tmp_path, settings={}, methods=["wolff"], quick=True, seed=0, data=None, progress=False)


def test_methods_declared():
    assert rg.METHODS == rg.ALL_METHODS == ("nuts", "advi")


def test_cli_b_not_dividing_l_exits_2(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "physml", "run", "rg", "--quick", "--out", str(out), "--set", "b=5"],
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.strip().splitlines() if not line.startswith("[rg")]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(errors) == 1, done.stderr
    assert "b = 5" in errors[0] and "L = 32" in errors[0]
    assert not (out / "rg").exists()
