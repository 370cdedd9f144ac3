"""The calibration harness on the executor layer: bad --workers / --scheduler → exit 2, nothing created; a rerun
reads the finished tasks back from the store (their files untouched) and gives the same records."""

import os
import sys

import pytest

from paths import REPO_ROOT
from seeding import seed

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import calibration  # noqa: E402
import calibration_tasks as ct  # noqa: E402

from physml.inference.executor import TaskStore  # noqa: E402


@pytest.mark.parametrize("extra, word", [(["--workers", "0"], "workers"), (["--workers", "-2"], "workers"),
                                          (["--scheduler", "nohost"], "scheduler"),
                                          (["--workers", "2", "--scheduler", "127.0.0.1:8786"], "scheduler")])
def test_bad_executor_options_exit_2(tmp_path, capsys, extra, word):
    with pytest.raises(SystemExit) as exit_:
        calibration.main(["--quick", "--out", str(tmp_path / "out"), *extra])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err
    assert not list(tmp_path.iterdir())


def test_rerun_reads_finished_tasks_back(tmp_path):
    tasks = ct.task_list(("ising8_K0.3",), ("ti",), 4, seed(0), quick=True)
    store = TaskStore(tmp_path / "store")
    first = calibration.run_tasks(tasks, store)
    lost = [store.path(t) for t in tasks[2:]]  # as if the run had been killed after two tasks
    for path in lost:
        path.unlink()
    kept = {store.path(t): os.stat(store.path(t)).st_ino for t in tasks[:2]}
    again = calibration.run_tasks(tasks, TaskStore(tmp_path / "store"))
    assert repr(again[:2]) == repr(first[:2])  # wall times included: read back, not recomputed (repr: NaN-safe)
    no_wall = [[{k: v for k, v in r.items() if k != "wall"} for r in rs] for rs in (first, again)]
    assert repr(no_wall[0]) == repr(no_wall[1])  # the recomputed ones are the same (NaN-safe by repr)
    assert {p: os.stat(p).st_ino for p in kept} == kept and all(p.exists() for p in lost)
