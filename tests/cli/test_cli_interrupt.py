"""Ctrl-C always ends ``physml run`` with status 130, one line, no traceback, and keeps nothing.

In-process tests stand in for the ways a library hides a KeyboardInterrupt (caught and dropped,
raised inside a callback that cannot raise, raised inside a string ``exec``); the subprocess test
sends a real SIGINT to a real run at several moments (imports, model building, compilation).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

import physml.cli as cli
from physml.cli import INTERRUPTED_MESSAGE, main
from paths import REPO_ROOT

ROOT = REPO_ROOT


def _interrupt_now() -> None:
    """What a terminal's Ctrl-C does to this process (the CLI's handler runs at once)."""
    signal.raise_signal(signal.SIGINT)


def _main_with(monkeypatch, capsys, fake_run) -> tuple[int, str, float]:
    monkeypatch.setattr(cli, "_run", fake_run)
    handler = signal.getsignal(signal.SIGINT)
    t0 = time.perf_counter()
    code = main(["run", "regression", "--out", "unused"])
    elapsed = time.perf_counter() - t0
    assert signal.getsignal(signal.SIGINT) is handler  # restored for the caller
    return code, capsys.readouterr().err, elapsed


def test_interrupt_caught_and_dropped_by_a_library_still_exits_130(monkeypatch, capsys):
    def run(args):
        try:
            _interrupt_now()
        except KeyboardInterrupt:
            pass  # what a sampler does that stops early and returns a shorter trace
        return 0

    code, err, _ = _main_with(monkeypatch, capsys, run)
    assert code == 130 and err == INTERRUPTED_MESSAGE + "\n"


def test_interrupt_inside_a_callback_exits_130_without_traceback(monkeypatch, capsys):
    class Anything:
        pass

    def run(args):
        obj = Anything()
        ref = weakref.ref(obj, lambda r: _interrupt_now())  # the callback runs only while ref lives
        del obj  # the callback cannot raise: Python reports the KeyboardInterrupt as unraisable
        return 0 if ref() is None else 1

    code, err, _ = _main_with(monkeypatch, capsys, run)
    assert code == 130 and err == INTERRUPTED_MESSAGE + "\n"


def test_swallowed_interrupt_is_raised_again_so_the_run_stops_soon(monkeypatch, capsys):
    def run(args):
        try:
            _interrupt_now()
        except KeyboardInterrupt:
            pass
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:  # the computation goes on in Python code
            time.sleep(0.01)
        return 0

    code, err, elapsed = _main_with(monkeypatch, capsys, run)
    assert code == 130 and err == INTERRUPTED_MESSAGE + "\n"
    assert elapsed < 10 * cli.SigintGuard.REDELIVER_S


def test_interrupted_analysis_keeps_nothing(monkeypatch, tmp_path, capsys):
    import physml.analyses as analyses
    from physml.analyses.common import write_json_atomic

    class Analysis:
        @staticmethod
        def run(out_dir, **request):
            write_json_atomic(Path(out_dir) / "summary.json", {"model": "regression"})
            _interrupt_now()

    monkeypatch.setattr(analyses, "analysis", lambda name: Analysis)
    code = main(["run", "regression", "--out", str(tmp_path / "out")])
    assert code == 130 and capsys.readouterr().err == INTERRUPTED_MESSAGE + "\n"
    assert not any(tmp_path.iterdir())
    write_json_atomic(tmp_path / "after.json", {})  # the analyses work again after main() returned


def test_interrupt_inside_string_exec_under_python_m_exits_130(tmp_path):
    """CPython 3.12 turns a KeyboardInterrupt that left a string exec into a SIGINT death at exit
    under ``python -m``, whatever status the program returns; the CLI clears that mark."""
    (tmp_path / "interrupted_in_exec.py").write_text(
        "import physml.cli as cli\n"
        "def run(args):\n"
        "    exec('import signal; signal.raise_signal(signal.SIGINT)', {})\n"
        "cli._run = run\n"
        "raise SystemExit(cli.main(['run', 'regression']))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "interrupted_in_exec"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr == INTERRUPTED_MESSAGE + "\n", proc.stderr


@pytest.mark.parametrize("delay_s", [1.0, 3.0, 6.0])
def test_ctrl_c_during_a_real_run(delay_s, tmp_path):
    """SIGINT to the process group (a terminal's Ctrl-C) while imports, model building or
    compilation run: 130, the one line, no traceback, nothing left under the output folder."""
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "physml", "run", "regression", "--quick", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        time.sleep(delay_s)
        assert proc.poll() is None, "the quick regression run ended before the interrupt: it takes minutes"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == INTERRUPTED_MESSAGE, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert not any(tmp_path.iterdir()), sorted(tmp_path.rglob("*"))
