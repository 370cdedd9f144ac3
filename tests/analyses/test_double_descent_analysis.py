"""`physml run double_descent`: a small run writes every output (risks.nc round-trips; the min-norm peak is at
γ = 1 and the evidence-tuned curve has none); bad settings raise ValueError naming the setting; the CLI exits 2."""
import json

import pytest
import xarray as xr
from seeding import seed

from physml.analyses import double_descent
from physml.cli import main

SMALL = {"n": "24", "gamma_points": "5", "datasets": "4", "gamma_min": "0.25", "gamma_max": "4", "nuts_gammas": "2",
         "draws": "200"}


def test_small_run_writes_outputs(tmp_path):
    s = double_descent.run(tmp_path, settings=SMALL, methods=["nuts"], quick=True, seed=seed(0), data=None, progress=False)
    assert s["settings"]["sizes"] == [10, 12, 24] and len(s["points"]) == 15
    ds = xr.open_datatree(tmp_path / "risks.nc").to_dataset()
    assert ds["min_norm"].shape == (3, 5, 4) and set(ds.data_vars) >= {"min_norm", "bayes_evidence", "oracle_ridge"}
    main_n = [p for p in s["points"] if p["n"] == 24]
    at_one = next(p for p in main_n if p["p"] == 24)
    assert at_one["heavy_tailed"] and at_one["finite_n_min_norm"] == float("inf")
    assert s["peak"]["min_norm_gamma"] == 1.0  # p = n: the mean risk is infinite, every data set's risk huge
    assert s["peak"]["bayes_evidence_risk"] < 2.0  # ... and the evidence-tuned posterior mean has no peak
    for p in main_n:  # the stored means are the netCDF's
        assert p["min_norm"]["mean"] == pytest.approx(float(ds["min_norm"].sel(n=24).isel(gamma=main_n.index(p)).mean()))
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert summary["warnings"] == s["warnings"] and all(f"- {w}" in report for w in s["warnings"])
    assert any("p = 24" in w and "infinite variance" in w for w in s["warnings"])
    (h,) = s["hierarchical"]  # one NUTS fit at γ = 2: its DataTree round-trips netCDF
    assert h["p"] == 48 and set(h) >= {"nuts", "exact_log_v0_mean", "risk_evidence"} and "advi" not in h
    back = xr.open_datatree(tmp_path / "hierarchical" / "nuts_g2_d0.nc")
    assert back["posterior"]["log_v0"].values.mean() == pytest.approx(h["nuts"]["log_v0_mean"])
    assert (tmp_path / "figures" / "double_descent.png").exists() and (tmp_path / "figures" / "finite_size.png").exists()
    relu = {r["p"]: r for r in s["relu_features"]}  # ReLU features: every other γ and γ = 1, d = n/2
    assert set(relu) == {6, 24, 96} and relu[24]["heavy_tailed"] and relu[24]["theory"] is None
    assert relu[96]["d"] == 12 and len(relu[96]["risks"]) == 4 and relu[96]["z"] is not None
    assert (tmp_path / "figures" / "relu_features.png").exists() and "Random ReLU features" in report


@pytest.mark.parametrize("settings,methods,data,match", [
    ({"gamma_min": "0"}, None, None, "gamma_min"), ({"gamma_max": "0.9"}, None, None, "gamma_max"),
    ({"gamma_max": "1000"}, None, None, "gamma_max"), ({"gamma_min": "nan"}, None, None, "gamma_min"),
    ({"n": "5"}, None, None, "n must be between"), ({"n": "-3"}, None, None, "n must be"),
    ({"datasets": "1"}, None, None, "datasets"), ({"sigma": "0"}, None, None, "sigma"),
    ({"a0": "-1"}, None, None, "a0"), ({"colour": "red"}, None, None, "unknown setting"),
    ({}, ["smc"], None, "method"), ({"nuts_gammas": "0.5,x"}, None, None, "nuts_gammas"),
    ({"nuts_gammas": "0"}, None, None, "nuts_gammas"), ({"relu_delta": "0"}, None, None, "relu_delta"),
    ({"relu_delta": "20"}, None, None, "relu_delta"), ({"relu_datasets": "1"}, None, None, "relu_datasets"), ({"draws": "-1"}, None, None, "draws"), ({}, None, "x.csv", "takes no data file"),
])
def test_bad_settings(tmp_path, settings, methods, data, match):
    with pytest.raises(ValueError, match=match):
        double_descent.run(tmp_path, settings=settings, methods=methods, quick=True, seed=0, data=data, progress=False)


def test_cli_bad_setting_exits_2(tmp_path, capsys):
    code = main(["run", "double_descent", "--set", "gamma_max=0.5", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gamma_max" in err[0]
    assert not (tmp_path / "out" / "double_descent").exists()
