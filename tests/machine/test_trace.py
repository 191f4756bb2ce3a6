"""Traces tools can read (docs/debugging.md "Traces"): named JSON lines, the faulting
partition and the exact address, instruction traces, and the export to the Chrome trace event
format that Perfetto opens (checked against that format's documented structure)."""
import json
import pathlib

import jsonschema
import pytest

from pipsim.kernel.abi import SYSCALLS, PipError
from pipsim.kernel.cli import main

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
ARCHES = ["arm", "x86"]
CALL_NAMES = {s.name for s in SYSCALLS}


def traced(tmp_path, arch, name, *flags) -> list[dict]:
    path = tmp_path / f"{name}.jsonl"
    assert main(["run", str(BUILD / arch / f"{name}.elf"), "--trace", str(path), *flags]) == 0
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("arch", ARCHES)
def test_events_have_named_fields_and_faults_name_the_faulting_partition(tmp_path, arch):
    header, *events = traced(tmp_path, arch, "attacker")
    assert header == {"event": "trace", "format": "pipsim-trace", "version": 1, "arch": arch,
                      "mode": "exact", "clock": "instructions"}
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[-1] > 0
    calls = [e for e in events if e["event"] == "syscall"]
    assert calls and all(e["name"] in CALL_NAMES for e in calls)
    create = next(e for e in calls if e["name"] == "createPartition")
    assert list(create["args"]) == ["descChild", "pdChild", "sh1Child", "sh2Child", "llChild"]
    refused = [e for e in calls if e["reason"]]           # the attacker's refused calls
    assert refused and all(e["reason"] in PipError.__members__ for e in refused)
    assert all(e["result"] == 0 for e in refused if e["name"] == "addVAddr")
    faults = [e for e in events if e["event"] == "fault"]
    # the attacker faults, its parent (the root) takes each fault
    assert faults and all(e["pd"] != 1 and e["to"] == 1 and e["to_partition"] == "root"
                          for e in faults)
    pages = [e for e in faults if e["what"] == "page fault"]
    assert pages and all(e["access"] in ("read", "write", "execute") for e in pages)
    switches = [e for e in events if e["event"] == "switch"]
    assert switches and all(e["by"] in ("yield", "dispatch", "resume") for e in switches)


