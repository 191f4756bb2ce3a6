"""Traces tools can read (docs/debugging.md "Traces"): the machine's events as self-describing
JSON lines, written while the machine runs, and their export to the Chrome trace event format
that Perfetto (ui.perfetto.dev) and chrome://tracing open.

A trace file is one JSON object per line.  The first is its header (``"event": "trace"``:
format, version, arch, mode and the clock of every ``"t"``); each other line is an event
with ``t``, ``event``, ``pd`` and ``partition`` (who it happened to: a fault names the
faulting partition) and the fields of its kind.  Layers above the machine (the ODSI runtime)
add their own events through `emit`, with the same ``t`` and ``event`` fields."""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, TextIO

from .._pipcore import lib
from ..abi import ACCESS_CODES, SYSCALLS, VECTORS, PipError

if TYPE_CHECKING:                         # the machine imports this module
    from . import Event, Machine

FORMAT, VERSION = "pipsim-trace", 1
#: what "t" counts, by run mode (docs/abi.md "Run modes")
CLOCKS = {"exact": "instructions", "fast": "host_ns"}
KINDS = {lib.PIP_EVENT_SYSCALL: "syscall", lib.PIP_EVENT_SWITCH: "switch",
         lib.PIP_EVENT_FAULT: "fault", lib.PIP_EVENT_SWI: "swi", lib.PIP_EVENT_IRQ: "irq",
         lib.PIP_EVENT_INSN: "instruction"}
VECTOR_NAMES = {v: k.lower().replace("_", " ") for k, v in VECTORS.items()}
ACCESS_NAMES = {v: k for k, v in ACCESS_CODES.items()}
CALLS = {s.number: (s.name, tuple(a.strip() for a in s.doc.split("->")[0].split(","))[:s.arity])
         for s in SYSCALLS}
HOST_CALL_ARGS = tuple(f"a{i}" for i in range(6))
REASONS = {e.value: e.name for e in PipError}

#: the logger layers above the machine write their events to (`emit`); `JsonLines.attach`
#: listens to it
LOGGER = logging.getLogger("pipsim.trace")


def listening() -> bool:
    """Whether a trace takes what `emit` gives (to skip the work of an event nobody reads)."""
    return LOGGER.isEnabledFor(logging.INFO)


def emit(machine: Machine | None, event: str, **fields: Any) -> None:
    """An event of a layer above the machine (the runtime's commands, relay passes, driver
    turns), at the machine's clock; nothing unless a trace listens, or without a machine (a
    Python-only image).  Its fields must not include "pd" (the mark of the machine's own
    events)."""
    if machine is not None and listening():
        LOGGER.info(event, extra={"trace": {"t": machine.clock(), "event": event,
                                            "machine": machine.serial, **fields},
                                  "machine": machine})


def describe(e: Event, names: dict[int, str] | None = None,
             disassemble: Callable[[int, int], str] | None = None) -> dict:
    """One machine event (pipsim.kernel.machine.Event) as a dict with named fields."""
    names = names or {}

    def who(pd: int) -> str:
        return names.get(pd, f"pd {pd}")
    kind = KINDS.get(e.kind, str(e.kind))
    out = {"t": e.time, "event": kind, "pd": e.partition, "partition": who(e.partition),
           "pc": e.pc}
    if kind == "syscall":
        name, params = CALLS.get(e.number, (f"host call {e.number:#x}", HOST_CALL_ARGS))
        out.update(name=name, number=e.number, args=dict(zip(params, e.args)), result=e.result,
                   reason=REASONS.get(e.reason))
    elif kind == "instruction":
        if disassemble:
            out["text"] = disassemble(e.partition, e.pc)
    else:
        if kind == "switch":
            out["by"] = CALLS.get(e.number, (str(e.number),))[0]
        else:
            out.update(vector=e.number, what=VECTOR_NAMES.get(e.number, f"vector {e.number}"))
        if kind == "fault":
            out.update(address=e.args[0], access=ACCESS_NAMES.get(e.args[1]))
        out.update(to=e.result or None, to_partition=who(e.result) if e.result else None)
        if kind == "fault" and not e.result:
            out["outcome"] = "panic"        # no ancestor could take it
    return out


