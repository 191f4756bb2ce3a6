"""The sweep runner: CSV rows, seeds, resume, failures, parallel jobs, the Dask engine."""
import csv
import json

import pytest

from pipsim.experiments import ExperimentError, run_sweep
from pipsim.experiments.results import columns
from pipsim.experiments import registry
from pipsim.kernel.dask_cluster import local_cluster


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sweep(out, *params, **kw):
    return run_sweep("toy", params, out=out, progress=False, **kw)


def test_one_row_per_run_with_everything_recorded(tmp_path):
    report = sweep(tmp_path, "x=1..3", repeat=2)
    assert (report.planned, report.skipped, report.ok, report.failed) == (6, 0, 6, 0)
    table = rows(report.csv)
    assert list(table[0]) == columns(registry.get("toy"))
    assert [(r["x"], r["repeat"]) for r in table] == [(str(x), str(r)) for x in (1, 2, 3)
                                                       for r in (0, 1)]
    for row in table:
        assert row["status"] == "ok" and row["error"] == "" and row["y"] == str(2 * int(row["x"]))
        assert row["version"] and row["machine"] and row["python"] and row["timestamp"]
    summary = json.loads(report.summary.read_text())
    point = summary["points"][1]
    assert point["params"] == {"x": 2, "fail_at": -1, "crash_at": -1}
    assert point["runs_ok"] == 2 and point["measures"]["y"] == {"mean": 4.0, "std": 0.0, "n": 2}


def test_seeds_are_deterministic(tmp_path):
    first = rows(sweep(tmp_path / "a", "x=1,2", repeat=2, seed=7).csv)
    again = rows(sweep(tmp_path / "b", "x=1,2", repeat=2, seed=7).csv)
    other = rows(sweep(tmp_path / "c", "x=1,2", repeat=2, seed=8).csv)
    draws = [(r["seed"], r["r"]) for r in first]
    assert draws == [(r["seed"], r["r"]) for r in again]
    assert len(set(draws)) == 4                               # every run its own seed
    assert not set(draws) & {(r["seed"], r["r"]) for r in other}


def test_resume_skips_finished_runs(tmp_path):
    sweep(tmp_path, "x=1..3")
    report = sweep(tmp_path, "x=1..5")
    assert (report.planned, report.skipped, report.ok) == (5, 3, 2)
    assert [r["x"] for r in rows(report.csv)] == ["1", "2", "3", "4", "5"]
    assert sweep(tmp_path, "x=1..5").skipped == 5


def test_resume_after_an_interruption_mid_row(tmp_path):
    csv_path = sweep(tmp_path, "x=1,2").csv
    text = csv_path.read_text()
    csv_path.write_text(text[:text.rstrip("\n").rfind("\n") + 1] + "toy,2,-1,-1,0,12")
    report = sweep(tmp_path, "x=1,2")
    assert (report.skipped, report.ok) == (1, 1)
    assert [r["x"] for r in rows(csv_path)] == ["1", "2"]


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    report = sweep(tmp_path, "x=1..3", "fail_at=2")
    assert (report.ok, report.failed) == (2, 1)
    failed = [r for r in rows(report.csv) if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["x"] == "2" and failed[0]["y"] == ""
    assert failed[0]["error"] == "ValueError: x=2 fails on purpose"
    summary = json.loads(report.summary.read_text())
    assert summary["points"][1]["runs_failed"] == 1
    assert summary["points"][1]["errors"] == ["ValueError: x=2 fails on purpose"]
    again = sweep(tmp_path, "x=1..3", "fail_at=2")              # failed runs are retried
    assert (again.skipped, again.failed) == (2, 1)


def test_undeclared_measurements_fail_the_run(tmp_path):
    report = run_sweep("toy_undeclared", out=tmp_path, progress=False)
    assert report.failed == 1
    assert "undeclared measurements ['z']" in rows(report.csv)[0]["error"]


def test_parallel_jobs_give_the_same_rows(tmp_path):
    serial = rows(sweep(tmp_path / "serial", "x=0..7", repeat=2).csv)
    parallel = rows(sweep(tmp_path / "parallel", "x=0..7", repeat=2, jobs=2).csv)
    key = lambda r: (int(r["x"]), r["repeat"], r["seed"], r["y"], r["r"], r["status"])  # noqa
    assert sorted(map(key, serial)) == sorted(map(key, parallel))


def test_a_worker_that_dies_is_recorded(tmp_path):
    report = sweep(tmp_path, "x=1..3", "crash_at=2", jobs=2)
    assert report.failed >= 1
    lost = [r for r in rows(report.csv) if r["status"] == "failed"]
    assert any(r["x"] == "2" for r in lost) and all("BrokenProcessPool" in r["error"] for r in lost)


def test_the_dask_engine_on_a_local_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    params = ("depth=1..2", "shape=chain,star", "table_size=16")
    local = run_sweep("memory_overhead", params, out=tmp_path / "local", progress=False)
    with local_cluster(2) as cluster:
        report = run_sweep("memory_overhead", params, out=tmp_path / "dask", engine="dask",
                           scheduler=cluster.scheduler_address, progress=False)
    assert (report.ok, report.failed) == (4, 0)
    key = lambda r: (r["shape"], r["depth"], r["seed"], r["kernel_pages"])  # noqa
    assert sorted(map(key, rows(report.csv))) == sorted(map(key, rows(local.csv)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="nope"), "unknown experiment 'nope'; known: "),
    (dict(name="toy", assignments=["y=1"]), "unknown parameter 'y' for experiment 'toy'"),
    (dict(name="toy", assignments=["x=3..1"]), "empty range"),
    (dict(name="toy", repeat=0), "--repeat must be at least 1"),
    (dict(name="toy", jobs=0), "--jobs must be at least 1"),
    (dict(name="toy", engine="slurm"), "unknown engine 'slurm'"),
    (dict(name="toy", scheduler="tcp://x:1"), "--scheduler is for --engine dask"),
    (dict(name="toy_machine"), "needs the Unicorn machine"),
])
def test_bad_input(tmp_path, kwargs, message):
    with pytest.raises(ExperimentError) as error:
        run_sweep(out=tmp_path, progress=False, **kwargs)
    assert message in str(error.value)


def test_an_unwritable_output_directory(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ExperimentError, match="cannot write results to '.*file/out'"):
        sweep(tmp_path / "file" / "out")


def test_a_csv_with_other_columns_is_not_appended_to(tmp_path):
    (tmp_path / "toy.csv").write_text("experiment,x\ntoy,1\n")
    with pytest.raises(ExperimentError, match="written with other columns"):
        sweep(tmp_path)
