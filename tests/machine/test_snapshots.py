"""Snapshots (docs/debugging.md "Snapshots and replay"): a run saved at N and restored in a
fresh process goes on exactly as the run that never stopped (console, counters, trace); a
restore is repeatable; a snapshot that is not one, damaged, of another version, architecture
or geometry is refused with what differs, the machine as it was."""
import hashlib
import json
import os
import pathlib
import re
import struct
import subprocess
import sys
import zlib

import cbor2
import pytest

from pipsim.kernel import exits
from pipsim.kernel._pipcore import ffi
from pipsim.kernel.machine import Machine, snapshot
from pipsim.kernel.machine.devices import Registers
from pipsim.kernel.machine.snapshot import SnapshotError

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
ARCHES = ["arm", "x86"]
WAIT = 300          # seconds: a bound on each subprocess, never a timing assertion


def image(arch: str, name: str) -> str:
    path = BUILD / arch / f"{name}.elf"
    assert path.exists(), f"{path} is missing: run `make firmware`"
    return str(path)


def pipsim(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=WAIT)


class Output:
    """A `pipsim run` stdout: the console before the summary (its line breaks dropped: a
    run that stops mid-line ends it), the summary (TLB fills dropped: a restored engine
    starts with an empty TLB), and the instruction count it stopped at."""

    def __init__(self, stdout: str):
        lines = stdout.splitlines()
        end = next(i for i, line in enumerate(lines) if line.startswith("stopped: "))
        self.console = "".join(line for line in lines[:end] if not line.startswith("restored "))
        self.summary = [re.sub(r", TLB fills \d+", "", line) for line in lines[end:]
                        if not line.startswith("snapshot ")]
        self.instructions = int(re.search(r"instructions (\d+)", lines[end + 1]).group(1))


def events(path) -> list[dict]:
    lines = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]
    assert lines[0]["event"] == "trace"
    return lines[1:]


# sample, where to save, how far the straight run goes (None: to its halt)
REPLAYS = [("scheduler", 600_000, None),        # timer interrupts, two preempted children
           ("attacker", 55_000, None),          # faults, partitions, the root's FP / TPIDRURW
           ("forever", 3_000_000, 2_000_000)]   # never ends: M more after the snapshot


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name, at, more", REPLAYS)
def test_a_run_restored_in_a_fresh_process_goes_on_as_the_straight_run(arch, name, at, more,
                                                                        tmp_path):
    img, snap = image(arch, name), tmp_path / "s.snap"
    saved = pipsim(img, "--save-at", at, "--snapshot", snap, "--trace", tmp_path / "b1.jsonl")
    assert saved.returncode == 0, saved.stderr
    before = Output(saved.stdout)
    assert 0 < before.instructions <= at and snap.exists()
    assert f"snapshot {snap}: " in saved.stdout
    limit = ("--max-instructions", more) if more else ()
    restored = pipsim("--restore", snap, *limit, "--trace", tmp_path / "b2.jsonl")
    straight_limit = ("--max-instructions", before.instructions + more) if more else ()
    straight = pipsim(img, *straight_limit, "--trace", tmp_path / "a.jsonl")
    budget_or_halt = exits.BUDGET if more else exits.OK
    assert restored.returncode == straight.returncode == budget_or_halt, restored.stderr
    assert restored.stdout.startswith(f"restored {snap}: {arch}, 4096 pages, policy pip, "
                                      f"mode exact, at instruction {before.instructions}\n")
    after, whole = Output(restored.stdout), Output(straight.stdout)
    assert before.console + after.console == whole.console
    assert after.summary == whole.summary         # counters, per partition too
    assert after.instructions > before.instructions
    tail = events(tmp_path / "b2.jsonl")
    assert tail and events(tmp_path / "b1.jsonl") + tail == events(tmp_path / "a.jsonl")


def run(machine, instructions):
    machine.tracing = True
    result = machine.run(max_instructions=instructions)
    return result, machine.take_trace()


def untimed(partitions: dict) -> dict:
    """Per-partition counters but host time."""
    return {pd: {k: v for k, v in s.items() if k != "host_ns"} for pd, s in partitions.items()}


def same_run(a, b, tlb=True):
    (ra, ta), (rb, tb) = a, b
    assert ra.console == rb.console and ta == tb and ra.stop == rb.stop
    assert [untimed(ra.partitions)] == [untimed(rb.partitions)]
    counted = [c for c in ra.counters if tlb or c != "tlb_fills"]
    assert [ra.counters[c] for c in counted] == [rb.counters[c] for c in counted]


