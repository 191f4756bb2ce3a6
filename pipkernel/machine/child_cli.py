"""`pipsim run --child IMAGE.elf`: a user's image as the one child of a Python root
(pipkernel.machine.spawn.run_child); its console output, how it ended (its exit code, or
its fault), and the run summary.  The exit status is the child's exit code (& 0xFF)."""
from __future__ import annotations

import sys

from .. import elf
from ..errors import PipsimError
from . import Machine
from .report import fault_report, summary
from .spawn import run_child


def run_child_image(args, out=None) -> int:
    out = out or sys.stdout
    if args.trace is not None:
        raise PipsimError("--trace is for a root image, not with --child")
    arch = args.arch or elf.arch_of(args.image)
    machine = Machine(arch, pages=args.pages, policy=args.policy or "pip", python_root=True)
    run = run_child(machine, args.image, max_instructions=args.max_instructions)
    console = run.result.console
    out.write(console.decode("utf-8", "replace"))
    if console and not console.endswith(b"\n"):
        out.write("\n")
    if run.end == "exit":
        print(f"child exited with code {run.exit_code}", file=out)
    elif run.fault is not None:
        print("child " + fault_report(machine, run.fault, panic=run.end == "panic"), file=out)
    else:
        print(f"child stopped: {run.end}", file=out)
    print(summary(run.result), file=out)
    return {"exit": (run.exit_code or 0) & 0xFF, "budget": 0}.get(run.end, 3)
