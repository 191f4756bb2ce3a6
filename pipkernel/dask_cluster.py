"""A Dask cluster to run work on (the dask extra): the scheduler at an address, or a local
cluster of single-threaded worker processes.  The experiments' sweep engine and the device
fleet both run on it; neither builds a cluster of its own."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .errors import PipsimError


class ClusterError(PipsimError, RuntimeError):
    """Dask is not installed, or its scheduler cannot be reached."""


def distributed():
    """``dask.distributed``, or a ClusterError saying how to install it."""
    try:
        from dask import distributed
    except ImportError:
        raise ClusterError("the dask engine needs Dask: pip install 'pipsim[dask]'") from None
    return distributed


def local_cluster(workers: int):
    """A ``distributed.LocalCluster`` of ``workers`` worker processes, one thread each, no
    dashboard; its scheduler's HTTP routes (health, metrics) on a free loopback port, not on
    Dask's fixed 8787 (taken by any other cluster on the machine)."""
    return distributed().LocalCluster(n_workers=workers, threads_per_worker=1,
                                      dashboard_address=None,
                                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, else of a local cluster of
    ``workers`` worker processes (one thread each, no dashboard), closed on the way out.  The
    local workers ignore SIGINT: a terminal's ^C reaches the whole foreground process group,
    and the process owning the cluster is the one to decide how its work ends."""
    d = distributed()
    if scheduler is None:
        with _workers_ignore_sigint():
            cluster = local_cluster(workers)
        with cluster, d.Client(cluster) as client:
            yield client
        return
    try:
        client = d.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r}: {error}") from None
    with client:
        yield client


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Processes started meanwhile inherit SIGINT ignored (Python keeps it so), when this
    runs in the main thread (the only one that may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
