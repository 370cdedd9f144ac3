"""``physml run FILE.py:FUNCTION`` (your own PyMC model), ``physml list MODEL`` and ``physml --version``.

Bad input runs with the fitting entry points replaced by a guard, so a case that slips past validation
fails at once instead of fitting; each must print one line on stderr, exit 2 and create nothing.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from paths import TEST_DATA
from physml.cli import main
from seeding import seed

NORMAL_MEAN = str(TEST_DATA / "normal_mean_model.py")
SCHOOLS = str(TEST_DATA / "eight_schools_model.py")


def test_run_user_model_end_to_end(tmp_path, capsys):
    code = main(["run", f"{NORMAL_MEAN}:make_model", "--quick", "--out", str(tmp_path), "--seed", str(seed(4))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = tmp_path / "normal_mean_model"
    assert f"report: {out / 'report.md'}" in captured.out and "−ln p(y) = " in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "normal_mean_model" and summary["settings"]["quick"]
    assert set(summary["fits"]) == {"nuts", "advi", "fullrank_advi", "smc"}
    assert {r["estimator"] for r in summary["comparison"]["free_energy"]} >= {"bridge", "ti", "ais", "smc", "neg_elbo"}
    assert summary["comparison"]["free_energy_consensus"]["value"] is not None
    assert summary["reference"]["posterior"]["mu"]["sd"] > 0  # the NUTS long run
    report = (out / "report.md").read_text()
    assert "## Warnings" in report and "in consensus" in report and "Posterior against the reference" in report
    for name in ("nuts", "advi", "fullrank_advi", "smc"):
        assert (out / f"{name}.nc").is_file()
    assert (out / "figures" / "forest.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail at once if a case reaches a fit (validation must come first)."""
    import physml.analyses.bayes_report as bayes_report
    import physml.analyses.user_model as user_model

    def reached(*args, **kwargs):
        raise AssertionError("bad input reached fit(): it must be rejected before any fitting")

    for module in (bayes_report, user_model):
        monkeypatch.setattr(module, "fit", reached)


def _broken_file(tmp_path: Path) -> str:
    (tmp_path / "broken.py").write_text("import pymc as pm\ndef make_model(:\n")
    return str(tmp_path / "broken.py")


CASES = {
    "file missing": (lambda t: [str(t / "missing.py") + ":make_model"], "file not found"),
    "file does not import": (lambda t: [_broken_file(t)], "importing it raised SyntaxError"),
    "no such function": (lambda t: [f"{SCHOOLS}:make_nothing"], "does not define a function make_nothing()"),
    "function raises": (lambda t: [f"{SCHOOLS}:make_broken"], "make_broken() raised RuntimeError: the data file"),
    "not a pm.Model": (lambda t: [f"{SCHOOLS}:make_number"], "must return a pymc.Model, got int"),
    "no observed data": (lambda t: [f"{SCHOOLS}:make_prior_only"], "has no observed data"),
    "not a function name": (lambda t: [f"{SCHOOLS}:make-model"], "FUNCTION a Python name"),
    "unknown method": (lambda t: [SCHOOLS, "--methods", "magic"], "method must be one of"),
    "spin sampler": (lambda t: [SCHOOLS, "--methods", "wolff"], "cannot fit this model"),
    "--set": (lambda t: [SCHOOLS, "--set", "draws=5"], "--set applies to the built-in models"),
    "--data": (lambda t: [SCHOOLS, "--data", SCHOOLS], "--data applies to the built-in models"),
    "bad seed": (lambda t: [SCHOOLS, "--seed", "-3"], "--seed must be an integer"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_user_model_one_line_exit_2_nothing_created(case, tmp_path, capsys, no_fitting):
    build, message = CASES[case]
    args = ["run", *build(tmp_path), "--out", str(tmp_path / "out")]
    before = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "__pycache__" not in p.parts}
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("physml: error: ") and message in lines[0], err
    assert {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "__pycache__" not in p.parts} == before


def test_unknown_method_lists_the_methods_of_that_model(tmp_path, capsys, no_fitting):
    assert main(["run", "regression", "--methods", "foo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nuts" in err and "smc" in err and "checkerboard" not in err and "wolff" not in err


def test_list_one_model_shows_settings_defaults_allowed_values_and_methods(capsys):
    assert main(["list", "regression"]) == 0
    out = capsys.readouterr().out
    assert "nuts, metropolis, advi, fullrank_advi, smc" in out
    assert "prior" in out and "one of: conjugate, independent" in out and "'conjugate'" in out
    assert "fe_tol" in out and "rho" in out and "0.95" in out
    assert main(["list", "ising"]) == 0
    assert "one of: periodic" in capsys.readouterr().out


def test_every_model_can_be_listed(capsys):
    from physml.analyses import ANALYSES

    for name in ANALYSES:
        assert main(["list", name]) == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"{name}: ") and "settings (--set KEY=VALUE):" in out and "methods" in out


def test_list_unknown_model_exits_2(capsys):
    assert main(["list", "nosuchmodel"]) == 2
    assert "model must be one of" in capsys.readouterr().err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"physml {version('physml')}"


def test_no_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
