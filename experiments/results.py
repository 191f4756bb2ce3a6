"""Results on disk: one CSV per experiment, a row per run streamed as it ends, and a JSON
summary (mean, standard deviation and count of every measurement at every point)."""
from __future__ import annotations

import csv
import json
import statistics
from contextlib import contextmanager
from pathlib import Path

from .errors import ExperimentError
from .registry import Experiment

#: columns after the parameters and before the measurements / after the measurements
RUN_COLUMNS = ("repeat", "seed", "status", "error")
ENV_COLUMNS = ("elapsed_s", "version", "commit", "dirty", "machine", "host", "python",
               "timestamp")


def columns(exp: Experiment) -> list[str]:
    return ["experiment", *(p.name for p in exp.params), *RUN_COLUMNS, *exp.measures,
            *ENV_COLUMNS]


def run_key(exp: Experiment, row: dict) -> tuple[str, ...]:
    """What identifies a run: its parameter values, repeat index and seed, as written."""
    return tuple(str(row[name]) for name in (*(p.name for p in exp.params), "repeat", "seed"))


def output_dir(path) -> Path:
    """`path`, created if needed; a clear error if it cannot hold results."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".pipsim-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ExperimentError(f"cannot write results to {str(path)!r}: "
                              f"{error.strerror or error}") from None
    return path


class ResultsFile:
    """The CSV of one experiment in an output directory."""

    def __init__(self, out_dir: Path, exp: Experiment):
        self.exp, self.columns = exp, columns(exp)
        self.path = Path(out_dir) / f"{exp.name}.csv"
        self.summary_path = self.path.with_suffix(".json")

    def read(self) -> list[dict]:
        """Every complete row (a line cut short by an interruption is ignored)."""
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != self.columns:
                raise ExperimentError(
                    f"{self.path} was written with other columns than experiment "
                    f"{self.exp.name!r} has now; use another --out directory")
            return [row for row in reader if None not in row.values() and None not in row]

    def done(self) -> set[tuple[str, ...]]:
        """The keys of the runs that ended well: a resumed sweep skips them."""
        return {run_key(self.exp, row) for row in self.read() if row["status"] == "ok"}

    @contextmanager
    def appender(self):
        """A function writing one row, flushed at once so an interruption loses nothing."""
        self._drop_partial_line()
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            if new:
                writer.writeheader()

            def write(row: dict) -> None:
                writer.writerow(row)
                f.flush()
            yield write

    def _drop_partial_line(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[:data.rfind(b"\n") + 1])

    def write_summary(self, meta: dict) -> dict:
        summary = {**meta, **summarize(self.exp, self.read())}
        self.summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def summarize(exp: Experiment, rows: list[dict]) -> dict:
    """Per parameter point: runs ok, runs failed (never ok), and mean/std/n per measurement."""
    names = [p.name for p in exp.params]
    points: dict[tuple, dict] = {}
    for row in rows:
        point = points.setdefault(tuple(row[n] for n in names), {"ok": [], "keys": {}})
        key = (row["repeat"], row["seed"])
        if row["status"] == "ok":
            point["ok"].append(row)
            point["keys"][key] = None
        else:
            point["keys"].setdefault(key, row["error"])
    out = []
    for values, point in points.items():
        errors = [e for e in point["keys"].values() if e is not None]
        out.append({
            "params": {p.name: p.convert(v) for p, v in zip(exp.params, values)},
            "runs_ok": len(point["ok"]), "runs_failed": len(errors),
            "errors": sorted(set(errors))[:3],
            "measures": {m: _stats(point["ok"], m) for m in exp.measures},
        })
    return {"experiment": exp.name, "description": exp.summary, "points": out}


def _stats(rows: list[dict], measure: str) -> dict:
    values = [float(r[measure]) for r in rows if r[measure] != ""]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}
