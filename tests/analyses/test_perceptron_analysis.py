"""`physml run perceptron`: a small run writes every output (learning curves with the 1/N extrapolation against
the RS curves, the binary hysteresis loop, the RS transition); bad settings raise ValueError naming the setting
before any sampling, and exit 2 with one line through the CLI, creating nothing."""
import json
import math

import numpy as np
import pytest

from physml.analyses import perceptron, perceptron_runs
from physml.cli import main
from physml.models import perceptron as pc

from seeding import seed, seeds
from statcheck import mean_z_ok, sd_z_ok

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
    assert s["annealing"]["nuts"] == s["annealing"]["advi"] == s["annealing"]["parallel_tempering"] == []  # quick
    report = (tmp_path / "report.md").read_text()
    assert "Extrapolation" in report and "hysteresis" in report


@pytest.mark.parametrize("settings,match", [({"alpha": "-1"}, "alpha"), ({"alpha": "0"}, "alpha"),
                                            ({"n": "1"}, "setting n"), ({"sizes": "50"}, "sizes needs"),
                                            ({"alphas": "0,1"}, "alphas needs"), ({"teachers": "1"}, "teachers"),
                                            ({"binary_alphas": "2,1,0.1"}, "binary_alphas"), ({"beta": "-2"}, "beta"),
                                            ({"temperatures": "0"}, "temperatures"), ({"pt_kernel": "hmc"}, "pt_kernel"),
                                            ({"pt_replicas": "2"}, "pt_replicas"), ({"nope": "1"}, "unknown setting")])
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


def test_version_space_volume_against_prior_monte_carlo():
    """−ln V by sequential exact HMC (N = 4, P = 6) against the fraction of 10⁶ prior draws inside the version space;
    z-scores of 6 repeats pass the aggregate bounds (their se from ArviZ MCSEs by the delta method)."""
    rng = np.random.default_rng(seed(60))
    teacher, X, y = pc.teacher_student_data(4, 1.5, rng)
    A = X * y[:, None]
    inside = np.all(rng.standard_normal((1_000_000, 4)) @ A.T > 0, axis=1)
    ref, ref_se = -math.log(inside.mean()), math.sqrt((1 - inside.mean()) / inside.sum())
    est = [perceptron_runs.version_space_free_energy(A, 2.0 * teacher, 3000, np.random.default_rng(s)) for s in seeds(61, 6)]
    z = [(e["value"] - ref) / math.hypot(e["se"], ref_se) for e in est]
    for ok, msg in (mean_z_ok(z), sd_z_ok(z)):
        assert ok, f"{msg}; z = {np.round(z, 2)}"
