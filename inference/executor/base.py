r"""The executor protocol, the serial executor and the executor in use.

``Executor.map(task_fn, task_specs, on_result=None) -> [task_fn(s) for s in task_specs]`` (spec order, whatever
order the tasks finished in); ``on_result(i, result)`` is called in the caller's process as task ``i``
finishes (progress, persistence). Tasks must be pure: a picklable spec (its seed included) determines the
result, so every executor gives the same numbers.

:func:`use_executor` sets the executor of a block (a :class:`contextvars.ContextVar`, so nested blocks and
threads see their own); :func:`current_executor` returns it, or a :class:`SerialExecutor` when none is set.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator, Protocol, Sequence

OnResult = Callable[[int, Any], None]


class Executor(Protocol):
    """Runs pure tasks; results in spec order. A context manager: resources (a cluster) live inside ``with``."""

    @property
    def description(self) -> str:
        """What runs the tasks, for reports (``serial``, ``LocalCluster(2 workers)``, ``scheduler tcp://…``)."""
        ...

    def map(self, task_fn: Callable[[Any], Any], task_specs: Sequence[Any], *,
            on_result: OnResult | None = None) -> list: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc) -> None: ...


class SerialExecutor:
    """Every task in this process, one after the other, in spec order."""

    description = "serial"

    def map(self, task_fn, task_specs, *, on_result: OnResult | None = None) -> list:
        results = []
        for i, spec in enumerate(task_specs):
            results.append(task_fn(spec))
            if on_result is not None:
                on_result(i, results[-1])
        return results

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc) -> None:
        return None


_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("physml_executor", default=None)


def current_executor() -> Executor:
    """The executor set by the innermost :func:`use_executor` block, else a :class:`SerialExecutor`."""
    ex = _CURRENT.get()
    return SerialExecutor() if ex is None else ex


@contextlib.contextmanager
def use_executor(executor: Executor) -> Iterator[Executor]:
    """Within the block, :func:`current_executor` returns ``executor`` (which the caller starts and closes)."""
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)
