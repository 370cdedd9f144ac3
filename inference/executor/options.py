r"""``--workers N`` / ``--scheduler ADDRESS`` → an executor, validated before anything starts.

* neither: the scheduler named by the ``DASK_SCHEDULER_ADDRESS`` environment variable (Dask's convention)
  if it is set, else :class:`SerialExecutor`;
* ``workers = N ≥ 1``: a ``LocalCluster`` of N single-threaded worker processes;
* ``scheduler = [tcp://]HOST:PORT``: that scheduler (it must answer within the connect timeout when the
  executor is entered).

Bad input is a one-line ``ValueError`` naming ``workers`` or ``scheduler``.
"""

from __future__ import annotations

import os
from typing import Mapping

from .base import Executor, SerialExecutor
from .dask_executor import DEFAULT_CONNECT_TIMEOUT_S, DaskExecutor

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler_address(address: str) -> str:
    """``address`` if it reads ``[SCHEME://]HOST:PORT`` with a known scheme and a port in 1..65535."""
    from distributed.comm.addressing import parse_address, parse_host_port

    text = str(address).strip()
    try:
        scheme, location = parse_address(text, strict=False)
        host, port = parse_host_port(location)
    except (ValueError, TypeError):
        host, port, scheme = "", 0, ""
    if scheme not in SCHEMES or not host or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"scheduler must be [tcp://]HOST:PORT (schemes {', '.join(SCHEMES)}; port 1..65535), "
                         f"got {address!r}")
    return text


def executor_from_options(workers: int | None = None, scheduler: str | None = None, *,
                          environ: Mapping[str, str] | None = None,
                          connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> Executor:
    """The executor for ``--workers`` / ``--scheduler`` (see the module docstring); nothing is started yet."""
    if workers is not None and scheduler is not None:
        raise ValueError("workers and scheduler exclude each other: give workers (a local cluster) or scheduler "
                         "(an existing one), not both")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        return DaskExecutor(workers=workers)
    if scheduler is None:
        from_env = (os.environ if environ is None else environ).get(SCHEDULER_ENV) or None
        if from_env is None:
            return SerialExecutor()
        try:
            check_scheduler_address(from_env)
        except ValueError as err:
            raise ValueError(f"{err} (from the environment variable {SCHEDULER_ENV})") from None
        scheduler = from_env
    return DaskExecutor(address=check_scheduler_address(scheduler), connect_timeout=connect_timeout)
