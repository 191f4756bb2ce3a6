"""Where the runs of a sweep execute: this process, a pool of local processes, or a Dask
cluster.  Every engine maps a function over tasks and yields ``(task, row or exception)`` as the
runs end, in any order; an exception stands for a run the engine itself lost (a dead worker)."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from typing import Callable, Iterable, Iterator

from pipsim.kernel.dask_cluster import ClusterError, dask_client, distributed

from .errors import ExperimentError

ENGINES = ("local", "dask")


class LocalEngine:
    """`jobs` = 1: every run in this process, in order; more: a pool of `jobs` processes."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def imap(self, fn: Callable, tasks: Iterable) -> Iterator[tuple]:
        if self.jobs == 1:
            for task in tasks:
                yield task, fn(task)
            return
        pool = ProcessPoolExecutor(max_workers=self.jobs)
        try:
            futures = {pool.submit(fn, task): task for task in tasks}
            for future in as_completed(futures):
                yield futures[future], _outcome(future)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class DaskEngine:
    """A Dask cluster (``pipsim.kernel.dask_cluster``): the scheduler at `scheduler`, or a local
    cluster of `jobs` workers."""

    def __init__(self, jobs: int, scheduler: str | None = None):
        try:
            self._distributed = distributed()
        except ClusterError as error:
            raise ExperimentError(str(error)) from None
        self.jobs, self.scheduler = jobs, scheduler
        self.client = None
        self._stack = ExitStack()

    def __enter__(self) -> "DaskEngine":
        try:
            self.client = self._stack.enter_context(dask_client(self.jobs, self.scheduler))
        except ClusterError as error:
            raise ExperimentError(str(error)) from None
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def imap(self, fn: Callable, tasks: Iterable) -> Iterator[tuple]:
        tasks = list(tasks)
        futures = self.client.map(fn, tasks, pure=False)
        by_key = {f.key: task for f, task in zip(futures, tasks)}
        try:
            for future in self._distributed.as_completed(futures):
                yield by_key[future.key], _outcome(future)
        finally:
            self.client.cancel(futures)


def _outcome(future):
    try:
        return future.result()
    except Exception as error:          # the engine lost the run; the sweep goes on
        return error


def make_engine(name: str, jobs: int, scheduler: str | None = None):
    if name not in ENGINES:
        raise ExperimentError(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")
    if jobs < 1:
        raise ExperimentError(f"--jobs must be at least 1, got {jobs}")
    if name == "local":
        if scheduler is not None:
            raise ExperimentError("--scheduler is for --engine dask")
        return LocalEngine(jobs)
    return DaskEngine(jobs, scheduler)