@pytest.mark.parametrize("arch", ARCHES)
def test_an_instruction_trace_of_a_partition_and_a_range(tmp_path, arch):
    everything = [e for e in traced(tmp_path, arch, "hello", "--trace-instructions", "pd=1")
                  if e["event"] == "instruction"]
    assert len(everything) > 20 and all(e["pd"] == 1 and e["text"] for e in everything)
    flag = 1 if arch == "arm" else 0                     # ARM: bit 0 is Thumb state
    pcs = sorted({e["pc"] & ~flag for e in everything})
    lo, hi = pcs[len(pcs) // 3], pcs[2 * len(pcs) // 3]
    ranged = [e for e in traced(tmp_path, arch, "hello", "--trace-instructions",
                                f"pd=1,{lo:#x}-{hi:#x}") if e["event"] == "instruction"]
    assert ranged and all(lo <= e["pc"] & ~flag <= hi for e in ranged)
    assert len(ranged) < len(everything)
    assert [e for e in everything if lo <= e["pc"] & ~flag <= hi] == ranged


@pytest.mark.parametrize("flags, message", [
    (["--trace-instructions", "all"], "needs --trace"),
    (["--trace", "-", "--trace-instructions", "all", "--mode", "fast"], "needs mode exact"),
    (["--trace", "-", "--trace-instructions", "1-2-3"], "expected all, pd=N, LO-HI"),
    (["--trace", "-", "--trace-instructions", "0x10-0x1"], "not a range"),
    (["--child", "--trace-instructions", "all"], "--trace-instructions is for a root image"),
])
def test_bad_trace_flags_are_refused(capsys, flags, message):
    assert main(["run", str(BUILD / "arm" / "hello.elf"), *flags]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Hello World" not in captured.out


# The Chrome trace event format ("Trace Event Format", the JSON Object Format that Perfetto's
# legacy JSON importer and chrome://tracing read): an object whose traceEvents is a list of
# events; every event has ph, pid, tid; "X" complete events a name, ts and dur in µs;
# "i" instant events a name, ts and a scope s; "M" metadata events process_name / thread_name
# with args.name.
CHROME_TRACE = {
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
        "traceEvents": {"type": "array", "items": {
            "type": "object",
            "required": ["ph", "pid", "tid", "name"],
            "properties": {"ph": {"enum": ["X", "i", "M"]}, "pid": {"type": "integer"},
                           "tid": {"type": "integer"}, "name": {"type": "string"},
                           "args": {"type": "object"}},
            "allOf": [
                {"if": {"properties": {"ph": {"const": "X"}}},
                 "then": {"required": ["ts", "dur"],
                          "properties": {"ts": {"type": "number", "minimum": 0},
                                         "dur": {"type": "number", "minimum": 0}}}},
                {"if": {"properties": {"ph": {"const": "i"}}},
                 "then": {"required": ["ts", "s"],
                          "properties": {"ts": {"type": "number", "minimum": 0},
                                         "s": {"enum": ["g", "p", "t"]}}}},
                {"if": {"properties": {"ph": {"const": "M"}}},
                 "then": {"required": ["args"],
                          "properties": {"name": {"enum": ["process_name", "thread_name"]},
                                         "args": {"required": ["name"]}}}},
            ]}},
    },
}


def nested(slices) -> bool:
    """Complete events on one track either nest or follow each other (what a viewer draws)."""
    open_ends = []
    for ts, end in sorted(slices, key=lambda s: (s[0], -s[1])):
        while open_ends and open_ends[-1] <= ts + 1e-9:
            open_ends.pop()
        if open_ends and end > open_ends[-1] + 1e-9:
            return False
        open_ends.append(end)
    return True


@pytest.mark.parametrize("arch", ARCHES)
def test_the_export_is_a_chrome_trace_with_partitions_as_tracks(tmp_path, arch, capsys):
    source = tmp_path / "attacker.jsonl"
    events = traced(tmp_path, arch, "attacker")
    out = tmp_path / "attacker.json"
    assert main(["trace", "export", str(source), "-o", str(out)]) == 0
    assert "ui.perfetto.dev" in capsys.readouterr().out
    chrome = json.loads(out.read_text())
    jsonschema.validate(chrome, CHROME_TRACE)
    trace = chrome["traceEvents"]
    threads = {e["tid"]: e["args"]["name"] for e in trace if e["name"] == "thread_name"}
    assert threads[1] == "root" and len(threads) == 2        # the root and the attacker
    tracks: dict[int, list] = {}
    for e in trace:
        if e["ph"] == "X":
            tracks.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    assert set(tracks) == set(threads) and all(nested(s) for s in tracks.values())
    runs = [e for e in trace if e["ph"] == "X" and e["name"] == "run"]
    switches = sum(1 for e in events[1:] if e.get("to"))
    assert len(runs) == switches + 1                          # one per turn on the CPU
    calls = [e for e in trace if e["ph"] == "X" and e["name"] != "run"]
    assert len(calls) == sum(1 for e in events if e["event"] == "syscall")
    assert {e["name"] for e in calls} <= CALL_NAMES
    assert chrome["otherData"]["clock"] == "instructions"


@pytest.mark.parametrize("content, message", [
    ("", "no pipsim-trace header"),
    ('{"event": "trace", "format": "pipsim-trace", "version": 99}\n', "version 99"),
    ('{"event": "trace", "format": "pipsim-trace", "version": 1, "arch": "arm", '
     '"mode": "exact", "clock": "instructions"}\n{"t": "soon"}\n', "line 2"),
    ("not json\n", "line 1: not JSON"),
])
def test_export_refuses_what_is_not_a_trace(tmp_path, capsys, content, message):
    source, out = tmp_path / "bad.jsonl", tmp_path / "out.json"
    source.write_text(content)
    assert main(["trace", "export", str(source), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()
