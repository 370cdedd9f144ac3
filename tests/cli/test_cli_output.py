"""Result folders: built under a scratch name, moved in by renames, scratch of killed runs removed.

The analysis is replaced by a stub that writes one file, so these tests exercise the CLI's
folder handling only (the report itself is tested in test_cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from physml.analyses.common import remove_stale_scratch, replace_folder, scratch_path, write_json_atomic
from physml.cli import main
from paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture
def stub_analysis(monkeypatch):
    """``physml run MODEL`` writes summary.json holding the seed it was given."""
    import physml.analyses as analyses

    class Analysis:
        @staticmethod
        def run(out_dir, *, seed, **request):
            write_json_atomic(Path(out_dir) / "summary.json", {"seed": seed})
            write_json_atomic(Path(out_dir) / "figures" / "f.json", {})

    monkeypatch.setattr(analyses, "analysis", lambda name: Analysis)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _seed_in(folder: Path) -> int:
    return json.loads((folder / "summary.json").read_text())["seed"]


def test_run_replaces_old_results_and_names_the_final_folder(tmp_path, capsys, stub_analysis):
    out = tmp_path / "a" / "b"
    assert main(["run", "regression", "--out", str(out), "--seed", "1"]) == 0
    assert main(["run", "regression", "--out", str(out), "--seed", "2"]) == 0
    err = capsys.readouterr().err
    assert _seed_in(out / "regression") == 2
    assert [p.name for p in out.iterdir()] == ["regression"]  # no scratch, no old copy
    assert f"report in {out / 'regression' / 'report.md'}" in err
    assert ".regression." not in err  # progress never shows the scratch path


def test_failed_run_keeps_old_results_and_creates_nothing(tmp_path, capsys, monkeypatch):
    import physml.analyses as analyses

    class Failing:
        @staticmethod
        def run(out_dir, **request):
            write_json_atomic(Path(out_dir) / "summary.json", {})
            raise ValueError("setting x must be > 0, got -1")

    monkeypatch.setattr(analyses, "analysis", lambda name: Failing)
    one_line = "physml: error: setting x must be > 0, got -1\n"
    new = tmp_path / "new" / "out"
    assert main(["run", "regression", "--out", str(new)]) == 2
    assert capsys.readouterr().err == one_line
    assert not (tmp_path / "new").exists()
    old = tmp_path / "old"
    (old / "regression").mkdir(parents=True)
    (old / "regression" / "summary.json").write_text("{}")
    assert main(["run", "regression", "--out", str(old)]) == 2
    assert capsys.readouterr().err == one_line
    assert sorted(p.relative_to(old) for p in old.rglob("*")) == [Path("regression"), Path("regression/summary.json")]


def test_scratch_of_a_killed_run_is_removed_by_the_next_run(tmp_path, capsys, stub_analysis):
    """A run killed by SIGKILL leaves its scratch folder; the next run into --out removes it."""
    out = tmp_path / "out"
    code = ("import os, signal, sys; from pathlib import Path; from physml.analyses.common import scratch_path\n"
            "p = scratch_path(Path(sys.argv[1]), 'regression'); p.mkdir(parents=True)\n"
            "(p / 'half.nc').write_text('half'); os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True)
    assert killed.returncode == -9
    assert [p.name.split(".")[1] for p in out.iterdir()] == ["regression"]
    assert main(["run", "ising", "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["ising"]


def test_stale_scratch_removal_spares_live_runs_and_restores_a_moved_aside_result(tmp_path):
    dead = _dead_pid()
    live_scratch = scratch_path(tmp_path, "regression")  # this process: alive
    stale_scratch = tmp_path / f".regression.{dead}.run-0a1b2c3d"
    stale_old = tmp_path / f".regression.{dead}.old-0a1b2c3d"  # replaced: its successor is in place
    orphan_old = tmp_path / f".ising.{dead}.old-0a1b2c3d"  # killed between the two renames
    unrelated = tmp_path / ".cache"
    for folder in (live_scratch, stale_scratch, stale_old, orphan_old, unrelated, tmp_path / "regression"):
        folder.mkdir()
        (folder / "x").write_text(folder.name)
    handled = remove_stale_scratch(tmp_path)
    assert sorted(handled) == sorted([stale_scratch, stale_old, orphan_old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_scratch.name, ".cache", "regression", "ising"])
    assert (tmp_path / "ising" / "x").read_text() == orphan_old.name


def test_replace_folder_puts_the_old_one_back_when_the_new_one_cannot_move(tmp_path):
    final = tmp_path / "regression"
    final.mkdir()
    (final / "summary.json").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / "never-written", final)
    assert (final / "summary.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["regression"]


def test_scratch_name_carries_the_process_id(tmp_path):
    name = scratch_path(tmp_path, "rbm").name
    assert name.startswith(f".rbm.{os.getpid()}.run-") and not (tmp_path / name).exists()


def test_disk_full_while_writing_results_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import errno

    import physml.analyses as analyses

    class DiskFull:
        @staticmethod
        def run(out_dir, **request):
            write_json_atomic(Path(out_dir) / "summary.json", {})
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(out_dir) / "nuts.nc"))

    monkeypatch.setattr(analyses, "analysis", lambda name: DiskFull)
    assert main(["run", "regression", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"physml: error: cannot write the results into --out {tmp_path / 'out'}: No space left on device\n"
    assert not any(tmp_path.iterdir())


def test_a_linked_result_folder_is_replaced_without_touching_its_target(tmp_path, capsys, stub_analysis):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "regression").symlink_to(elsewhere, target_is_directory=True)
    assert main(["run", "regression", "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["regression"] and not (out / "regression").is_symlink()
    assert (elsewhere / "keep.txt").read_text() == "keep"
