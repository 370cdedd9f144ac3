"""`physml run diffusion`: a small quick run writes every output and meets its exact checks; bad input → exit 2."""
import json

import numpy as np
import pytest
import xarray as xr
from statcheck import threshold

from physml.analyses import diffusion
from physml.cli import main

SMALL = {"particles": "300", "repeats": "2", "max_steps": "20", "fp_cells": "100", "likelihood_points": "20",
         "likelihood_steps": "40", "features": "12", "train_points": "200", "posterior_draws": "3",
         "learned_particles": "200", "learned_steps": "20", "sweep_features": "5,12", "sweep_points": "100,200",
         "bound_points": "20", "bound_times": "20"}


def test_quick_run_writes_outputs_and_meets_exact_checks(tmp_path):
    s = diffusion.run(tmp_path, settings=SMALL, methods=None, quick=True, seed=0, data=None, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "diffusion"
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and all(f"- {w}" in report for w in s["warnings"])
    for f in ("forward_densities.png", "fp_convergence_kl.png", "generated.png", "distances.png", "likelihood.png",
              "learned_samples.png", "learned_score_error.png"):
        assert (tmp_path / "figures" / f).exists()
    tree = xr.open_datatree(tmp_path / "diffusion.nc")
    assert tree["generation"]["distance"].shape == (2, 2, 2, 2) and "fp_mass" in tree["forward"]
    assert tree["learned_score"]["bound"].shape == (5,) and tree["learned_score"]["distance"].shape == (5, 2)
    fw = s["forward"]
    assert all(1.8 < o < 2.2 for t, o in zip(fw["times"], fw["fp_order"]) if t > 0)
    assert s["likelihood"]["mean_abs_error"] < diffusion.LIKELIHOOD_TARGET
    assert 1.5 < s["generation"]["methods"]["probability_flow"]["pathwise_order"] < 2.5  # Heun: second order
    assert not [w for w in s["warnings"] if "likelihood" in w or "Fokker" in w]
    learned = s["learned_score"]
    assert 0 < learned["posterior"]["weights"] <= 2 * 14 and learned["posterior"]["methods"] == {}  # quick: no fits
    assert [r["kind"] for r in learned["bound"]["records"]] == ["upper_bound"] * 4 + ["estimate"]
    ode = learned["bound"]["records"][-1]  # the learned score's ODE model: −ln p ≥ the data's (KL ≥ 0), within error
    assert ode["estimator"].startswith("probability-flow ODE") and ode["z"] > -threshold(1)
    assert len(learned["generation"]["rows"]) == 2 + 3 and len(learned["sweep"]["rows"]) == 3
    assert "diffusion bound (denoising), exact score" in report and "Quality vs number of features" in report


def test_csv_data_run_in_1d(tmp_path):
    pts = np.concatenate([np.linspace(-2, -1, 10), np.linspace(1, 2.5, 15)])
    path = tmp_path / "pts.csv"
    path.write_text("x\n" + "\n".join(f"{v}" for v in pts) + "\n")
    s = diffusion.run(tmp_path / "out", settings=SMALL, methods=["probability_flow"], quick=True, seed=1,
                      data=str(path), progress=False)
    assert s["data"]["dim"] == 1 and s["data"]["components"] == 25 and list(s["generation"]["methods"]) == [
        "probability_flow"]
    assert s["forward"]["kl_to_prior"][0]["kind"] == "quadrature"


@pytest.mark.parametrize("settings,content,message", [
    (["beta_min=-1"], None, "beta_min"), (["beta_max=0"], None, "beta_max"), (["times=0,1.5"], None, "times"),
    (["dataset=moons"], None, "dataset"), (["max_steps=5"], None, "max_steps"),
    (["features=-1"], None, "features"), (["train_points=1"], None, "train_points"), (["v0=-1"], None, "v0"),
    (["sweep_features=0,5"], None, "sweep_features"), (["sweep_points=a"], None, "sweep_points"),
    ([], "x,y\n1,2\n", "at least 2 points"), ([], "x\n1\nnan\n3\n", "finite"), ([], "x\n1\ninf\n", "finite"),
])
def test_bad_input_exit_2_nothing_created(tmp_path, capsys, settings, content, message):
    args = ["run", "diffusion", "--quick", "--out", str(tmp_path / "out")]
    for kv in settings:
        args += ["--set", kv]
    if content is not None:
        (tmp_path / "d.csv").write_text(content)
        args += ["--data", str(tmp_path / "d.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_speed_section_measures_the_compiled_integrator_against_numpy():
    """The report's speed line (default runs only): rates positive and finite, ratios their quotients."""
    from physml.analyses import diffusion_speed
    from physml.analyses.report import Report
    from physml.inference.diffusion import LinearBetaSchedule
    from physml.models import diffusion as dm

    fp = dm.ForwardProcess(dm.BUILTINS["ring8"](), LinearBetaSchedule(0.1, 20.0))
    speed = diffusion_speed.speed_section(fp, 0, {"particles": 500, "steps": 10, "baseline_steps": 2})
    for dtype in ("float64", "float32"):
        assert np.isfinite(speed[dtype]) and speed[dtype] > 0
        assert speed[f"ratio_{dtype}"] == pytest.approx(speed[dtype] / speed["numpy"])
    report = Report("t", "t")
    diffusion_speed.add_speed_section(report, speed)
    assert "Speed: reverse SDE" in report.markdown()
