"""Serial vs LocalCluster(2): byte-identical sweep summaries for the same seeds; each worker compiles once."""

import json
from collections import defaultdict

import pytest

from physml.inference.executor import SerialExecutor, current_executor, use_executor
from seeding import seed, seeds

import executor_toys as toys


def _summary(executor, specs) -> bytes:
    with use_executor(executor):
        return json.dumps(current_executor().map(toys.wolff_task, specs), sort_keys=True).encode()


def test_serial_and_local_cluster_give_byte_identical_summaries(local_cluster_2):
    specs = [(L, K, 200, (seed(0), L, i)) for L in (4, 6) for i, K in enumerate((0.3, 0.44, 0.6))]
    serial = _summary(SerialExecutor(), specs)
    assert _summary(local_cluster_2, specs) == serial
    toy_specs = [(s, 1000, 0.0) for s in seeds(7, 12)]
    assert local_cluster_2.map(toys.seeded_task, toy_specs) == SerialExecutor().map(toys.seeded_task, toy_specs)


def test_each_worker_builds_its_kernel_once(local_cluster_2):
    builds = defaultdict(set)
    for pid, n_builds in local_cluster_2.map(toys.compile_once_task, range(16)):
        builds[pid].add(n_builds)
    assert all(n == {1} for n in builds.values())  # 16 tasks, ≤ 2 processes, one build in each
    assert 1 <= len(builds) <= 2


def test_an_error_in_the_caller_cancels_the_sweep_and_the_cluster_stays_usable(local_cluster_2):
    specs = [(s, 100, 0.05) for s in seeds(60, 20)]

    def stop_at_third(i, result, seen=[]):
        seen.append(i)
        if len(seen) == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        local_cluster_2.map(toys.seeded_task, specs, on_result=stop_at_third)
    assert local_cluster_2.map(toys.seeded_task, specs[:4]) == SerialExecutor().map(toys.seeded_task, specs[:4])
