r"""Sweeps on ``dask.distributed``: a local cluster of worker processes, or an existing scheduler.

``DaskExecutor(workers=N)`` starts ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``: one
task per process at a time, so numba / PyTensor / BLAS inside a task never compete with a sibling thread
(Dask's nannies also set ``OMP_NUM_THREADS=1`` etc. in the workers). ``DaskExecutor(address=…)`` connects to
a running scheduler; it must answer, and have at least one worker, within ``connect_timeout`` seconds, else a
``ValueError`` naming ``scheduler`` (a bad address is bad input, never a hang).

Robustness: a task whose worker dies (killed, out of memory) is re-run by the scheduler on another worker
(up to ``distributed.scheduler.allowed-failures`` deaths, default 3, then ``KilledWorker``); a task that
raises is retried ``retries`` times. Tasks are pure, so a re-run gives the same record.

Compile once per worker: workers are long-lived processes that run many tasks, so per-process caches in the
task code (``functools.lru_cache`` over built models, physml's per-model compiled-function caches, numba's
dispatchers) pay each compilation once per worker, not per task. A worker plugin would have to know in
advance what every sweep compiles; the cache compiles only what a worker's tasks need.
"""

from __future__ import annotations

import logging

from .base import OnResult

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2


class DaskExecutor:
    """Runs tasks on a ``LocalCluster`` of ``workers`` processes or on the scheduler at ``address``.

    Use as a context manager (``with DaskExecutor(workers=2) as ex: ex.map(f, specs)``): the cluster and the
    client are started on entry (or by the first ``map``) and closed on exit.
    """

    def __init__(self, *, workers: int | None = None, address: str | None = None,
                 retries: int = DEFAULT_RETRIES, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S):
        if (workers is None) == (address is None):
            raise ValueError("DaskExecutor needs exactly one of workers (a local cluster) or address (a scheduler)")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not 0 < connect_timeout <= 60:
            raise ValueError(f"connect_timeout must be in (0, 60] seconds, got {connect_timeout!r}")
        self.workers, self.address = workers, address
        self.retries, self.connect_timeout = retries, float(connect_timeout)
        self._cluster = self._client = None

    @property
    def description(self) -> str:
        if self.workers is not None:
            return f"LocalCluster({self.workers} worker{'s' if self.workers > 1 else ''}, 1 thread each)"
        return f"scheduler {self.address}"

    @property
    def client(self):
        """The ``distributed.Client`` (starting the cluster or connecting first)."""
        self.start()
        return self._client

    def start(self) -> "DaskExecutor":
        if self._client is not None:
            return self
        from distributed import Client, LocalCluster

        if self.workers is not None:
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
            return self
        self._client = self._connect(Client)
        return self

    def _connect(self, client_class):
        try:
            client = client_class(self.address, timeout=self.connect_timeout)
        except (OSError, TimeoutError) as err:
            raise ValueError(f"scheduler: no Dask scheduler answered at {self.address} within "
                             f"{self.connect_timeout:g} s ({type(err).__name__})") from None
        try:
            client.wait_for_workers(1, timeout=self.connect_timeout)
        except (OSError, TimeoutError):
            client.close()
            raise ValueError(f"scheduler: the Dask scheduler at {self.address} has no workers (waited "
                             f"{self.connect_timeout:g} s)") from None
        return client

    def close(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    def __enter__(self) -> "DaskExecutor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def map(self, task_fn, task_specs, *, on_result: OnResult | None = None) -> list:
        """``[task_fn(s) for s in task_specs]`` computed on the workers; ``on_result(i, r)`` here as each ends.

        Waits with ``distributed.wait(..., FIRST_COMPLETED)`` and fetches each result in this thread, so an
        error while fetching is raised here (``as_completed`` fetches in a background callback, where such an
        error is logged and the sweep then waits forever)."""
        from distributed import wait

        specs = list(task_specs)
        if not specs:
            return []
        client = self.client
        futures = [client.submit(task_fn, s, pure=False, retries=self.retries) for s in specs]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(specs)
        pending = futures
        try:
            while pending:
                done, not_done = wait(pending, return_when="FIRST_COMPLETED")
                for future in sorted(done, key=lambda f: index[f.key]):
                    results[index[future.key]] = future.result()
                    future.release()
                    if on_result is not None:
                        on_result(index[future.key], results[index[future.key]])
                pending = list(not_done)
        except BaseException:
            client.cancel(futures)  # an error or Ctrl-C here: nothing of this sweep keeps running
            raise
        return results