@pytest.mark.parametrize("arch", ARCHES)
def test_a_snapshot_in_a_preempted_child_restores_twice_the_same(arch):
    machine = Machine(arch)
    machine.load(image(arch, "forever"))
    first, _ = run(machine, 3_000_000)
    k = machine.kernel
    assert k.current != k.root and first.counters["irqs"] > 0    # a child the timer preempts
    data = machine.snapshot()
    one, two = Machine.from_snapshot(data), Machine.from_snapshot(data)
    assert one.pc() == two.pc() == machine.pc()
    assert one.kernel.current == machine.kernel.current
    assert one.kernel.cpu_context == two.kernel.cpu_context
    assert one.counters() == machine.counters()
    runs = [run(m, 1_500_000) for m in (one, two, machine)]
    same_run(runs[0], runs[1])                     # the same file: the same run, all of it
    same_run(runs[0], runs[2], tlb=False)          # and the run that never stopped
    assert runs[0][0].console and runs[0][1]


@pytest.mark.parametrize("arch", ARCHES)
def test_the_trace_not_yet_taken_is_in_the_snapshot(arch):
    machine = Machine(arch)
    machine.load(image(arch, "scheduler"))
    machine.tracing = True
    machine.run(max_instructions=400_000)
    restored = Machine.from_snapshot(machine.snapshot())
    assert restored.tracing
    assert restored.take_trace() == machine.take_trace() != []


def test_what_the_machine_knows_of_python_partitions_and_devices_is_restored():
    lamp = Registers("lamp")
    machine = Machine("arm", devices=[lamp], python_root=True, policy="hardened")
    lamp.set(8, 0x1234)
    machine.timer_period = 777
    fresh = Registers("lamp")
    restored = Machine.from_snapshot(machine.snapshot(), devices=[fresh])
    assert fresh.get(8) == 0x1234 and restored.timer_period == 777
    assert restored.is_python_partition(restored.kernel.root.pd)
    assert restored.kernel.policy == "hardened"


def test_a_device_that_cannot_say_its_registers_is_no_partial_snapshot():
    class Mute:
        name = "mute"

        def read(self, offset, size):
            return 0

        def write(self, offset, size, value):
            pass
    with pytest.raises(SnapshotError, match="'mute' has no state"):
        Machine("arm", devices=[Mute()]).snapshot()


def test_fast_mode_saves_at_the_first_slice_after_n_ns_and_goes_on(tmp_path):
    snap = tmp_path / "fast.snap"
    saved = pipsim(image("arm", "forever"), "--mode", "fast", "--save-at", 50_000_000,
                   "--snapshot", snap)
    assert saved.returncode == 0, saved.stderr
    restored = pipsim("--restore", snap, "--max-seconds", 0.3)
    assert restored.returncode == exits.BUDGET, restored.stderr
    assert "mode fast" in restored.stdout.splitlines()[0]
    syscalls = [int(re.search(r"syscalls (\d+)", out.stdout).group(1)) for out in (saved, restored)]
    assert syscalls[1] > syscalls[0] > 0          # it went on from where it was


# ---- refusals ----
@pytest.fixture(scope="module")
def arm_snapshot() -> bytes:
    machine = Machine("arm")
    machine.load(image("arm", "scheduler"))
    machine.run(max_instructions=300_000)
    return machine.snapshot()


def reframe(data: bytes, header=None, sections=None) -> bytes:
    """The snapshot with its header fields or sections changed, framed and digested anew."""
    taken = snapshot.decode(data)
    h = {**taken.header, **(header or {})}
    secs = {**taken.sections, **(sections or {})}
    stored = {n: zlib.compress(secs[n]) for n in snapshot.SECTIONS}
    h["sections"] = [[n, len(secs[n]), len(stored[n])] for n in snapshot.SECTIONS]
    head = cbor2.dumps(h)
    body = snapshot.MAGIC + struct.pack("<I", len(head)) + head + b"".join(
        stored[n] for n in snapshot.SECTIONS)
    return body + hashlib.sha256(body).digest()


def with_state(data: bytes, **fields) -> bytes:
    record = bytearray(snapshot.decode(data).sections["state"])
    state = ffi.cast("pip_snapshot *", ffi.from_buffer(record))
    for name, value in fields.items():
        setattr(state, name, value)
    return reframe(data, sections={"state": bytes(record)})


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


