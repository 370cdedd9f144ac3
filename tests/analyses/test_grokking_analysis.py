"""`physml run grokking`: a short quick run writes every output (histories.nc round-trips and the summary's
times are the histories'); event times and phase labels on hand-made curves; bad settings raise ValueError
naming the setting; the CLI exits 2 with one line and creates nothing."""
import json
import math

import numpy as np
import pytest
import xarray as xr
from seeding import seed

from physml.analyses import grokking
from physml.cli import main

SHORT = {"steps": "200", "seeds": "2", "temperatures": "0,1e-4", "langevin_seeds": "1", "record_every": "20"}


def test_quick_run_writes_outputs(tmp_path):
    s = grokking.run(tmp_path, settings=SHORT, methods=None, quick=True, seed=seed(0), data=None, progress=False)
    tree = xr.open_datatree(tmp_path / "histories.nc")
    adamw, langevin = tree["adamw"].to_dataset(), tree["langevin"].to_dataset()
    assert adamw.sizes == {"step": 11, "replica": 2 + 4} and langevin.sizes == {"step": 11, "replica": 2}
    assert set(adamw.data_vars) >= {"loss", "train_accuracy", "test_accuracy", "weight_norm", "fourier_frequencies"}
    main_runs = adamw.isel(replica=adamw["group"].values == "grokking")
    times = grokking.transition_times(main_runs)
    for key in ("t1", "t2"):
        stored = [math.nan if v is None else v for v in s["grokking"]["per_seed"][key]]
        assert np.array_equal(stored, times[key], equal_nan=True)
    assert [c["weight_decay"] for c in s["phase_diagram"]] == [0.1, 0.1, 1.0, 1.0]
    assert all(sum(c["counts"].values()) == 1 and c["phase"] in grokking.PHASES for c in s["phase_diagram"])
    assert [r["temperature"] for r in s["langevin"]] == [0.0, 1e-4]
    curvature = s["curvature"]["networks"]  # every main network and one per cell: a Hessian at the end
    assert len(curvature) == 2 + 4 and np.isfinite(adamw["hessian_top"].values).sum() == 6
    assert all(r["hessian_top"] > 0 and math.isfinite(r["hessian_trace"]) for r in curvature)
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert summary["grokking"]["t1"] == s["grokking"]["t1"] and "Phase diagram" in report and "Langevin" in report and "Sharpness" in report
    for name in ("accuracy", "order_parameters", "phase_diagram", "langevin"):
        assert (tmp_path / "figures" / f"{name}.png").exists()


def test_event_times_and_phases():
    steps = np.array([0, 10, 20, 30, 40])
    reached = np.array([[0, 0], [1, 0], [1, 0], [0, 0], [1, 0]], dtype=bool)
    assert np.array_equal(grokking.first_step(steps, reached), [10, np.nan], equal_nan=True)
    x = np.array([[5.0], [5.0], [4.0], [1.0], [1.0]])  # moves 5 → 1 after step 10: half-way (≤ 3) at step 30
    assert grokking.halfway_step(steps, x, np.array([10.0])).tolist() == [30.0]
    up_first = np.array([[5.0], [9.0], [4.0], [2.0], [1.0]])  # a detour up does not count as the move down
    assert grokking.halfway_step(steps, up_first, np.array([0.0])).tolist() == [30.0]
    assert grokking.classify(100, 2000, 3.0) == "grok" and grokking.classify(100, 250, 3.0) == "comprehend"
    assert grokking.classify(100, math.nan, 3.0) == "memorise" and grokking.classify(math.nan, math.nan, 3.0) == "confusion"
    full = np.array([[0.5], [0.99999994], [1.0]])  # what the float32 network returns for 159/159 correct
    ds = xr.Dataset({"train_accuracy": (("step", "replica"), full), "test_accuracy": (("step", "replica"), full * 0),
                     **{k: (("step", "replica"), full) for k in ("weight_norm", "fourier_frequencies")}},
                    coords={"step": [0, 10, 20]})
    assert grokking.transition_times(ds)["t1"].tolist() == [10.0]
    m = grokking.mean_se([1.0, 3.0, math.nan])
    assert m == {"mean": 2.0, "se": 1.0, "n": 2, "of": 3} and grokking.cell(m) == "2.0 ± 1.0 (2/3)"


@pytest.mark.parametrize("settings,match", [
    ({"p": "1"}, "p must be"), ({"p": "200"}, "p must be"), ({"train_fraction": "1"}, "train_fraction"),
    ({"train_fraction": "0"}, "train_fraction"), ({"weight_decay": "-1"}, "weight_decay"),
    ({"temperatures": "0,-1e-3"}, "temperature"), ({"temperatures": "x"}, "temperatures"),
    ({"langevin_weight_decay": "-1"}, "langevin_weight_decay"), ({"lr": "0"}, "lr"),
    ({"grid": "0.1,1"}, "grid"), ({"grid": "0.1,-1;0.5"}, "weight_decay"), ({"grid": "1;1.5"}, "train_fraction"),
    ({"steps": "-5"}, "steps"), ({"colour": "red"}, "unknown setting"),
])
def test_bad_settings(tmp_path, settings, match):
    with pytest.raises(ValueError, match=match):
        grokking.run(tmp_path, settings=settings, methods=None, quick=True, seed=0, data=None, progress=False)


def test_bad_method_and_data(tmp_path):
    with pytest.raises(ValueError, match="method"):
        grokking.run(tmp_path, settings={}, methods=["sgd"], quick=True, seed=0, data=None, progress=False)
    with pytest.raises(ValueError, match="no data file"):
        grokking.run(tmp_path, settings={}, methods=None, quick=True, seed=0, data="x.csv", progress=False)


@pytest.mark.parametrize("setting", ["train_fraction=1.5", "p=1", "weight_decay=-0.5", "temperatures=-1"])
def test_cli_bad_setting_exits_2(tmp_path, capsys, setting):
    code = main(["run", "grokking", "--set", setting, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and setting.split("=")[0].rstrip("s") in err[0]
    assert not (tmp_path / "out" / "grokking").exists()