def text(event: dict) -> str:
    """One event as a line for a terminal."""
    t, kind = event["t"], event["event"]
    if kind == "syscall":
        args = ", ".join(f"{k}={v:#x}" for k, v in event["args"].items())
        what = f"{event['name']}({args}) -> {event['result']:#x}" + (
            f" ({event['reason']})" if event.get("reason") else "")
    elif kind == "fault":
        what = (f"{event['what']} at pc {event['pc']:#x}"
                + (f", {event['access']} {event['address']:#x}" if event["access"] else "")
                + f" -> {event['to_partition'] or 'panic'}")
    elif kind == "instruction":
        what = f"{event['pc']:#010x} {event.get('text', '')}"
    elif "to" in event:
        what = f"{event.get('by') or event.get('what')} -> {event['to_partition']}"
    else:
        what = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("t", "event"))
    return f"[{t:>12}] {event.get('partition', ''):<12} {kind:<11} {what}"


class JsonLines:
    """A trace file written as the machine runs: the header (`start`), then events as they
    come (`write`, `drain`), flushed per batch; what layers above emit through `attach`.
    text_mode: lines for a terminal instead (`text`), no header."""

    def __init__(self, handle: TextIO, text_mode: bool = False):
        self.handle, self.text_mode = handle, text_mode
        self.machine: Machine | None = None
        self.names: dict[int, str] = {}
        self.disassemble: Callable[[int, int], str] | None = None
        self._handler: logging.Handler | None = None

    def start(self, machine: Machine, names: dict[int, str] | None = None,
              disassemble: Callable[[int, int], str] | None = None) -> None:
        """The machine whose events follow (the header, once): partition names by pd, and
        how instruction events get their text."""
        if self.machine is None and not self.text_mode:
            self._line({"event": "trace", "format": FORMAT, "version": VERSION,
                        "arch": machine.arch.NAME, "mode": machine.mode,
                        "clock": CLOCKS[machine.mode]})
        self.machine = machine
        self.names.update(names or {})
        self.disassemble = disassemble or self.disassemble

    def _line(self, record: dict) -> None:
        self.handle.write((text(record) if self.text_mode else json.dumps(record)) + "\n")

    def write(self, events: Iterable[dict]) -> None:
        """Events (as describe gives them), written and flushed."""
        for event in events:
            self._line(event)
        self.handle.flush()

    def drain(self) -> None:
        """The machine's events recorded since the last drain, written."""
        assert self.machine is not None, "start comes first"
        self.write(describe(e, self.names, self.disassemble) for e in self.machine.take_trace())

    def attach(self) -> None:
        """Write what layers above the machine `emit`, until `detach`."""
        self._handler = _Emitted(self)
        LOGGER.addHandler(self._handler)
        LOGGER.setLevel(logging.INFO)
        LOGGER.propagate = False

    def detach(self) -> None:
        """Stop writing what layers above emit."""
        if self._handler:
            LOGGER.removeHandler(self._handler)
            self._handler = None


class _Emitted(logging.Handler):
    """What `emit` logs, to a JsonLines."""

    def __init__(self, writer: JsonLines):
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        self.writer.start(getattr(record, "machine"))     # emit's extra fields
        self.writer.write([getattr(record, "trace")])


# ---- export: the Chrome trace event format (Trace Event Format, "JSON Object Format") ----
MACHINE_PID, RUNTIME_PID = 1, 2
TICK_US = 0.001         # a call's slice: 1 ns in the viewer


