"""`pipsim run IMAGE.elf` (the root partition) and `pipsim run --child IMAGE.elf` (the one
child of a Python root, pipsim.kernel.machine.spawn.run_child): the console as the guest writes
it, Ctrl-C, traces, fault reports and a run summary; `--gdb [HOST]:PORT` (a GDB remote
stub: pipsim.kernel.machine.gdb), `--save-at N --snapshot FILE` and `--restore FILE`
(docs/debugging.md)."""
from __future__ import annotations

import codecs
import os
import signal
import sys
import tempfile
from contextlib import contextmanager

from .. import elf, exits
from ..errors import PipsimError
from . import DEFAULT_MODE, Machine
from .gdb import GdbStub, listen
from .report import fault_report, instruction_at, summary, where
from .spawn import run_child
from .trace import JsonLines

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _machine(args, python_root: bool = False) -> Machine:
    pages = {} if args.pages is None else {"pages": args.pages}
    return Machine(args.arch or elf.arch_of(args.image), policy=args.policy or "pip",
                   mode=args.mode or DEFAULT_MODE, python_root=python_root, **pages)


def _restored(args, out) -> Machine:
    """The machine of the snapshot --restore names; --arch, --pages, --policy may only say
    what it is, --mode may change it, --trace says whether it traces."""
    with open(args.restore, "rb") as handle:
        machine = Machine.from_snapshot(handle.read())
    identity = machine.identity()
    for flag, name, value in (("--arch", "arch", args.arch), ("--pages", "pages", args.pages),
                              ("--policy", "policy", args.policy)):
        if value is not None and value != identity[name]:
            raise PipsimError(f"{flag} {value}, but the snapshot {args.restore} is of a machine "
                              f"with {name} {identity[name]}")
    if args.mode:
        machine.mode = args.mode
    machine.tracing = args.trace is not None         # this run's choice, not the saver's
    print(f"restored {args.restore}: {identity['arch']}, {identity['pages']} pages, policy "
          f"{identity['policy']}, mode {machine.mode}, at instruction "
          f"{machine.counters()['instructions']}", file=out)
    return machine


