"""Pure toy tasks for the executor tests (importable by worker processes: this folder goes on their PYTHONPATH).

``seeded_task((seed, n, sleep_s))`` → mean and sd of n N(0, 1) draws from ``default_rng(seed)``, after sleeping
``sleep_s`` (so a worker can be killed while it runs). Calls made in this process are counted in ``CALLS``;
``INTERRUPT_AT[0] = k`` makes the k-th call (1-based) raise ``KeyboardInterrupt`` (an interrupted sweep).
``wolff_task((L, K, draws, seed))`` → the JSON moments of one Wolff run (numba: compiled per process).
``compile_once_task(spec)`` → (pid, how many times this process built its "kernel").
"""

from __future__ import annotations

import functools
import json
import os
import time

import numpy as np

CALLS = [0]
INTERRUPT_AT = [0]
BUILDS = [0]


def seeded_task(spec: tuple) -> dict:
    seed, n, sleep_s = spec
    CALLS[0] += 1
    if CALLS[0] == INTERRUPT_AT[0]:
        raise KeyboardInterrupt
    time.sleep(sleep_s)
    x = np.random.default_rng(seed).standard_normal(n)
    return {"seed": seed, "mean": float(x.mean()), "sd": float(x.std(ddof=1))}


def wolff_task(spec: tuple) -> str:
    from physml.inference.spins import finite_size as fs

    L, K, draws, seed = spec
    run = fs.simulate(L, K, draws, list(seed))
    return json.dumps({"L": L, "K": K, "moments": [float(v) for v in fs.moments(None, run)]})


@functools.lru_cache(maxsize=None)
def _kernel():
    BUILDS[0] += 1
    return np.ones(3)


def compile_once_task(spec: int) -> tuple[int, int]:
    _kernel()
    return os.getpid(), BUILDS[0]