def to_chrome(lines: Iterable[dict]) -> dict:
    """A trace's header and events as a Chrome trace: partitions as threads of the machine
    process, each with "run" slices from switch to switch; kernel calls as slices on the
    caller's track; faults, interrupts and instructions as instant events; the runtime's
    events as instant events of a second process, a track per image and machine.  ts in µs: host ns / 1000, or in exact mode
    one instruction = 1 ns (the header's clock, kept in otherData)."""
    lines = iter(lines)
    header = next(lines, None)
    if not header or header.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} trace: its first line is no {FORMAT} header")
    if header.get("version") != VERSION:
        raise ValueError(f"a {FORMAT} trace of version {header.get('version')}, not {VERSION}")
    out: list[dict] = []
    names: dict[int, str] = {}
    sources: dict[str, int] = {}         # runtime tracks: an image's name -> its tid
    ends: dict[int, float] = {}          # per track: where its last slice ends
    running: tuple[int, float] | None = None
    last = 0.0

    def slice_(pd: int, name: str, ts: float, dur: float, args: dict | None = None) -> float:
        ts = max(ts, ends.get(pd, 0.0))
        ends[pd] = ts + dur
        out.append({"ph": "X", "pid": MACHINE_PID, "tid": pd, "name": name, "ts": ts,
                    "dur": dur, "args": args or {}})
        return ts + dur

    for n, event in enumerate(lines, 2):
        if not isinstance(event, dict) or not isinstance(event.get("t"), int) \
                or not isinstance(event.get("event"), str):
            raise ValueError(f"line {n}: an event needs an integer t and an event name")
        ts = event["t"] / 1000
        last = max(last, ts)
        kind = event["event"]
        pd = event.get("pd")
        if pd is None:                    # a layer above the machine: a track per source
            source = " ".join(f"{key} {event[key]}" for key in ("image", "machine")
                              if key in event)
            tid = sources.setdefault(source, len(sources) + 1)
            out.append({"ph": "i", "s": "t", "pid": RUNTIME_PID, "tid": tid, "name": kind,
                        "ts": ts, "args": event})
            continue
        names.setdefault(pd, event.get("partition", f"pd {pd}"))
        if running is None:
            running = (pd, ts)
        at = ts
        if kind == "syscall":
            at = slice_(pd, event["name"], ts, TICK_US,
                        {"args": event["args"], "result": event["result"],
                         "reason": event["reason"]})
        else:
            out.append({"ph": "i", "s": "t", "pid": MACHINE_PID, "tid": pd,
                        "name": event.get("what") or event.get("text") or kind, "ts": ts,
                        "args": event})
        to = event.get("to")
        if to is not None and running is not None:
            names.setdefault(to, event.get("to_partition", f"pd {to}"))
            who, since = running
            slice_(who, "run", since, max(at - since, 0.0))
            running = (to, max(at, ends.get(to, 0.0)))
    if running is not None:
        slice_(running[0], "run", running[1], max(last - running[1], 0.0))
    meta = [{"ph": "M", "pid": MACHINE_PID, "tid": 0, "name": "process_name",
             "args": {"name": f"pipsim machine ({header['arch']}, {header['mode']} mode)"}},
            {"ph": "M", "pid": RUNTIME_PID, "tid": 0, "name": "process_name",
             "args": {"name": "pipsim runtime"}}]
    meta += [{"ph": "M", "pid": MACHINE_PID, "tid": pd, "name": "thread_name",
              "args": {"name": name}} for pd, name in sorted(names.items())]
    meta += [{"ph": "M", "pid": RUNTIME_PID, "tid": tid, "name": "thread_name",
              "args": {"name": source or "runtime"}} for source, tid in sources.items()]
    return {"traceEvents": meta + out, "displayTimeUnit": "ns",
            "otherData": {"format": FORMAT, "version": VERSION, "arch": header["arch"],
                          "mode": header["mode"], "clock": header["clock"],
                          "time unit": "1 ns = 1 instruction" if header["clock"] ==
                          "instructions" else "host time"}}


def read_lines(path: str) -> list[dict]:
    """A JSON lines trace file, parsed; ValueError naming the first line that is not JSON."""
    records = []
    with open(path) as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {n}: not JSON ({error.msg})") from None
    return records
