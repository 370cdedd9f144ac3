"""`physml run criticality`: a small run end to end (NUTS only), bad settings → ValueError, CLI → exit 2."""
import json

import pytest
import xarray as xr

from physml.analyses import criticality
from physml.cli import main

SMALL = {"sizes": "8,16", "draws": "600", "k_points": "5", "nuts_draws": "200", "blocks": "5",
         "grid_points": "21"}


def test_small_run_writes_outputs(tmp_path):
    s = criticality.run(tmp_path, settings=SMALL, methods=["nuts"], quick=True, seed=0, data=None, progress=False)
    assert {"observables", "binder_crossings", "peaks", "free_energy", "fss_posterior"} <= set(s)
    assert len(s["observables"]) == 10 and len(s["binder_crossings"]) == 1
    assert set(s["fss_posterior"]["nuts"]) == {"K_c", "nu", "gamma_over_nu", "beta_over_nu"}
    assert json.loads((tmp_path / "summary.json").read_text())["warnings"] == s["warnings"]
    report = (tmp_path / "report.md").read_text()
    assert "## Binder crossings" in report and "## Bayesian finite-size-scaling posterior" in report
    for f in ("binder.png", "collapse.png", "peaks.png"):
        assert (tmp_path / "figures" / f).exists()
    dt = xr.open_datatree(tmp_path / "fss_nuts.nc")
    assert "K_c" in dt["posterior"].data_vars


@pytest.mark.parametrize("settings", [{"sizes": "16"}, {"sizes": "8,x"}, {"sizes": "8,1000"}, {"K_center": "-1"},
                                      {"x_halfwidth": "0"}, {"blocks": "1"}, {"degree": "0"}, {"k_points": "2"},
                                      {"nope": "1"}])
def test_bad_settings(tmp_path, settings):
    with pytest.raises(ValueError):
        criticality.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)


def test_bad_method(tmp_path):
    with pytest.raises(ValueError, match="method"):
        criticality.run(tmp_path, settings={}, methods=["wolff"], quick=True, seed=0, data=None, progress=False)


@pytest.mark.parametrize("extra", [["--set", "sizes=8"],
                                   ["--set", "K_center=0.3", "--set", "sizes=8,16", "--set", "draws=200",
                                    "--set", "blocks=4"]])
def test_cli_bad_input_exits_2(tmp_path, capsys, extra):
    out = tmp_path / "out"
    rc = main(["run", "criticality", "--quick", "--out", str(out), *extra])
    err = capsys.readouterr().err
    errors = [line for line in err.strip().splitlines() if not line.startswith("[criticality")]  # progress lines
    assert rc == 2 and "Traceback" not in err and len(errors) == 1 and ("sizes" in errors[0] or "cross" in errors[0])
    assert not (out / "criticality").exists()
