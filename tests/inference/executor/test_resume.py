"""Per-task store: an interrupted sweep resumes from its finished tasks (counted), atomically, on any executor;
a store of another sweep is refused."""

import dataclasses

import numpy as np
import pytest

from physml.inference.executor import SerialExecutor, TaskStore, run_sweep, spec_key, use_executor
from seeding import seeds

import executor_toys as toys

N_TASKS = 10


def _specs():
    return [(s, 200, 0.0) for s in seeds(500, N_TASKS)]


@pytest.fixture
def counted():
    toys.CALLS[0], toys.INTERRUPT_AT[0] = 0, 0
    yield toys.CALLS
    toys.CALLS[0], toys.INTERRUPT_AT[0] = 0, 0


def _interrupted_half(store_dir, specs):
    toys.CALLS[0], toys.INTERRUPT_AT[0] = 0, N_TASKS // 2 + 1  # tasks 1..5 finish, the 6th is Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        run_sweep(toys.seeded_task, specs, store=TaskStore(store_dir))
    toys.INTERRUPT_AT[0] = 0
    assert TaskStore(store_dir).finished() == N_TASKS // 2
    assert not list(store_dir.glob(".*.tmp"))  # nothing half-written


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, counted):
    specs = _specs()
    expected = SerialExecutor().map(toys.seeded_task, specs)
    _interrupted_half(tmp_path / "store", specs)
    counted[0] = 0
    seen = []
    again = run_sweep(toys.seeded_task, specs, store=TaskStore(tmp_path / "store"),
                      on_result=lambda i, r: seen.append(i))
    assert counted[0] == N_TASKS - N_TASKS // 2  # the finished half was read back, not recomputed
    assert again == expected and sorted(seen) == list(range(N_TASKS))
    counted[0] = 0
    assert run_sweep(toys.seeded_task, specs, store=TaskStore(tmp_path / "store")) == expected
    assert counted[0] == 0


def test_resume_on_a_local_cluster(tmp_path, counted, local_cluster_2):
    specs = _specs()
    expected = SerialExecutor().map(toys.seeded_task, specs)
    _interrupted_half(tmp_path / "store", specs)
    with use_executor(local_cluster_2):
        again = run_sweep(toys.seeded_task, specs, store=TaskStore(tmp_path / "store"))
    assert again == expected and TaskStore(tmp_path / "store").finished() == N_TASKS


def test_store_of_another_sweep_is_refused(tmp_path, counted):
    store = tmp_path / "store"
    run_sweep(toys.seeded_task, _specs()[:3], store=TaskStore(store), description="first three")
    with pytest.raises(ValueError, match=r"store .* belongs to another sweep \(first three"):
        run_sweep(toys.seeded_task, _specs(), store=TaskStore(store))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="store must be a folder"):
        run_sweep(toys.seeded_task, _specs(), store=TaskStore(tmp_path / "file"))


@dataclasses.dataclass(frozen=True)
class Spec:
    model: str
    seed: int
    K: float


def test_spec_key_is_canonical():
    assert spec_key(Spec("a", 1, 0.1)) == spec_key(Spec("a", 1, 0.1))
    assert spec_key(Spec("a", 1, 0.1)) != spec_key(Spec("a", 1, 0.1 + 1e-16 * 2))
    assert spec_key({"b": 1, "a": np.float64(0.5)}) == spec_key({"a": 0.5, "b": 1})
    assert spec_key((1, 2)) != spec_key((2, 1))
    assert spec_key(np.arange(3)) != spec_key(np.arange(3.0))
    with pytest.raises(TypeError, match="task spec"):
        spec_key(object())
