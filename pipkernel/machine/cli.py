"""`pipsim run IMAGE.elf` (the root partition) and `pipsim run --child IMAGE.elf` (the one
child of a Python root, pipkernel.machine.spawn.run_child): console output, fault reports
and a run summary."""
from __future__ import annotations

import sys

from .. import elf
from ..errors import PipsimError
from . import DEFAULT_MODE, Machine
from .report import fault_report, summary, trace_events, trace_json, trace_text
from .spawn import run_child


def _machine(args, python_root: bool = False) -> Machine:
    return Machine(args.arch or elf.arch_of(args.image), pages=args.pages,
                   policy=args.policy or "pip", mode=args.mode or DEFAULT_MODE,
                   python_root=python_root)


def _console(data: bytes, out) -> None:
    out.write(data.decode("utf-8", "replace"))
    if data and not data.endswith(b"\n"):
        out.write("\n")


def run_image(args, out=None) -> int:
    out = out or sys.stdout
    machine = _machine(args)
    machine.load(args.image)
    machine.tracing = args.trace is not None
    result = machine.run(max_instructions=args.max_instructions, max_seconds=args.max_seconds)
    _console(result.console, out)
    if result.fault and (result.stop == "panic"):
        print(fault_report(machine, result.fault, panic=True), file=out)
    if args.trace is not None:
        events = trace_events(machine)
        if args.trace == "-":
            print(trace_text(events), file=out)
        else:
            with open(args.trace, "w") as handle:
                handle.write(trace_json(events) + "\n")
    print(summary(result), file=out)
    return {"halt": result.exit_code & 0xFF, "budget": 0}.get(result.stop, 3)


def run_child_image(args, out=None) -> int:
    """The exit status is the child's exit code (& 0xFF)."""
    out = out or sys.stdout
    if args.trace is not None:
        raise PipsimError("--trace is for a root image, not with --child")
    machine = _machine(args, python_root=True)
    run = run_child(machine, args.image, max_instructions=args.max_instructions,
                    max_seconds=args.max_seconds)
    _console(run.result.console, out)
    if run.end == "exit":
        print(f"child exited with code {run.exit_code}", file=out)
    elif run.fault is not None:
        print("child " + fault_report(machine, run.fault, panic=run.end == "panic"), file=out)
    else:
        print(f"child stopped: {run.end}", file=out)
    print(summary(run.result), file=out)
    return {"exit": (run.exit_code or 0) & 0xFF, "budget": 0}.get(run.end, 3)
