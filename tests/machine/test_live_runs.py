"""Live and interruptible runs (docs/debugging.md): `pipsim run` in a real subprocess on an
image that never ends (firmware sample forever): the console and the trace arrive while it
runs, SIGINT and SIGTERM stop it cleanly with where each partition was; and in process,
slices change nothing the guest sees and the trace ring never drops an event silently."""
import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.trace import KINDS

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
ARCHES = ["arm", "x86"]
WAIT = 60           # seconds: a bound on each wait, never a timing assertion


def image(arch: str, name: str = "forever") -> str:
    path = BUILD / arch / f"{name}.elf"
    assert path.exists(), f"{path} is missing: run `make firmware`"
    return str(path)


class Pipsim:
    """`pipsim run ...` in a subprocess, its stdout read line by line as it comes."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipsim.kernel.cli", "run", *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def line(self) -> str:
        """The next line, within WAIT seconds (the run still going)."""
        line = self.lines.get(timeout=WAIT)
        assert line is not None, f"the run ended: {self.process.stderr.read()}"
        return line

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=WAIT)
        rest = []
        while (line := self.lines.get(timeout=WAIT)) is not None:
            rest.append(line)
        return code, "".join(rest)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("signum, mode", [(signal.SIGINT, "exact"), (signal.SIGTERM, "exact"),
                                          (signal.SIGINT, "fast")])
def test_a_run_that_never_ends_prints_live_and_stops_on_a_signal(arch, signum, mode, tmp_path):
    trace = tmp_path / "trace.jsonl"
    run = Pipsim(image(arch), "--mode", mode, "--trace", str(trace))
    try:
        # the first line, printed by the first instructions, arrives while the run goes on
        assert run.line().startswith("scheduler: children A and B")
        assert run.line().rstrip() in ("A1", "B1")
        # the trace too: its file grows while the machine runs
        deadline = time.monotonic() + WAIT
        while len(trace.read_text().splitlines()) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.process.poll() is None
        lines = trace.read_text().splitlines()
        assert json.loads(lines[0])["format"] == "pipsim-trace"
        assert {json.loads(line)["event"] for line in lines[1:99]} >= {"syscall"}
        run.process.send_signal(signum)
        code, rest = run.finish()
    finally:
        run.kill()
    assert code == 128 + signum
    name = signal.Signals(signum).name
    assert f"stopped by {name}: where each partition was" in rest
    assert "root (pd 1): " in rest and "stopped: interrupted" in rest
    # the two children and the root, one of them running, each with a pc
    where = [line for line in rest.splitlines() if line.startswith("  ") and ", pc 0x" in line]
    assert len(where) == 3 and sum(": running," in line for line in where) == 1
    # the trace file is whole: every line JSON, the last one complete
    assert all(json.loads(line) for line in trace.read_text().splitlines())


def test_a_trace_path_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "run", image("arm", "hello"),
                          "--trace", str(tmp_path / "no" / "such" / "dir.jsonl")],
                         capture_output=True, text=True, timeout=WAIT)
    assert run.returncode == 2
    assert "cannot write the trace to" in run.stderr and "No such file" in run.stderr
    assert "Hello World" not in run.stdout          # nothing ran


def counted(arch: str, **run) -> dict:
    machine = Machine(arch)
    machine.load(image(arch))
    machine.tracing = True
    events = []

    def between(m):
        events.extend(m.take_trace())
        return False
    result = machine.run(max_instructions=3_000_000, **run,
                         **({} if "between" in run else {"between": between}))
    events.extend(machine.take_trace())
    return {"counters": result.counters, "stop": result.stop,
            "console": result.console if "between" in run else None, "events": events}


@pytest.mark.parametrize("arch", ARCHES)
def test_slices_change_nothing_the_guest_sees(arch):
    """Exact mode: the same counts and the same trace, run whole or in 1 µs slices."""
    whole = counted(arch, between=None)
    sliced = counted(arch, slice_seconds=1e-6)
    assert whole["stop"] == sliced["stop"] == "budget"
    assert whole["counters"] == sliced["counters"]
    assert whole["events"] == sliced["events"] and whole["events"]


@pytest.mark.parametrize("arch", ARCHES)
def test_the_trace_ring_is_drained_in_time_and_never_drops_silently(arch):
    """An instruction trace: more events than the ring holds.  Sliced, the ring ends a slice
    before it is full (the slices are long: only that can end them) and every event arrives;
    whole, what did not fit is counted."""
    from pipsim.kernel._pipcore import lib
    budget = 200_000

    def machine():
        m = Machine(arch)
        m.load(image(arch))
        m.tracing = True
        m.trace_instructions()
        return m
    events, slices = [], []

    def between(m):
        slices.append(1)
        events.extend(m.take_trace())
        return False
    result = machine().run(max_instructions=budget, between=between, slice_seconds=3600)
    c = result.counters
    assert len(events) > lib.PIP_TRACE_CAP and c["trace_dropped"] == 0 and len(slices) > 1
    kinds = [KINDS[e.kind] for e in events]
    # x86: one event per instruction counted; ARM: the engine's code hook skips the
    # instructions of a Thumb-2 IT block whose condition fails (docs/debugging.md)
    if arch == "x86":
        assert kinds.count("instruction") == c["instructions"]
    else:
        assert c["instructions"] - 100 < kinds.count("instruction") <= c["instructions"]
    assert kinds.count("syscall") == c["syscalls"] and kinds.count("swi") == c["swis"]

    whole = machine()
    result = whole.run(max_instructions=budget)
    kept = len(whole.take_trace())
    assert kept == lib.PIP_TRACE_CAP
    assert kept + result.counters["trace_dropped"] == len(events)
