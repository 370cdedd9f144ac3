r"""Executors for sweeps: the same pure tasks run serially, on a local Dask cluster or on a given scheduler.

A sweep is a list of task specs :math:`s_1, \dots, s_n` and a pure function :math:`f` (spec, seed inside the
spec → result record); every executor returns :math:`[f(s_1), \dots, f(s_n)]` in spec order, so a sweep's
numbers do not depend on what ran it. Runners ask :func:`current_executor` (serial unless a caller chose
another with :func:`use_executor`), so choosing one needs no change to their signatures.

* :class:`SerialExecutor` — in this process, in order (the default; what tests use);
* :class:`DaskExecutor` — ``dask.distributed``: a ``LocalCluster`` of N single-threaded worker processes or an
  existing scheduler (``tcp://HOST:PORT`` or ``DASK_SCHEDULER_ADDRESS``); workers that die are replaced by the
  scheduler re-running their tasks;
* :func:`run_sweep` with a :class:`TaskStore` — results persisted per task (atomically, keyed by a hash of the
  spec) so an interrupted sweep resumes from the finished tasks;
* :func:`executor_from_options` — the command line's ``--workers N`` / ``--scheduler ADDRESS``, validated.

This subpackage knows nothing of models or analyses (``physml.inference`` is the bottom layer). See
docs/SWEEPS.md for the scaling model and why compiled kernels are cached per worker process.
"""

from .base import Executor, SerialExecutor, current_executor, use_executor
from .dask_executor import DaskExecutor
from .options import check_scheduler_address, executor_from_options
from .store import TaskStore, spec_key, sweep_key
from .sweep import run_sweep

__all__ = ["Executor", "SerialExecutor", "DaskExecutor", "current_executor", "use_executor", "run_sweep",
           "TaskStore", "spec_key", "sweep_key", "executor_from_options", "check_scheduler_address"]