BAD = {
    "not a snapshot": (lambda d: pathlib.Path(image("arm", "hello")).read_bytes(),
                       "not a pipsim snapshot"),
    "truncated": (lambda d: d[:-1000], "damaged"),
    "a flipped byte in the memory": (lambda d: flipped(d, len(d) - 200), "damaged"),
    "a flipped byte in the header": (lambda d: flipped(d, len(snapshot.MAGIC) + 10), "damaged"),
    "another format version": (lambda d: reframe(d, {"version": 99}),
                               "format version 99; this pipsim reads version 1"),
    "another pipsim": (lambda d: reframe(d, {"pipsim": "0.0.1"}), "written by pipsim '0.0.1'"),
    "another architecture": (lambda d: reframe(d, {"arch": "x86"}),
                             "arch 'x86' \\(this machine: 'arm'\\)"),
    "another geometry": (lambda d: Machine("arm", pages=2048).snapshot(),
                         "pages 2048 \\(this machine: 4096\\)"),
    "memory beyond its pages": (lambda d: reframe(d, {"pages": 2048}),
                                "section memory is larger than its header's pages"),
    "a record of another layout": (lambda d: with_state(d, version=7), "another layout version"),
    "a current partition out of range": (lambda d: with_state(d, current=1 << 20),
                                         "a value out of range"),
    "a record cut short": (lambda d: reframe(d, sections={
        "state": snapshot.decode(d).sections["state"][:-8]}), "wrong size"),
}


def fingerprint(machine) -> tuple:
    return (bytes(machine.kernel.physical_memory()), machine.counters(), machine.pc(),
            machine.kernel.cpu_context, machine.kernel.current, machine.mode)


@pytest.mark.parametrize("case", BAD)
def test_a_bad_snapshot_is_refused_with_what_differs_and_the_machine_as_it_was(case,
                                                                              arm_snapshot):
    spoil, message = BAD[case]
    machine, twin = Machine("arm"), Machine("arm")
    for m in (machine, twin):
        m.load(image("arm", "scheduler"))
        m.run(max_instructions=200_000)
    before = fingerprint(machine)
    with pytest.raises(SnapshotError, match=message):
        machine.restore(spoil(arm_snapshot))
    assert fingerprint(machine) == before
    same_run(run(machine, 300_000), run(twin, 300_000))   # and it runs on as if never asked


def test_an_x86_machine_refuses_an_arm_snapshot(arm_snapshot):
    machine = Machine("x86")
    with pytest.raises(SnapshotError, match="arch 'arm' \\(this machine: 'x86'\\)"):
        machine.restore(arm_snapshot)


@pytest.mark.parametrize("case", ["truncated", "another format version", "not a snapshot"])
def test_pipsim_refuses_a_bad_snapshot_with_a_usage_error(case, arm_snapshot, tmp_path):
    spoil, message = BAD[case]
    path = tmp_path / "bad.snap"
    path.write_bytes(spoil(arm_snapshot))
    out = pipsim("--restore", path)
    assert out.returncode == 2 and out.stdout == ""
    assert re.match(f"pipsim: error: .*{message}", out.stderr) and "Traceback" not in out.stderr


def test_pipsim_refuses_flags_a_snapshot_contradicts(arm_snapshot, tmp_path):
    path = tmp_path / "arm.snap"
    path.write_bytes(arm_snapshot)
    out = pipsim("--restore", path, "--arch", "x86")
    assert out.returncode == 2
    assert "--arch x86, but the snapshot" in out.stderr and "arch arm" in out.stderr
    out = pipsim(image("arm", "hello"), "--restore", path)
    assert out.returncode == 2 and "no image with it" in out.stderr


def test_save_at_is_refused_where_a_snapshot_would_be_partial_or_unwritten(tmp_path):
    snap = tmp_path / "s.snap"
    out = pipsim("--save-at", 5, "--snapshot", snap)       # the default image
    assert out.returncode == 2 and "--save-at needs an image" in out.stderr
    assert "Python objects" in out.stderr
    out = pipsim(image("arm", "exit"), "--child", "--save-at", 5, "--snapshot", snap)
    assert out.returncode == 2 and "--save-at is for a root image" in out.stderr
    out = pipsim(image("arm", "hello"), "--save-at", 5, "--snapshot", tmp_path / "no" / "s")
    assert out.returncode == 2 and "cannot write the snapshot" in out.stderr
    out = pipsim(image("arm", "hello"), "--save-at", 5)
    assert out.returncode == 2 and "go together" in out.stderr
    # the run halts before the point: no snapshot, and no file left behind
    out = pipsim(image("arm", "attacker"), "--save-at", 10**9, "--snapshot", snap)
    assert out.returncode == 2 and "no snapshot written: the run stopped (halt)" in out.stderr
    assert "stopped: halt" in out.stdout
    assert os.listdir(tmp_path) == []
