"""The command line: a --quick smoke run, and every kind of bad input → one line, exit 2, no files."""

import json
from pathlib import Path

import pytest

from physml.cli import main


def _run(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "regression" in out and "ising" in out and "rbm" in out


def test_quick_regression_run_writes_report(tmp_path, capsys):
    code, err = _run(["run", "regression", "--quick", "--out", str(tmp_path), "--seed", "3",
                      "--methods", "nuts,advi,smc"], capsys)
    assert code == 0, err
    out = tmp_path / "regression"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "regression"
    assert summary["reference"]["free_energy"] > 0
    assert set(summary["fits"]) == {"nuts", "advi", "smc"}
    for method, rec in summary["fits"].items():
        assert set(rec["free_energy"]) == {"value", "se", "kind"}
        assert "beta[x1]" in rec["posterior"] and "sigma" in rec["posterior"]
        assert {"mean", "sd", "mcse_mean"} <= set(rec["posterior"]["sigma"])
        assert (out / f"{method}.nc").is_file()
    assert summary["fits"]["advi"]["free_energy"]["kind"] == "upper_bound"
    assert set(summary["reference"]["posterior"]["beta[x1]"]) == {"mean", "sd"}
    report = (out / "report.md").read_text()
    assert "Free energy" in report and "KL(q‖p)" in report
    # Mean field on this strongly correlated posterior is a poor importance proposal: the report says so.
    assert summary["fits"]["advi"]["diagnostics"]["pareto_k"] > 0.7
    assert "advi cannot be trusted as an importance proposal" in report
    # The ELBO gap is split into the family's error (exact, closed form) and the optimiser's.
    vi = summary["vi_optimum"]
    assert vi["kl_family"] > 0 and vi["advi_converged"]
    gap = vi["optimisation_gap"]
    # Converged ADVI stops within tol_mean sds of the optimal means and tol_log_sd of the log-sds; for a
    # Gaussian family that leaves a KL of at most Σ_j (tol_mean²/2 + tol_log_sd²) on top of MC noise.
    from physml.inference.vi import _DEFAULTS as vi_defaults

    d = len(summary["vi_optimum"]["sd"])
    allowance = d * (vi_defaults["tol_mean"] ** 2 / 2 + vi_defaults["tol_log_sd"] ** 2)
    assert -4 * gap["se"] < gap["value"] < 4 * gap["se"] + allowance
    assert "the family's error vs the optimiser's error" in report
    for fig in ("forest", "densities", "elbo", "free_energy"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def _bad_inputs(tmp_path: Path):
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n1,2,3\n2,1,4\n3,5,1\n")
    nan = tmp_path / "nan.csv"
    nan.write_text("a,y\n1,2\nnan,3\n4,5\n")
    text = tmp_path / "text.csv"
    text.write_text("a,y\n1,2\nfoo,3\n")
    one = tmp_path / "one.csv"
    one.write_text("a,y\n1,2\n")
    unreadable = tmp_path / "dir.csv"
    unreadable.mkdir()
    badjson = tmp_path / "bad.json"
    badjson.write_text("{not json")
    return [
        (["run", "regression", "--data", str(tmp_path / "missing.csv"), "--target", "y"], "not found"),
        (["run", "regression", "--data", str(unreadable), "--target", "y"], "not found"),
        (["run", "regression", "--data", str(good), "--target", "z"], "target column 'z'"),
        (["run", "regression", "--data", str(good)], "target must name"),
        (["run", "regression", "--data", str(nan), "--target", "y"], "finite"),
        (["run", "regression", "--data", str(text), "--target", "y"], "only numbers"),
        (["run", "regression", "--data", str(one), "--target", "y"], "at least 2"),
        (["run", "regression", "--data", str(badjson)], "must be JSON"),
        (["run", "regression", "--set", "draws=-5"], "draws must be"),
        (["run", "regression", "--set", "chains=-1"], "chains must be"),
        (["run", "regression", "--methods", "magic"], "method must be one of"),
        (["run", "nosuchmodel"], "model must be one of"),
        (["run", "regression", "--set", "novalue"], "KEY=VALUE"),
        (["run", "regression", "--set", "n=abc"], "must be of type int"),
        (["run", "regression", "--set", "colour=red"], "unknown setting"),
        (["run", "regression", "--seed", "-1"], "--seed"),
        (["run", "regression", "--set", "prior=flat"], "prior must be one of"),
        (["run", "regression", "--set", "v0=0"], "v0 must be"),
    ]


def test_bad_input_one_line_exit_2_no_files(tmp_path, capsys):
    out = tmp_path / "out"
    for args, message in _bad_inputs(tmp_path):
        code, err = _run([*args, "--out", str(out), "--quiet"], capsys)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, err)
        assert not out.exists() or not any(out.rglob("*")), args


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "regression", "--frobnicate"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
