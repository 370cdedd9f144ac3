"""`physml run spin_glass`: the quick run writes every output with PT against enumeration; bad settings raise
ValueError naming the setting (before any fit) and exit 2 with one line through the CLI."""
import json

import pytest

from physml.analyses import spin_glass
from physml.cli import main

from seeding import seed


def test_quick_run_writes_outputs(tmp_path):
    s = spin_glass.run(tmp_path, settings={"n": "8", "draws": "300", "n_replicas": "6", "instances": "4"}, methods=None, quick=True, seed=seed(0),
                       data=None, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "spin_glass"
    assert (tmp_path / "parallel_tempering.nc").exists() and (tmp_path / "report.md").exists()
    for fig in ("overlap_distribution.png", "annealed_convergence.png"):
        assert (tmp_path / "figures" / fig).exists()
    v = s["versus_enumeration"]
    assert {r["estimator"] for r in v["free_energy"]} == {"pt_stepping_stone", "pt_bar"}
    assert all(r["se"] > 0 and r["error"] is not None for r in v["free_energy"])
    assert len(s["overlaps"]) == 4 and all(abs(sum(o["p_q_exact"]) - 1) < 1e-9 for o in s["overlaps"])
    assert {a["n"] for a in s["annealed"]} == {4, 6, 8, 10}
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and "−1/(2π)" in report


@pytest.mark.parametrize("settings,match", [({"n": "1"}, "n must be"), ({"n": "21"}, "n must be"),
                                            ({"T": "0"}, "T must be"), ({"chains": "1"}, "chains"),
                                            ({"n_replicas": "1"}, "n_replicas"), ({"nope": "1"}, "unknown setting"),
                                            ({"n_max_annealed": "30"}, "n_max_annealed")])
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
