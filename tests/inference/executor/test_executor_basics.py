"""The executor protocol, the executor in use, and bad input (workers, scheduler) → ValueError naming it."""

import pytest

from physml.inference.executor import (DaskExecutor, SerialExecutor, current_executor, executor_from_options,
                                       use_executor)
from seeding import seeds

import executor_toys as toys


def test_serial_map_in_spec_order_and_callbacks():
    specs = [(s, 50, 0.0) for s in seeds(100, 5)]
    seen = []
    out = SerialExecutor().map(toys.seeded_task, specs, on_result=lambda i, r: seen.append((i, r["seed"])))
    assert [r["seed"] for r in out] == [s for s, _, _ in specs]
    assert seen == [(i, s) for i, (s, _, _) in enumerate(specs)]


def test_current_executor_is_serial_unless_set_and_nests():
    assert isinstance(current_executor(), SerialExecutor)
    outer, inner = SerialExecutor(), SerialExecutor()
    with use_executor(outer):
        assert current_executor() is outer
        with use_executor(inner):
            assert current_executor() is inner
        assert current_executor() is outer
    assert isinstance(current_executor(), SerialExecutor) and current_executor() is not outer


@pytest.mark.parametrize("workers", [0, -1, -8, 1.5, True, "2"])
def test_bad_workers(workers):
    with pytest.raises(ValueError, match="workers"):
        executor_from_options(workers, None)
    with pytest.raises(ValueError, match="workers"):
        DaskExecutor(workers=workers)


@pytest.mark.parametrize("address", ["", "localhost", "tcp://host", "http://h:1", "tcp://h:0", "tcp://h:70000",
                                     "h:port"])
def test_bad_scheduler_address(address):
    with pytest.raises(ValueError, match="scheduler"):
        executor_from_options(None, address)


def test_options_choose_the_executor():
    assert isinstance(executor_from_options(None, None, environ={}), SerialExecutor)
    local = executor_from_options(2, None)
    assert isinstance(local, DaskExecutor) and local.workers == 2 and "LocalCluster(2" in local.description
    given = executor_from_options(None, "127.0.0.1:8786")
    assert given.address == "127.0.0.1:8786" and given.connect_timeout <= 10
    env = executor_from_options(None, None, environ={"DASK_SCHEDULER_ADDRESS": "tcp://10.0.0.1:8786"})
    assert env.address == "tcp://10.0.0.1:8786"
    with pytest.raises(ValueError, match="DASK_SCHEDULER_ADDRESS"):
        executor_from_options(None, None, environ={"DASK_SCHEDULER_ADDRESS": "nonsense"})
    with pytest.raises(ValueError, match="workers and scheduler"):
        executor_from_options(2, "127.0.0.1:8786")
