"""The command line: ``physml list`` and a --quick smoke run of the regression report.

Bad input: test_cli_bad_input.py; Ctrl-C: test_cli_interrupt.py; result folders: test_cli_output.py;
reproducibility: test_cli_reproducible.py.
"""

import json

from seeding import seed

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
    code, err = _run(["run", "regression", "--quick", "--out", str(tmp_path), "--seed", str(seed(3)),
                      "--methods", "nuts,advi,smc", "--set", "chains=0"], capsys)
    assert code == 0, err
    out = tmp_path / "regression"
    assert f"report in {out / 'report.md'}" in err and ".regression." not in err  # never the scratch path
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "regression"
    # chains=0 means "the default": the settings record the sizes each method ran with
    assert summary["settings"]["chains"] == 2 and summary["settings"]["draws"] == 500
    assert summary["settings"]["sizes"] == {"nuts": {"draws": 500, "tune": 500, "chains": 2},
                                            "advi": {"draws": 500, "tune": 500, "chains": 2},
                                            "smc": {"draws": 1000, "tune": 0, "chains": 4}}
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
    from physml.inference.vi.advi import DEFAULTS as vi_defaults

    d = len(summary["vi_optimum"]["sd"])
    allowance = d * (vi_defaults["tol_mean"] ** 2 / 2 + vi_defaults["tol_log_sd"] ** 2)
    assert -4 * gap["se"] < gap["value"] < 4 * gap["se"] + allowance
    assert "the family's error vs the optimiser's error" in report
    for fig in ("forest", "densities", "elbo", "free_energy"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left
