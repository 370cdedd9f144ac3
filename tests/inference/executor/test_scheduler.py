"""A real ``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1, started and stopped here: one worker
killed mid-sweep → the sweep completes with the serial results; no workers / no scheduler → ValueError in time."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from physml.inference.executor import DaskExecutor, SerialExecutor, executor_from_options
from seeding import seeds

import executor_toys as toys

STARTUP_S = 30.0
TASK_S = 0.4
N_TASKS = 8


def _wait_for(condition, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def _scheduler_address(path: Path):
    try:
        return json.loads(path.read_text())["address"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def _stop(procs):
    """SIGKILL (only the processes this test started; a graceful stop takes seconds and proves nothing here)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait(timeout=10)


@pytest.fixture
def scheduler(tmp_path):
    """(address, start_worker): a scheduler on 127.0.0.1 and a function starting a nanny-less worker."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(toys.__file__).parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    procs, log = [], open(tmp_path / "dask.log", "w")
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                       "--port", "0", "--no-dashboard", "--scheduler-file",
                                       str(tmp_path / "scheduler.json")], stdout=log, stderr=log, env=env))
        address = _wait_for(lambda: _scheduler_address(tmp_path / "scheduler.json"), STARTUP_S, "dask scheduler")

        def start_worker():
            procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                           "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard"], stdout=log, stderr=log, env=env))
            return procs[-1]

        yield address, start_worker
    finally:
        _stop(procs)
        log.close()


def test_worker_killed_mid_sweep_is_retried(scheduler):
    address, start_worker = scheduler
    with pytest.raises(ValueError, match="has no workers"):
        DaskExecutor(address=address, connect_timeout=1).start()
    workers = {start_worker().pid for _ in range(2)}
    specs = [(s, 500, TASK_S) for s in seeds(40, N_TASKS)]
    expected = SerialExecutor().map(toys.seeded_task, [(s, n, 0.0) for s, n, _ in specs])
    killed = []
    with DaskExecutor(address=address, connect_timeout=5) as ex:
        ex.client.wait_for_workers(2, timeout=STARTUP_S)
        pid_of = ex.client.run(os.getpid)  # {worker address: its process id}

        def kill_a_busy_worker(i, result):
            if killed:
                return
            busy = [a for a, keys in ex.client.processing().items() if keys and pid_of.get(a) in workers]
            if busy:
                os.kill(pid_of[busy[0]], signal.SIGKILL)
                killed.append(pid_of[busy[0]])

        got = ex.map(toys.seeded_task, specs, on_result=kill_a_busy_worker)
        assert len(ex.client.scheduler_info()["workers"]) == 1
    assert killed, "no worker was busy after the first result: the kill did not happen mid-sweep"
    assert got == expected


def test_unreachable_scheduler_is_a_clear_error_in_time():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    ex = executor_from_options(None, f"tcp://127.0.0.1:{port}", connect_timeout=2)
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=rf"scheduler: no Dask scheduler answered at tcp://127.0.0.1:{port} "
                                         r"within 2 s"):
        ex.start()
    assert time.monotonic() - t0 < 2 + 5
    assert executor_from_options(None, f"127.0.0.1:{port}").connect_timeout <= 10  # the default
