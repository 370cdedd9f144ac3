"""`physml run hopfield`: a small run writes every output with m(α) against AGS, the capacity and its extrapolation;
bad settings raise ValueError naming the setting (before any dynamics) and exit 2 with one line through the CLI."""
import json
import math

import pytest

from physml.analyses import hopfield
from physml.cli import main

from seeding import seed

SMALL = {"sizes": "100,200", "sets": "3", "retrievals": "2", "alpha_step": "0.02", "bootstrap": "50"}


def test_small_run_writes_outputs(tmp_path):
    s = hopfield.run(tmp_path, settings=SMALL, methods=None, quick=True, seed=seed(0), data=None, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "hopfield"
    for fig in ("retrieval_overlap.png", "capacity_and_basins.png"):
        assert (tmp_path / "figures" / fig).exists()
    assert {r["n"] for r in s["retrieval"]} == {100, 200}
    assert all(0.0 <= r["m"] <= 1.0 and r["se"] >= 0 for r in s["retrieval"])
    small_alpha = [r for r in s["retrieval"] if r["alpha"] <= 0.06]
    assert all(r["m"] > 0.95 for r in small_alpha)  # far below α_c every pattern is a fixed point's neighbour
    cap = s["capacity"]
    assert len(cap["alpha_c_n"]) == 2 and math.isfinite(cap["alpha_c_extrapolated"]) or s["warnings"]
    assert abs(s["ags"]["alpha_c"] - 0.138) < 1e-3
    assert {r["alpha"] for r in s["basins"]} == set(hopfield.BASIN_ALPHAS)
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and "AGS" in report and "3-mixtures" in report


@pytest.mark.parametrize("settings,match", [({"sizes": "100"}, "sizes needs"), ({"sizes": "a,b"}, "sizes must"),
                                            ({"sizes": "10,100"}, "sizes needs"), ({"sets": "-1"}, "sets must"),
                                            ({"alpha_max": "0.9"}, "alpha_max"), ({"threshold": "0.3"}, "threshold"),
                                            ({"retrievals": "50"}, "retrievals must"), ({"nope": "1"}, "unknown setting"),
                                            ({"alpha_step": "0"}, "alpha_step")])
def test_bad_settings(tmp_path, settings, match, monkeypatch):
    monkeypatch.setattr(hopfield, "descend_many", lambda *a, **k: pytest.fail("reached the dynamics"))
    with pytest.raises(ValueError, match=match):
        hopfield.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)


def test_cli_bad_setting_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(hopfield, "descend_many", lambda *a, **k: pytest.fail("reached the dynamics"))
    code = main(["run", "hopfield", "--set", "sizes=10", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "sizes" in err[0]
    assert not (tmp_path / "out").exists()
