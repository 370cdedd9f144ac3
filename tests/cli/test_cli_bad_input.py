"""Every kind of bad input to ``physml run``: one line on stderr, exit 2, no traceback, nothing created.

Each case runs ``physml.cli.main`` in-process with the fitting entry points replaced by a guard,
so a case that slips past validation fails at once ("reached fit") instead of running a report.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from physml.cli import main

BIG = str(10**12)  # a size no machine's memory holds the draws of


def _write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def _npy(tmp_path: Path, name: str, array) -> str:
    np.save(tmp_path / name, np.asarray(array))
    return str(tmp_path / name)


def _unreadable(tmp_path: Path) -> str:
    """A file that exists and cannot be read: chmod 000 for a normal user; as root (who reads every
    mode) a link to a write-only kernel setting, which even root cannot read."""
    if os.geteuid() != 0:
        p = tmp_path / "secret.csv"
        p.write_text("a,y\n1,2\n3,4\n")
        p.chmod(0)
        return str(p)
    target = Path("/proc/sys/vm/drop_caches")
    try:
        target.open("rb").close()
    except PermissionError:
        (tmp_path / "secret.csv").symlink_to(target)
        return str(tmp_path / "secret.csv")
    pytest.skip("no file on this machine that root cannot read")


def _fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "pipe.csv")
    return str(tmp_path / "pipe.csv")


def _folder(tmp_path: Path) -> str:
    (tmp_path / "folder.csv").mkdir()
    return str(tmp_path / "folder.csv")


def _result_is_file(tmp_path: Path) -> str:
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "regression").write_text("not a folder")
    return str(tmp_path / "res")


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GOOD_CSV = "a,b,y\n1,2,3\n2,1,4\n3,5,1\n"
REG = ["run", "regression"]

# case id -> (args built from tmp_path, text the one error line must contain)
CASES = {
    # model and methods
    "unknown model": (lambda t: ["run", "nosuchmodel"], "model must be one of"),
    "unknown method": (lambda t: [*REG, "--methods", "magic"], "method must be one of"),
    "method twice": (lambda t: [*REG, "--methods", "nuts,advi,nuts"], "'nuts' twice"),
    "spin sampler on regression": (lambda t: [*REG, "--methods", "checkerboard"], "cannot fit this model"),
    "nuts on ising": (lambda t: ["run", "ising", "--methods", "nuts"], "method must be one of"),
    "cluster move with a field": (lambda t: ["run", "ising", "--set", "h=0.1", "--methods", "wolff"], "needs h = 0"),
    "nuts on denoise": (lambda t: ["run", "denoise", "--methods", "nuts"], "method must be one of"),
    "spin sampler on rbm": (lambda t: ["run", "rbm", "--methods", "heat_bath"], "cannot fit this model"),
    # seed
    "negative seed": (lambda t: [*REG, "--seed", "-1"], "--seed must be an integer"),
    "text seed": (lambda t: [*REG, "--seed", "abc"], "--seed must be an integer"),
    "fractional seed": (lambda t: [*REG, "--seed", "1.5"], "--seed must be an integer"),
    "seed too large": (lambda t: [*REG, "--seed", str(2**64)], "--seed must be an integer in 0..4294967295"),
    # --set syntax, keys, types, values
    "set without =": (lambda t: [*REG, "--set", "novalue"], "KEY=VALUE"),
    "set without key": (lambda t: [*REG, "--set", "=5"], "KEY=VALUE"),
    "set twice": (lambda t: [*REG, "--set", "draws=10", "--set", "draws=20"], "draws is given twice"),
    "unknown setting": (lambda t: [*REG, "--set", "colour=red"], "unknown setting 'colour'"),
    "int setting not a number": (lambda t: [*REG, "--set", "n=abc"], "n must be of type int"),
    "float setting not a number": (lambda t: [*REG, "--set", "rho=abc"], "rho must be of type float"),
    "float setting nan": (lambda t: [*REG, "--set", "rho=nan"], "rho must be a finite number"),
    "float setting inf": (lambda t: ["run", "ising", "--set", "K=inf"], "K must be a finite number"),
    "unknown prior": (lambda t: [*REG, "--set", "prior=flat"], "prior must be one of"),
    "zero prior scale": (lambda t: [*REG, "--set", "v0=0"], "v0 must be"),
    "negative coupling": (lambda t: ["run", "ising", "--set", "K=-1"], "K must be >= 0"),
    "unknown boundary": (lambda t: ["run", "ising", "--set", "boundary=twisted"], "boundary must be one of"),
    "unknown training data": (lambda t: ["run", "rbm", "--set", "data=bas5"], "data must be 'bas3', 'bas4'"),
    # sizes: negative, zero, fractional, too large for memory
    "negative draws": (lambda t: [*REG, "--set", "draws=-5"], "draws must be"),
    "negative chains": (lambda t: [*REG, "--set", "chains=-1"], "chains must be"),
    "fractional draws": (lambda t: [*REG, "--set", "draws=1.5"], "draws must be of type int"),
    "draws beyond memory": (lambda t: [*REG, "--set", f"draws={BIG}"], "draws × chains need about"),
    "chains beyond memory": (lambda t: [*REG, "--set", f"chains={BIG}"], "draws × chains need about"),
    "one data row": (lambda t: [*REG, "--set", "n=1"], "n must be >= 2"),
    "no predictors": (lambda t: [*REG, "--set", "d=0"], "d must be >= 1"),
    "rows beyond memory": (lambda t: [*REG, "--set", f"n={BIG}"], "n × d need about"),
    "predictors beyond memory": (lambda t: [*REG, "--set", "d=10000000"], "need about"),
    "lattice too small": (lambda t: ["run", "ising", "--set", "L=1"], "L must be an integer >= 2"),
    "lattice beyond memory": (lambda t: ["run", "ising", "--set", "L=1000000"], "L² need about"),
    "ising draws beyond memory": (lambda t: ["run", "ising", "--set", f"draws={BIG}"], "need about"),
    "TI rungs not 4m+1": (lambda t: ["run", "ising", "--set", "ti_rungs=6"], "ti_rungs must be 4m + 1"),
    "negative sweep points": (lambda t: ["run", "ising", "--set", "k_points=-1"], "k_points must be"),
    "image too small": (lambda t: ["run", "denoise", "--set", "size=8"], "size must be an integer >= 16"),
    "image beyond memory": (lambda t: ["run", "denoise", "--set", "size=1000000"], "need about"),
    "zero hidden units": (lambda t: ["run", "rbm", "--set", "n_hidden=0"], "n_hidden must be >= 1"),
    "too many hidden units": (lambda t: ["run", "rbm", "--set", "n_hidden=100"], "n_hidden must be <="),
    "zero epochs": (lambda t: ["run", "rbm", "--set", "epochs=0"], "epochs must be >= 1"),
    "zero rbm chains": (lambda t: ["run", "rbm", "--set", "chains=0"], "chains must be >= 1"),
    "one AIS run": (lambda t: ["run", "rbm", "--set", "ais_runs=1"], "ais_runs must be >= 2"),
    "rbm rows beyond memory": (lambda t: ["run", "rbm", "--set", f"n_samples={BIG}"], "n_samples need about"),
    # --data
    "data missing": (lambda t: [*REG, "--data", str(t / "missing.csv"), "--target", "y"], "file not found"),
    "data is a directory": (lambda t: [*REG, "--data", _folder(t), "--target", "y"], "is a directory"),
    "data unreadable": (lambda t: [*REG, "--data", _unreadable(t), "--target", "y"], "cannot read it"),
    "data is a pipe": (lambda t: [*REG, "--data", _fifo(t), "--target", "y"], "not a regular file"),
    "CSV without target": (lambda t: [*REG, "--data", _write(t, "good.csv", GOOD_CSV)], "target must name"),
    "unknown target column": (lambda t: [*REG, "--data", _write(t, "good.csv", GOOD_CSV), "--target", "z"],
                              "target column 'z'"),
    "target without data": (lambda t: [*REG, "--target", "y"], "give --data too"),
    "target given twice": (lambda t: [*REG, "--data", _write(t, "good.csv", GOOD_CSV), "--target", "y", "--set",
                                      "target=a"], "both given"),
    "non-finite CSV": (lambda t: [*REG, "--data", _write(t, "nan.csv", "a,y\n1,2\nnan,3\n4,5\n"), "--target", "y"],
                       "finite"),
    "text in CSV": (lambda t: [*REG, "--data", _write(t, "text.csv", "a,y\n1,2\nfoo,3\n"), "--target", "y"],
                    "only numbers"),
    "one CSV row": (lambda t: [*REG, "--data", _write(t, "one.csv", "a,y\n1,2\n"), "--target", "y"], "at least 2"),
    "JSON not JSON": (lambda t: [*REG, "--data", _write(t, "bad.json", "{not json")], "must be JSON"),
    "data for ising": (lambda t: ["run", "ising", "--data", _write(t, "good.csv", GOOD_CSV)], "takes no data file"),
    "image of wrong format": (lambda t: ["run", "denoise", "--data", _write(t, "img.txt", "1 0\n0 1\n")],
                              "must be .npy or .png"),
    "corrupt .npy image": (lambda t: ["run", "denoise", "--data", _write(t, "img.npy", "not numpy")],
                           "could not read img.npy"),
    "non-binary image": (lambda t: ["run", "denoise", "--data", _npy(t, "img.npy", np.full((20, 20), 0.5))],
                         "must be binary"),
    "non-binary rbm rows": (lambda t: ["run", "rbm", "--data", _npy(t, "rows.npy", [[0, 2], [1, 0]])],
                            "must be binary"),
    "rbm rows too wide": (lambda t: ["run", "rbm", "--data", _npy(t, "rows.npy", np.eye(20, dtype=int))],
                          "at most 16 columns"),
    # --out
    "out is a file": (lambda t: [*REG, "--out", _write(t, "out.txt", "x")], "exists and is not a folder"),
    "out under a file": (lambda t: [*REG, "--out", str(Path(_write(t, "out.txt", "x")) / "sub")],
                         "cannot write there: Not a directory"),
    "out in /proc": (lambda t: [*REG, "--out", f"/proc/physml-test-{os.getpid()}/out"], "cannot write there"),
    "out name too long": (lambda t: [*REG, "--out", str(t / ("x" * 300))], "cannot write there: File name too long"),
    "out result is a file": (lambda t: [*REG, "--out", _result_is_file(t)], "exists and is not a folder"),
    # --workers / --scheduler (checked, and a scheduler contacted, before --out is made)
    "zero workers": (lambda t: ["run", "criticality", "--workers", "0"], "workers must be an integer >= 1"),
    "text workers": (lambda t: ["run", "criticality", "--workers", "two"], "--workers must be an integer"),
    "workers and scheduler": (lambda t: ["run", "criticality", "--workers", "2", "--scheduler", "127.0.0.1:8786"],
                              "exclude each other"),
    "malformed scheduler": (lambda t: ["run", "criticality", "--scheduler", "nohost"], "scheduler must be"),
    "silent scheduler": (lambda t: ["run", "criticality", "--scheduler", f"tcp://127.0.0.1:{_free_port()}"],
                         "no Dask scheduler answered"),
    # run all takes no per-model options
    "run all with --set": (lambda t: ["run", "all", "--set", "draws=5"], "uses each model's defaults"),
    "run all with --data": (lambda t: ["run", "all", "--data", _write(t, "good.csv", GOOD_CSV)],
                            "uses each model's defaults"),
    "run all with --methods": (lambda t: ["run", "all", "--methods", "nuts"], "uses each model's defaults"),
}


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail at once if a case reaches a sampler or learner (validation must come first)."""
    import physml.analyses.bayes_report as bayes_report
    import physml.analyses.denoise as denoise
    import physml.analyses.ising as ising
    import physml.analyses.rbm as rbm
    from physml.inference.rbm import contrastive_divergence

    def reached(*args, **kwargs):
        raise AssertionError("bad input reached fit()/train(): it must be rejected before any fitting")

    for module in (bayes_report, denoise, ising, rbm):
        monkeypatch.setattr(module, "fit", reached)
    monkeypatch.setattr(contrastive_divergence, "train", reached)


def _tree(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_one_line_exit_2_nothing_created(case, tmp_path, capsys, no_fitting):
    build, message = CASES[case]
    args = build(tmp_path)
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    before = _tree(tmp_path)
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("physml: error: ") and message in lines[0], err
    assert "Traceback" not in err
    assert _tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a mode-0500 folder; the /proc and "
                    "under-a-file cases cover an --out that cannot be created")
def test_out_in_read_only_folder(tmp_path, capsys, no_fitting):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code = main([*REG, "--out", str(locked / "out")])
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write there" in err
    assert not any(locked.iterdir())


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "regression", "--frobnicate"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
