"""Running a sweep: every parameter point times every repeat, each with a seed derived from
(--seed, experiment, point, repeat); rows streamed to the CSV as runs end; runs already in the
CSV with status ok are skipped (resume); a run that raises is recorded as failed and the sweep
goes on; a JSON summary at the end."""
from __future__ import annotations

import datetime
import hashlib
import os
import json
import platform
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from . import registry
from .engines import make_engine
from .errors import ExperimentError
from .params import grid_points, parse_grid
from .provenance import package_version, source_state
from .results import ResultsFile, output_dir, run_key


@dataclass(frozen=True)
class Task:
    """One run, self-contained so any worker can execute it."""

    experiment: str
    ref: str             # "module:function": where the worker finds the experiment
    point: tuple         # ((name, value), ...)
    repeat: int
    seed: int


@dataclass
class SweepReport:
    """What a sweep did: runs planned, skipped (already in the CSV), ok and failed; where its
    CSV and JSON summary are."""

    planned: int
    skipped: int
    ok: int
    failed: int
    csv: Path
    summary: Path


def derive_seed(base: int, experiment: str, point: dict, repeat: int) -> int:
    """A 63-bit seed that depends on nothing but its arguments."""
    text = json.dumps([base, experiment, sorted(point.items()), repeat])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def plan(exp: registry.Experiment, grid: dict, repeat: int, seed: int) -> list[Task]:
    """The runs of a sweep: every point of ``grid`` times ``repeat``, each with its seed."""
    return [Task(exp.name, exp.ref, tuple(point.items()), r,
                 derive_seed(seed, exp.name, point, r))
            for point in grid_points(grid) for r in range(repeat)]


def _row(task: Task) -> dict:
    """The fields of a row that do not depend on the run's outcome."""
    return {"experiment": task.experiment, **dict(task.point), "repeat": task.repeat,
            "seed": task.seed, "version": package_version(), "machine": platform.platform(),
            "host": socket.gethostname(), "python": platform.python_version(),
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_task(task: Task) -> dict:
    """Execute one run and return its CSV row; never raises for a failing experiment."""
    row = _row(task)
    start = time.perf_counter()
    try:
        exp = registry.resolve(task.ref, task.experiment)
        row.update(_measures(exp, exp.func(dict(task.point), random.Random(task.seed))))
        row.update(status="ok", error="")
    except Exception as error:
        row.update(status="failed", error=f"{type(error).__name__}: {error}")
    row["elapsed_s"] = round(time.perf_counter() - start, 6)
    return row


def _measures(exp: registry.Experiment, result: object) -> dict:
    if not isinstance(result, dict):
        raise TypeError(f"experiment {exp.name!r} returned {type(result).__name__}, not a dict")
    unknown = sorted(set(result) - set(exp.measures))
    if unknown:
        raise KeyError(f"experiment {exp.name!r} returned undeclared measurements {unknown}")
    return result


def lost_row(task: Task, error: BaseException) -> dict:
    """The row of a run the engine lost (its worker died)."""
    return {**_row(task), "status": "failed", "error": f"{type(error).__name__}: {error}",
            "elapsed_s": ""}


def run_sweep(name: str, assignments: Sequence[str] = (), *, repeat: int = 1, seed: int = 0,
              out: str | os.PathLike = "results",
              jobs: int = 1, engine: str = "local", scheduler: str | None = None,
              progress: bool = True) -> SweepReport:
    """Run experiment `name` over the grid given by `assignments` (``--param`` strings)."""
    exp = registry.get(name)
    exp.check_runnable()
    grid = parse_grid(name, exp.params, assignments)
    if repeat < 1:
        raise ExperimentError(f"--repeat must be at least 1, got {repeat}")
    results = ResultsFile(output_dir(out), exp)
    tasks = plan(exp, grid, repeat, seed)
    done = results.done()
    todo = [t for t in tasks if run_key(exp, {**dict(t.point), "repeat": t.repeat,
                                              "seed": t.seed}) not in done]
    ok = failed = 0
    source = source_state()         # the sweep's code: every row says which (commit, dirty)
    with make_engine(engine, jobs, scheduler) as runner, results.appender() as write, \
            tqdm(total=len(todo), desc=name, unit="run", disable=not progress) as bar:
        for task, outcome in runner.imap(run_task, todo):
            row = outcome if isinstance(outcome, dict) else lost_row(task, outcome)
            write({**row, **source})
            ok, failed = ok + (row["status"] == "ok"), failed + (row["status"] != "ok")
            bar.update()
            bar.set_postfix(failed=failed, refresh=False)
    results.write_summary({"version": package_version(), **source,
                           "machine": platform.platform(), "python": platform.python_version(),
                           "csv": results.path.name})
    return SweepReport(len(tasks), len(tasks) - len(todo), ok, failed, results.path,
                       results.summary_path)
