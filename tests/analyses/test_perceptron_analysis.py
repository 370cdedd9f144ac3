"""`physml run perceptron`: a small run writes every output (learning curves with the 1/N extrapolation against
the RS curves, the binary hysteresis loop, the RS transition); bad settings raise ValueError naming the setting
before any sampling, and exit 2 with one line through the CLI, creating nothing."""
import json
import math

import pytest

from physml.analyses import perceptron, perceptron_runs
from physml.cli import main

from seeding import seed

SMALL = {"sizes": "20,40", "alphas": "1,2", "teachers": "3", "draws": "8", "burn": "2", "binary_sizes": "12,16",
         "binary_sets": "2", "sweeps": "5", "binary_alphas": "0.5,2,0.5"}


def test_small_run_writes_outputs(tmp_path):
    s = perceptron.run(tmp_path, settings=SMALL, methods=None, quick=True, seed=seed(0), data=None, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "perceptron"
    for fig in ("learning_curves.png", "binary_hysteresis.png"):
        assert (tmp_path / "figures" / fig).exists()
    assert {(r["n"], r["alpha"]) for r in s["learning_curve"]} == {(20, 1.0), (20, 2.0), (40, 1.0), (40, 2.0)}
    for r in s["learning_curve"]:
        assert 0 < r["bayes"] < 0.5 and 0 < r["gibbs"] < 0.5 and r["gibbs_se"] > 0
    assert all(math.isfinite(r["gibbs_z"]) and math.isfinite(r["bayes_z"]) for r in s["extrapolated"])
    assert abs(s["binary_theory"]["alpha_c"] - 1.245) < 1e-3
    down = {b["n"]: b["down"] for b in s["binary"]}
    assert all(d[-1] == 1.0 for d in down.values())  # from the teacher at the largest α nothing flips at β = 5
    assert s["annealing"]["nuts"] == [] and s["annealing"]["advi"] == []  # quick: no NUTS / ADVI
    report = (tmp_path / "report.md").read_text()
    assert "Extrapolation" in report and "hysteresis" in report


@pytest.mark.parametrize("settings,match", [({"alpha": "-1"}, "alpha"), ({"alpha": "0"}, "alpha"),
                                            ({"n": "1"}, "setting n"), ({"sizes": "50"}, "sizes needs"),
                                            ({"alphas": "0,1"}, "alphas needs"), ({"teachers": "1"}, "teachers"),
                                            ({"binary_alphas": "2,1,0.1"}, "binary_alphas"), ({"beta": "-2"}, "beta"),
                                            ({"temperatures": "0"}, "temperatures"), ({"nope": "1"}, "unknown setting")])
def test_bad_settings(tmp_path, settings, match, monkeypatch):
    monkeypatch.setattr(perceptron_runs, "sample_cone_gaussian", lambda *a, **k: pytest.fail("reached sampling"))
    with pytest.raises(ValueError, match=match):
        perceptron.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)


def test_cli_bad_setting_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(perceptron_runs, "sample_cone_gaussian", lambda *a, **k: pytest.fail("reached sampling"))
    code = main(["run", "perceptron", "--set", "alpha=-1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "alpha" in err[0]
    assert not (tmp_path / "out").exists()
