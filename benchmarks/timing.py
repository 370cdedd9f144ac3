"""Shared helpers for benchmarks/: wall time of a call, best rate over repeats, ratios, load, quiet PyMC.

Terms used by every script: *cold* = the first call in this process, set-up and compilation included
(numba kernels are cached on disk and PyTensor keeps a C cache, so "cold" means a fresh process, not
a fresh machine); *warm* = the same call again after that, everything already compiled. Both sides
of a ratio are timed by the same functions with the same number of repeats, and a ratio is printed
only between runs of the same size. The load average is printed before and after each script
because the machine's cores are shared and timings move with the load.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable


def load_note() -> str:
    """``load average 1 / 5 / 15 min on N CPUs`` (as ``uptime`` prints it)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} CPUs"


def quiet_pymc() -> None:
    """Silence PyMC's progress logging (it configures its logger when first imported, so import it first)."""
    import pymc

    logging.getLogger(pymc.__name__).setLevel(logging.ERROR)


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """``(fn(*args, **kwargs), wall seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def best_rate(block: Callable[[], tuple[float, float]], repeats: int) -> float:
    """The best ``work / seconds`` over ``repeats`` calls of ``block() -> (work, seconds)`` (the least
    disturbed by other processes on a shared machine)."""
    return max(work / seconds for work, seconds in (block() for _ in range(repeats)))


def ratio(value: float, baseline: float) -> str:
    """``value / baseline`` as ``1.23x`` (``–`` when the baseline is missing or zero)."""
    if not baseline or baseline != baseline:
        return "–"
    return f"{value / baseline:.3g}x"
