"""`pipsim`: the command line.  Sub-commands of other packages plug in through the
"pipsim.commands" entry points (each a `register(subparsers)` function), so this
module depends on nothing above pipkernel.  Errors a user causes are caught here, once."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from contextlib import nullcontext
from importlib.metadata import entry_points, metadata, version
from typing import NoReturn

from . import exits, reproducible
from .abi import POLICIES, RUN_MODES
from .argtypes import count, seconds
from .errors import PipsimError


class Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors reported as every error is (exits.error); the
    sub-commands' parsers are of this class too (add_subparsers makes its own kind)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        sys.exit(exits.error(message))


def _demo(args) -> int:
    from .demo import run
    return run()


def _run(args) -> int:
    """An image, else the default device image a package registers under the
    "pipsim.default_image" entry point (the ODSI gateway), else the kernel demo."""
    if args.seed is not None and (args.image is not None or args.restore is not None):
        raise PipsimError("--seed is for the default image (pipsim run without an image): an "
                          "image's run in exact mode is reproducible as it is")
    if args.child:
        if args.image is None:
            raise PipsimError("--child needs an image (an ELF linked with pipsim cc --kind child)")
        from .machine.cli import run_child_image
        return run_child_image(args)
    if args.image is not None or args.restore is not None:
        from .machine.cli import run_image
        return run_image(args)
    if args.save_at is not None or args.snapshot is not None:
        raise PipsimError("--save-at needs an image: the default image's ODSI runtime (its "
                          "domains, relays and drivers) is Python objects beside the machine, "
                          "which a snapshot does not hold; it would be partial")
    for ep in entry_points(group="pipsim.default_image"):
        return _run_default(ep.load(), args)
    return _demo(args)


def _run_default(run_default, args) -> int:
    """The default image; with --trace FILE, what its runtime emits (commands, relay hops,
    driver turns: pipsim.kernel.machine.trace.emit) written to FILE as it comes."""
    if args.trace_instructions is not None:
        raise PipsimError("--trace-instructions is for an image (the default image runs its "
                          "firmware in short turns)")
    if args.gdb is not None:
        raise PipsimError("--gdb is for an image (pipsim run IMAGE --gdb :PORT)")
    from .machine.cli import open_trace
    from .machine.trace import JsonLines
    handle = open_trace(args.trace)
    writer = JsonLines(handle or sys.stdout, text_mode=handle is None) \
        if args.trace is not None else None
    try:
        if writer:
            writer.attach()
        with reproducible.seeded(args.seed) if args.seed is not None else nullcontext():
            return run_default(arch=args.arch, policy=args.policy, mode=args.mode)
    finally:
        if writer:
            writer.detach()
        if handle:
            handle.close()


def _export(args) -> int:
    """`pipsim trace export IN.jsonl -o OUT.json`: a Chrome / Perfetto trace."""
    import json

    from .machine.trace import read_lines, to_chrome
    try:
        chrome = to_chrome(read_lines(args.input))
    except (KeyError, TypeError, ValueError) as error:
        raise PipsimError(f"{args.input}: {error}") from None
    with open(args.output, "w") as handle:
        json.dump(chrome, handle)
    print(f"{args.output}: {len(chrome['traceEvents'])} trace events; open it in "
          f"https://ui.perfetto.dev or chrome://tracing")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pipsim", description=metadata("pipsim")["Summary"],
                    epilog="pipsim COMMAND --help: what each command does; exit statuses and "
                           "conventions: docs/cli.md")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('pipsim')}",
                        help="print the installed pipsim's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="the kernel demo: a partition tree on the C core")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run a firmware image (default: the default device image)")
    run.add_argument("image", nargs="?", help="root partition ELF image")
    run.add_argument("--arch", choices=["arm", "x86"], help="CPU (default: from the ELF; the default image's is arm)")
    run.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                     help="print syscalls, switches, faults and interrupts as they happen; "
                          "FILE: JSON lines, written while the machine runs "
                          "(docs/debugging.md); the default image: its runtime's events")
    run.add_argument("--trace-instructions", metavar="WHAT",
                     help="with --trace, exact mode: each instruction too, of WHAT: all, "
                          "pd=N (one partition), LO-HI (an address range) or pd=N,LO-HI")
    run.add_argument("--gdb", metavar="[HOST]:PORT",
                     help="wait for gdb-multiarch to attach on PORT (loopback; HOST: that "
                          "address instead), then serve it: each partition is a thread "
                          "(docs/debugging.md \"Debugging with GDB\"); port 0: any free one")
    run.add_argument("--max-instructions", type=count, default=0, metavar="N",
                     help="stop after at most N guest instructions (0: no limit; exact mode)")
    run.add_argument("--max-seconds", type=seconds, default=0, metavar="S",
                     help="stop after S seconds of host time (0: no limit)")
    run.add_argument("--mode", choices=RUN_MODES,
                     help="how time runs (docs/abi.md \"Run modes\"): exact (the default: "
                          "block-exact timer, exact counts, reproducible) or fast (no per-block "
                          "hook, host-time timer, no instruction counts)")
    run.add_argument("--policy", choices=POLICIES,
                     help='the kernel policy (docs/kernel.md §9; default: the image\'s, else '
                          '"pip", Pip exactly)')
    run.add_argument("--pages", type=count, help="physical pages (default 4096)")
    run.add_argument("--child", action="store_true",
                     help="run the image as the child of a Python root; exit status: its exit code")
    run.add_argument("--save-at", type=count, metavar="N",
                     help="stop after N instructions (exact mode; fast mode: at the first slice "
                          "after N ns of host time) and write the machine to --snapshot FILE "
                          "(docs/debugging.md \"Snapshots and replay\")")
    run.add_argument("--snapshot", metavar="FILE", help="where --save-at writes the snapshot")
    run.add_argument("--restore", metavar="FILE",
                     help="go on from a snapshot (instead of an image): its arch, pages, policy "
                          "and mode")
    run.add_argument("--seed", type=count, metavar="N",
                     help="the default image: the same N prints the same transcript, byte for "
                          "byte (token ids from a generator seeded with N, a simulated clock "
                          "from a fixed epoch; keys stay random: for demonstrations and tests "
                          "only, docs/cli.md); without it, ids and times differ per run")
    run.set_defaults(func=_run)
    trace = sub.add_parser("trace", help="work with a trace file (pipsim run --trace FILE)")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True)
    export = trace_sub.add_parser("export", help="a Chrome trace event file (JSON) that "
                                  "Perfetto and chrome://tracing open")
    export.add_argument("input", help="a trace written by pipsim run --trace FILE")
    export.add_argument("-o", "--output", required=True, help="the JSON file to write")
    export.set_defaults(func=_export)
    for ep in entry_points(group="pipsim.commands"):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command (exit statuses: pipsim.kernel.exits); what the user caused is one line
    ``pipsim: error: ...`` on stderr and exit status 2: a PipsimError, an OSError (a file),
    or a ValueError (the Python API's refusal of a value given on the command line, e.g.
    ``--pages 5``).  Output whose reader left (``pipsim demo | head``) ends the command
    quietly, exit status 141 (128 + SIGPIPE, as a shell reports a command SIGPIPE ended).
    Anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except BrokenPipeError:
        _quiet_stdout()
        return exits.BROKEN_PIPE
    except (PipsimError, OSError, ValueError) as error:
        return exits.error(str(error))
    except KeyboardInterrupt:            # Ctrl-C outside a run that handles it itself
        print("pipsim: interrupted", file=sys.stderr)
        return exits.INTERRUPTED


def console(argv: list[str] | None = None) -> NoReturn:
    """The ``pipsim`` program: main's status, or for a bug (an exception main lets through)
    its traceback and status 123 (exits.BUG), apart from every status a command gives."""
    try:
        status = main(argv)
    except Exception:
        traceback.print_exc()
        status = exits.BUG
    sys.exit(status)


def _quiet_stdout() -> None:
    """Standard output's reader is gone: what is still buffered goes nowhere (Python's own
    flush at exit would fail again and print a traceback)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    console()
