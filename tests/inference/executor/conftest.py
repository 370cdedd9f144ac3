"""Executor tests: the toy tasks' folder on sys.path (worker processes spawned by a LocalCluster inherit it)
and one LocalCluster(2) shared by the tests of this folder (session scope) (started once: ~2 s)."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def local_cluster_2():
    from physml.inference.executor import DaskExecutor

    ex = DaskExecutor(workers=2)
    try:
        yield ex.start()
    finally:
        ex.close()
