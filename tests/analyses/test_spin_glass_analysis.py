"""`physml run spin_glass`: the quick run writes every output with PT against enumeration; bad settings raise
ValueError naming the setting (before any fit) and exit 2 with one line through the CLI."""
import json

import pytest

from physml.analyses import spin_glass, spin_glass_tap
from physml.cli import main

from seeding import seed


def test_quick_run_writes_outputs(tmp_path):
    s = spin_glass.run(tmp_path, settings={"n": "8", "draws": "300", "n_replicas": "6", "instances": "4",
                                           "e0_samples": "4", "order_samples": "4", "tap_n": "8"},
                       methods=None, quick=True, seed=seed(0), data=None, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "spin_glass"
    assert (tmp_path / "parallel_tempering.nc").exists() and (tmp_path / "report.md").exists()
    for fig in ("overlap_distribution.png", "annealed_convergence.png", "ground_state_extrapolation.png",
                "binder_and_order_parameter.png", "mean_field_vs_tap.png"):
        assert (tmp_path / "figures" / fig).exists()
    v = s["versus_enumeration"]
    assert {"pt_stepping_stone", "pt_bar"} <= {r["estimator"] for r in v["free_energy"]}
    assert all(r["se"] > 0 and r["error"] is not None for r in v["free_energy"])
    assert len(s["overlaps"]) == 4 and all(abs(sum(o["p_q_exact"]) - 1) < 1e-9 for o in s["overlaps"])
    assert {a["n"] for a in s["annealed"]} == {4, 6, 8, 10}
    gs = s["ground_state"]
    assert [r["n"] for r in gs["rows"]] == [16, 24, 32, 48] and all(r["samples"] == 4 for r in gs["rows"])
    assert -1.2 < gs["fits"]["linear"]["e0"] < -0.4 and gs["fits"]["linear"]["se"] > 0  # 4 samples: sanity only
    assert 0.0 <= gs["agreement"] <= 1.0
    order = s["order"]
    assert [r["n"] for r in order["rows"]] == [8, 16] and len(order["crossings"]) == 1
    assert all(0 < q2 <= 1 for r in order["rows"] for q2 in r["q2"])
    tap = s["tap"]
    assert tap["n"] == 8 and len(tap["rows"]) == len(spin_glass_tap.TAP_TEMPERATURES)
    assert all(r["mcmc_max_abs_z"] >= 0 and r["mean_mcse"] > 0 for r in tap["rows"])
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and "−1/(2π)" in report
    for heading in ("Ground-state energy e₀", "Binder ratio", "Mean field vs TAP vs MCMC"):
        assert heading in report


@pytest.mark.parametrize("settings,match", [({"n": "1"}, "n must be"), ({"n": "21"}, "n must be"),
                                            ({"T": "0"}, "T must be"), ({"chains": "1"}, "chains"),
                                            ({"n_replicas": "1"}, "n_replicas"), ({"nope": "1"}, "unknown setting"),
                                            ({"n_max_annealed": "30"}, "n_max_annealed"),
                                            ({"tap_n": "30"}, "tap_n"), ({"tap_n": "3"}, "tap_n"),
                                            ({"e0_samples": "1"}, "e0_samples"), ({"order_samples": "-2"}, "order_samples"),
                                            ({"tap_h": "nan"}, "tap_h")])
def test_bad_settings(tmp_path, settings, match, monkeypatch):
    monkeypatch.setattr(spin_glass, "fit", lambda *a, **k: pytest.fail("reached fit"))
    with pytest.raises(ValueError, match=match):
        spin_glass.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)


def test_cli_bad_setting_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(spin_glass, "fit", lambda *a, **k: pytest.fail("reached fit"))
    code = main(["run", "spin_glass", "--set", "n=1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "n must be" in err[0]
    assert not (tmp_path / "out").exists()
