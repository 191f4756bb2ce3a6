"""`pipsim run IMAGE.elf`: console output, fault reports and a run summary."""
from __future__ import annotations

import sys

from .. import elf
from . import DEFAULT_MODE, Machine
from .report import fault_report, summary, trace_events, trace_json, trace_text


def _arch_of(path: str) -> str:
    image = elf.read(path)
    if image.arch is None:
        raise elf.ImageError(f"{path}: {image.machine} images are not supported (arm or x86)")
    return image.arch


def run_image(args, out=None) -> int:
    out = out or sys.stdout
    arch = args.arch or _arch_of(args.image)
    machine = Machine(arch, pages=args.pages, policy=args.policy or "pip",
                      mode=args.mode or DEFAULT_MODE)
    machine.load(args.image)
    machine.tracing = args.trace is not None
    result = machine.run(max_instructions=args.max_instructions, max_seconds=args.max_seconds)
    out.write(result.console.decode("utf-8", "replace"))
    if result.console and not result.console.endswith(b"\n"):
        out.write("\n")
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
