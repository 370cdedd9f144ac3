"""`physml run landscape`: a short quick run writes every output (landscape.nc round-trips, the summary's
minima, correlations, rescaling and paths are consistent); bad settings raise ValueError naming the setting;
the CLI exits 2 with one line and creates nothing."""
import json
import math

import numpy as np
import pytest
import xarray as xr
from seeding import seed

from physml.analyses import landscape
from physml.cli import main

SHORT = {"hidden": "8", "n_train": "16", "n_test": "200", "ti_draws": "80", "permutations": "199",
         "bezier_points": "12"}


def test_quick_run_writes_outputs(tmp_path):
    s = quick(tmp_path, SHORT, s=seed(0))
    tree = xr.open_datatree(tmp_path / "landscape.nc")
    minima, paths = tree["minima"].to_dataset(), tree["paths"].to_dataset()
    d = 8 * (4 + 2) + 1
    assert minima.sizes["minimum"] == 4 and minima.sizes["rank"] == d and paths.sizes["regime"] == 2
    rows = s["minima"]
    assert [r["regime"] for r in rows] == ["no weight decay"] * 2 + ["weight decay"] * 2
    assert np.allclose(minima["eigenvalue"].values[:, 0], [r["hessian_top"] for r in rows])
    assert all(math.isfinite(r["F_laplace"]) and math.isfinite(r["F_ti"]) and r["F_ti_se"] > 0 for r in rows)
    assert all(r["hessian_top"] >= r["hessian_min"] for r in rows)
    corr = s["correlations"]["hessian_top"]["all"]
    assert corr["n"] == 4 and -1 <= corr["rho"] <= 1 and 0 < corr["p"] <= 1
    r = s["rescaling"]
    assert r["max_prediction_change"] < 1e-8 and r["original"]["test_error"] == pytest.approx(r["rescaled"]["test_error"])
    assert r["original"]["hessian_top"] != pytest.approx(r["rescaled"]["hessian_top"], rel=0.05)
    assert r["original"]["normalised_top"] == pytest.approx(r["rescaled"]["normalised_top"], rel=1e-8)
    for regime, mc in s["mode_connectivity"].items():
        assert mc["bezier_barrier"] <= mc["line_barrier"] + 0.1  # the curve minimises the mean, not the max
        assert paths["bezier"].sel(regime=regime).values[0] == pytest.approx(mc["end_losses"][0])
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert summary["minima"][0]["test_error"] == rows[0]["test_error"]
    assert "Spearman" in report and "Dinh" in report and "Bézier" in report
    for name in ("spectra", "local_free_energy", "flatness_vs_test_error", "mode_connectivity"):
        assert (tmp_path / "figures" / f"{name}.png").exists()


@pytest.mark.parametrize("settings,match", [
    ({"sigma": "0"}, "sigma"), ({"gamma": "-1"}, "gamma"), ({"gamma_max": "10"}, "gamma_max"),
    ({"weight_decay": "0"}, "weight_decay"), ({"hidden": "200"}, "hidden"), ({"dim": "0"}, "dim"),
    ({"seeds": "1"}, "seeds"), ({"ti_rungs": "6"}, "ti_rungs"), ({"alpha": "0"}, "alpha"),
    ({"colour": "red"}, "unknown setting"),
])
def test_bad_settings(tmp_path, settings, match):
    with pytest.raises(ValueError, match=match):
        quick(tmp_path, settings)


@pytest.mark.parametrize("methods,data,match", [(["ais"], None, "method"), (None, "x.csv", "no data file")])
def test_bad_method_and_data(tmp_path, methods, data, match):
    with pytest.raises(ValueError, match=match):
        quick(tmp_path, {}, methods=methods, data=data)


def quick(tmp_path, settings, methods=None, data=None, s=0):
    return landscape.run(tmp_path, settings=settings, methods=methods, quick=True, seed=s, data=data, progress=False)


@pytest.mark.parametrize("key,value", [("sigma", "-1"), ("gamma", "0"), ("hidden", "500")])
def test_cli_bad_setting_exits_2(tmp_path, capsys, key, value):
    out = tmp_path / "out"
    assert main(["run", "landscape", "--set", f"{key}={value}", "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and not (out / "landscape").exists()
