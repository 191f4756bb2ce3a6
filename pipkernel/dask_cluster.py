"""A Dask cluster to run work on (the dask extra): the scheduler at an address, or a local
cluster of single-threaded worker processes.  The experiments' sweep engine and the device
fleet both run on it; neither builds a cluster of its own."""
from __future__ import annotations

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


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, else of a local cluster of
    ``workers`` worker processes (one thread each, no dashboard), closed on the way out."""
    d = distributed()
    if scheduler is None:
        with d.LocalCluster(n_workers=workers, threads_per_worker=1,
                            dashboard_address=None) as cluster, d.Client(cluster) as client:
            yield client
        return
    try:
        client = d.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r}: {error}") from None
    with client:
        yield client
