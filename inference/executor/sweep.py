r"""A sweep: pure tasks on the current executor, optionally resumable from a :class:`TaskStore`.

``run_sweep(f, specs, store=S)`` loads the results of specs already in ``S``, runs only the others on
:func:`current_executor` (or the one given), and saves each result in ``S`` (atomically, in this process) the
moment it arrives — so a sweep killed or interrupted after k tasks restarts with n − k tasks to run, and the
list it returns is the same as an uninterrupted run's: ``[f(s) for s in specs]``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .base import Executor, OnResult, current_executor
from .store import TaskStore, sweep_key

_PENDING = object()


def run_sweep(task_fn: Callable[[Any], Any], task_specs: Sequence[Any], *, store: TaskStore | None = None,
              on_result: OnResult | None = None, executor: Executor | None = None, description: str = "") -> list:
    """``[task_fn(s) for s in task_specs]``; ``on_result(i, r)`` for every task (stored ones first, then as the
    others finish). With ``store``, finished tasks are read back instead of re-run (``description`` names the
    sweep in the store's manifest, for the error when the store belongs to another sweep)."""
    specs = list(task_specs)
    results: list = [_PENDING] * len(specs)
    if store is not None:
        store.open(sweep_key(task_fn, specs), description or f"{task_fn.__module__}.{task_fn.__qualname__}")
        for i, spec in enumerate(specs):
            results[i] = store.load(spec, _PENDING)
            if results[i] is not _PENDING and on_result is not None:
                on_result(i, results[i])
    todo = [i for i, r in enumerate(results) if r is _PENDING]

    def finished(j: int, result: Any) -> None:
        i = todo[j]
        if store is not None:
            store.save(specs[i], result)
        results[i] = result
        if on_result is not None:
            on_result(i, result)

    (executor or current_executor()).map(task_fn, [specs[i] for i in todo], on_result=finished)
    return results
