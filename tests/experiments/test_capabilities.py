"""What an experiment requires (registry.CAPABILITIES) and how a missing part is reported;
bad parameters of the machine and fault experiments."""
import pytest

from pipsim.experiments import ExperimentError, get, run_sweep
from pipsim.experiments.registry import CAPABILITIES, Capability


def test_the_real_machine_is_recognised(machine):
    assert CAPABILITIES["machine"].problem() is None
    assert get("switch_cost").missing() == []


def test_machine_without_firmware_images(machine, monkeypatch, tmp_path, pipsim):
    monkeypatch.setenv("PIPSIM_FIRMWARE_BUILD", str(tmp_path))
    problem = CAPABILITIES["machine"].problem()
    assert problem.startswith("missing ") and str(tmp_path / "arm" / "bench.elf") in problem
    assert "make -C firmware" in problem
    with pytest.raises(ExperimentError, match="switch_cost' needs the Unicorn machine.*missing"):
        run_sweep("switch_cost", out=tmp_path / "out", progress=False)
    code, out, _ = pipsim("experiment", "list")
    line = next(line for line in out.splitlines() if line.startswith("switch_cost"))
    assert "[needs machine: not available yet]" in line


def test_modules_must_import(tmp_path, monkeypatch):
    (tmp_path / "bare_folder").mkdir()                          # a namespace package
    (tmp_path / "broken_mod.py").write_text("import pipsim_tests_absent_dependency\n")
    monkeypatch.syspath_prepend(tmp_path)
    assert Capability("x", ("pipsim_tests_absent",)).problem().endswith("is not installed")
    assert Capability("x", ("bare_folder",)).problem() == "bare_folder is not installed"
    assert "cannot be imported (ModuleNotFoundError" in Capability("x", ("broken_mod",)).problem()
    assert Capability("x", ("json",), lambda: [tmp_path / "broken_mod.py"]).problem() is None


def test_across_needs_two_branches(require, tmp_path):
    require(get("ipc_latency"))
    report = run_sweep("ipc_latency", ["distance=1", "placement=across", "messages=1"],
                       out=tmp_path, progress=False)
    assert report.failed == 1
    assert "needs distance >= 2" in report.csv.read_text()


@pytest.mark.parametrize("name, assignment, message", [
    ("switch_cost", "arch=mips", "parameter arch='mips' is not one of arm, x86"),
    ("switch_cost", "iterations=1", "parameter iterations=1 is below its minimum 2"),
    ("switch_cost", "best_of=0", "parameter best_of=0 is below its minimum 1"),
    ("fault_propagation", "handlers=top", "parameter handlers='top' is not one of"),
    ("fault_propagation", "table_size=16", "parameter table_size=16 is not one of"),
    ("fault_propagation", "depth=13", "parameter depth=13 is above its maximum 12"),
    ("fault_propagation", "handler_every=0", "below its minimum 1"),
    ("ipc_latency", "placement=sideways", "parameter placement='sideways' is not one of"),
    ("ipc_latency", "distance=0", "parameter distance=0 is below its minimum 1"),
    ("ipc_latency", "payload_bytes=478", "parameter payload_bytes=478 is above its maximum"),
])
def test_bad_parameters_are_refused(require, tmp_path, name, assignment, message):
    require(get(name))
    with pytest.raises(ExperimentError) as error:
        run_sweep(name, [assignment], out=tmp_path, progress=False)
    assert message in str(error.value)
    assert not (tmp_path / f"{name}.csv").exists()