class SnapshotFile:
    """Where `--save-at` writes: a temporary file beside FILE, made before the run (a place
    that cannot be written is refused then), renamed to FILE once the snapshot is whole."""

    def __init__(self, path: str):
        self.path = path
        if os.path.isdir(path):
            raise PipsimError(f"cannot write the snapshot to {path!r}: it is a directory")
        try:
            self.handle = tempfile.NamedTemporaryFile(
                dir=os.path.dirname(os.path.abspath(path)), prefix=".snapshot-", delete=False)
        except OSError as error:
            raise PipsimError(f"cannot write the snapshot to {path!r}: {error.strerror}") \
                from None

    def commit(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.close()
        os.replace(self.handle.name, self.path)

    def discard(self) -> None:
        """The temporary file, unless committed."""
        if not self.handle.closed:
            self.handle.close()
            os.unlink(self.handle.name)


def _snapshot_target(args) -> SnapshotFile | None:
    if args.save_at is None and args.snapshot is None:
        return None
    if args.save_at is None or args.snapshot is None:
        raise PipsimError("--save-at N and --snapshot FILE go together")
    if args.max_instructions or args.max_seconds:
        raise PipsimError("--save-at sets where the run stops: no --max-instructions or "
                          "--max-seconds with it")
    return SnapshotFile(args.snapshot)


class Console:
    """The guest's console bytes to a text stream as they come (UTF-8, bad bytes replaced),
    flushed per piece; `end` completes a last line the guest left open."""

    def __init__(self, out):
        self.out, self.decode, self.open_line = out, codecs.getincrementaldecoder("utf-8")(
            "replace").decode, False

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(self.decode(data))
            self.open_line = not data.endswith(b"\n")
            self.out.flush()

    def end(self, data: bytes = b"") -> None:
        self.write(data)
        self.out.write(self.decode(b"", final=True))
        if self.open_line:
            self.out.write("\n")
            self.open_line = False


@contextmanager
def stop_signals():
    """SIGINT and SIGTERM, while the block runs, only noted (the list yielded gets the
    signal's number): the run loop looks between slices and stops cleanly."""
    caught: list[int] = []
    try:
        previous = {s: signal.signal(s, lambda n, _: caught.append(n)) for s in STOP_SIGNALS}
    except ValueError:                       # not the main thread: signals stay as they are
        previous = {}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def open_trace(path: str | None):
    """The trace's file, opened before anything runs ("-": the output stream, as text; None:
    no trace); PipsimError if it cannot be written."""
    if path is None or path == "-":
        return None
    try:
        return open(path, "w")
    except OSError as error:
        raise PipsimError(f"cannot write the trace to {path!r}: {error.strerror}") from None


def parse_instruction_trace(spec: str) -> tuple[int, int, int]:
    """`--trace-instructions`: "all", "pd=N", "LO-HI" or "pd=N,LO-HI" -> (begin, end, pd)."""
    begin, end, pd = 0, 0xFFFFFFFF, 0
    for part in filter(None, spec.split(",")):
        try:
            if part == "all":
                continue
            if part.startswith("pd="):
                pd = int(part[3:], 0)
            else:
                lo, hi = part.split("-")
                begin, end = int(lo, 0), int(hi, 0)
        except ValueError:
            raise PipsimError(f"--trace-instructions {spec!r}: expected all, pd=N, LO-HI or "
                              f"pd=N,LO-HI") from None
    if not (0 <= begin <= end < 1 << 32 and 0 <= pd < 1 << 32):
        raise PipsimError(f"--trace-instructions {spec!r}: not a range of 32-bit addresses")
    return begin, end, pd


def run_image(args, out=None) -> int:
    """Exit status (pipsim.kernel.exits.run_status): the image's exit code when it halts
    (0..119; 120 for a larger one), 124 at a budget, 125 if the kernel panicked, 122 if the
    engine failed, 130 / 143 when SIGINT / SIGTERM stopped it."""
    out = out or sys.stdout
    spec = getattr(args, "trace_instructions", None)
    if spec is not None and args.trace is None:
        raise PipsimError("--trace-instructions needs --trace")
    if args.restore is not None and args.image is not None:
        raise PipsimError("--restore goes on from a snapshot: no image with it")
    code_range = parse_instruction_trace(spec) if spec is not None else None
    target = _snapshot_target(args)
    try:
        handle = open_trace(args.trace)
        server = listen(args.gdb) if getattr(args, "gdb", None) else None
        try:
            return _run_image(args, out, handle, code_range, target, server)
        finally:
            if handle:
                handle.close()
            if server:
                server.close()
    finally:
        if target:
            target.discard()


def _run_image(args, out, handle, code_range, target, server) -> int:
    if args.restore is not None:
        machine = _restored(args, out)
    else:
        machine = _machine(args)
        machine.load(args.image)
    names = {machine.kernel.root.pd: "root"}
    writer = None
    if args.trace is not None:
        machine.tracing = True
        writer = JsonLines(handle or out, text_mode=handle is None)
        writer.start(machine, names, lambda pd, pc: instruction_at(machine, pd, pc))
        if code_range:
            begin, end, pd = code_range
            machine.trace_instructions(begin, end, pd)
    console = Console(out)
    save_at = SaveAt(machine, args.save_at, target)

    with stop_signals() as caught:
        stub = GdbStub(machine, server, names, keep_waiting=lambda: not caught) \
            if server else None

        def between(m) -> bool:
            console.write(m.take_console())
            if writer:
                writer.drain()
            return bool(caught) or save_at.due() or (stub is not None and stub.between(m))
        if stub:
            host, port = stub.address
            print(f"gdb: listening on {host}:{port} (gdb-multiarch: target remote "
                  f"{host}:{port})", file=sys.stderr, flush=True)
            if not stub.wait_client():
                name, status = _stopped_by(caught)
                print(f"stopped by {name} before the run started", file=out)
                return status
        result = machine.run(max_instructions=save_at.instructions or args.max_instructions,
                             max_seconds=args.max_seconds, between=between)
        if stub:
            stub.finish(result)
    console.end(result.console)
    if target and not caught and save_at.reached(result):
        return save_at.write(result, out)
    if result.stop == "interrupted":
        name, status = _stopped_by(caught)
        print(f"stopped by {name}: where each partition was", file=out)
        print(where(machine, result, names), file=out)
        print(summary(result), file=out)
        return status
    if result.fault and result.stop == "panic":
        print(fault_report(machine, result.fault, panic=True, names=names, detail=True), file=out)
    print(summary(result), file=out)
    if target:
        raise PipsimError(f"no snapshot written: the run stopped ({result.stop}) before "
                          f"--save-at {args.save_at}")
    return exits.run_status(result.stop, result.exit_code)


def _stopped_by(caught: list[int]) -> tuple[str, int]:
    """Who stopped the run and the exit status: the first signal caught, else gdb's kill
    (the status of a SIGKILL)."""
    number = caught[0] if caught else signal.SIGKILL
    return (signal.Signals(number).name if caught else "gdb (kill)"), exits.signal_status(number)


class SaveAt:
    """`--save-at N`: where the run stops to be saved (exact mode: after N instructions, its
    budget; fast mode: the first slice after N ns of host time), and the save."""

    def __init__(self, machine: Machine, at: int | None, target: SnapshotFile | None):
        self.machine, self.at, self.target = machine, at, target
        exact = machine.mode == "exact"
        self.instructions = at if target and exact else 0
        self.until = machine.clock() + at if target and not exact else None
        self.came = False

    def due(self) -> bool:
        """Between slices, fast mode: whether the save point has come."""
        self.came = self.until is not None and self.machine.clock() >= self.until
        return self.came

    def reached(self, result) -> bool:
        """Whether the run stopped at the save point (not by a halt, a panic, a signal)."""
        return self.came or bool(self.instructions) and result.stop == "budget"

    def write(self, result, out) -> int:
        """The summary, the snapshot written; exit status 0."""
        print(summary(result), file=out)
        data = self.machine.snapshot()
        self.target.commit(data)
        print(f"snapshot {self.target.path}: {len(data)} bytes, {self.machine.arch.NAME}, mode "
              f"{self.machine.mode}, at instruction {result.counters['instructions']}",
              file=out)
        return 0


def run_child_image(args, out=None) -> int:
    """The exit status: the child's exit code as run_image's a guest's, 121 if it faulted,
    else as run_image's (pipsim.kernel.exits.run_status)."""
    out = out or sys.stdout
    for flag, value in (("--trace", args.trace),
                        ("--trace-instructions", getattr(args, "trace_instructions", None)),
                        ("--save-at", args.save_at), ("--snapshot", args.snapshot),
                        ("--restore", args.restore), ("--gdb", getattr(args, "gdb", None))):
        if value is not None:
            raise PipsimError(f"{flag} is for a root image, not with --child")
    machine = _machine(args, python_root=True)
    run = run_child(machine, args.image, max_instructions=args.max_instructions,
                    max_seconds=args.max_seconds)
    Console(out).end(run.result.console)
    if run.end == "exit":
        print(f"child exited with code {run.exit_code}", file=out)
    elif run.fault is not None:
        print("child " + fault_report(machine, run.fault, panic=run.end == "panic",
                                      detail=True), file=out)
    else:
        print(f"child stopped: {run.end}", file=out)
    print(summary(run.result), file=out)
    return exits.run_status(run.end, run.exit_code)
