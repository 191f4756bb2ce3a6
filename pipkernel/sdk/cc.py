"""`pipsim cc`: the compiler for pipsim images (docs/sdk.md).

``pipsim cc --arch arm|x86 [--kind root|child] [--state t32|a32] [--stack N] [--heap N]
[--show] <compiler arguments>`` runs arm-none-eabi-gcc or gcc -m32 (or zig's clang:
pipsim.kernel.sdk.toolchain) with the SDK's flags (pipsim.kernel.sdk.flags), libpip's and
newlib's headers, and, when it links (no -c, -S, -E, -M, -MM), the linker script with the
image's symbols, the start file, newlib, libpip.a and libgcc (zig: compiler-rt).  Whatever pipsim cc does not know goes to the compiler, in order.
``pipsim cc --print-sdk`` prints the SDK's directory, ``pipsim cc --arch A
--print-toolchain`` the CMake toolchain file of A.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

from . import flags, layout
from .layout import ARCHES, KINDS, STATES, SdkError

NOT_LINKING = {"-c", "-S", "-E", "-M", "-MM"}
def size(text: str) -> int:
    """An argparse type: bytes, e.g. 8192, 0x2000, 8K, 8KiB, 1M."""
    try:
        return flags.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def command(arch: str, kind: str, state: str, args: list[str], script: pathlib.Path) -> list[str]:
    """The compiler's command line for these arguments, linking (if it links) with the linker
    script ``script`` (flags.kind_script's text); SdkError if the SDK lacks a file the command
    needs (make -C firmware sdk builds them)."""
    flags.check(arch, kind, state)
    linking = not NOT_LINKING.intersection(args)
    line = [*flags.compiler(arch), *flags.compile_flags(arch, state),
            *flags.libc_compile_flags(arch)]
    if not linking:
        return line + args
    before, after = flags.link_flags(arch, kind, script, state)
    needed = [flags.start_file(arch, kind, state), *(a for a in after if a.endswith(".a"))]
    missing = [path for path in needed if not os.path.isfile(path)]
    if missing:
        raise SdkError(f"the SDK lacks {', '.join(missing)}: run `make setup` "
                       f"(or make -C {layout.root()} sdk)")
    return line + before + args + after


def run(args) -> int:
    if args.print_sdk:
        print(layout.root())
        return 0
    if args.arch is None:
        raise SdkError("pipsim cc needs --arch arm or --arch x86")
    if args.print_toolchain:
        path = layout.root() / "build" / "cmake" / f"pipsim-{args.arch}.cmake"
        if not path.is_file():
            raise SdkError(f"{path} is missing: run `make setup` (or make -C {layout.root()} sdk)")
        print(path)
        return 0
    if not args.compiler_args:
        raise SdkError("pipsim cc: no compiler arguments (e.g. main.c -o prog.elf)")
    text = flags.kind_script(args.kind, args.stack, args.heap)
    with tempfile.TemporaryDirectory(prefix="pipsim-cc-") as folder:
        script = pathlib.Path(folder) / "image.ld"
        script.write_text(text)
        line = command(args.arch, args.kind, args.state, args.compiler_args, script)
        if args.show:
            print(" ".join(line), file=sys.stderr)
        try:
            return subprocess.run(line).returncode
        except OSError as error:
            raise SdkError(f"cannot run {line[0]} ({error.strerror}): run "
                           "firmware/setup-toolchain.sh, or pip install 'pipsim[zig]'") from None


def register(sub) -> None:
    """The `cc` sub-command (a "pipsim.commands" entry point)."""
    parser = sub.add_parser("cc", allow_abbrev=False, help="compile and link a pipsim image",
                            description=__doc__.split("\n\n")[1])
    parser.add_argument("--arch", choices=ARCHES)
    parser.add_argument("--kind", choices=KINDS, default="root",
                        help="root (default: linked at the root's base) or child")
    parser.add_argument("--state", choices=STATES, default="t32",
                        help="ARM: Thumb-2 (t32, default) or ARM state (a32)")
    parser.add_argument("--stack", type=size, metavar="BYTES",
                        help="stack size, whole pages above a guard page (default: "
                             + ", ".join(f"{k} {v['stack'] // 1024} KiB"
                                         for k, v in flags.DEFAULT_SIZES.items()) + ")")
    parser.add_argument("--heap", type=size, metavar="BYTES",
                        help="malloc heap size (default: " + ", ".join(
                            f"{k} {v['heap'] // 1024} KiB"
                            for k, v in flags.DEFAULT_SIZES.items()) + ")")
    parser.add_argument("--show", action="store_true", help="print the compiler's command line")
    parser.add_argument("--print-sdk", action="store_true", help="print the SDK's directory")
    parser.add_argument("--print-toolchain", action="store_true",
                        help="print the CMake toolchain file of --arch")
    known = parser.parse_known_args

    def parse_known_args(arguments=None, namespace=None):
        """What pipsim cc does not know is the compiler's, in order (after `--` too)."""
        namespace, rest = known(arguments, namespace)
        namespace.compiler_args = rest[1:] if rest[:1] == ["--"] else rest
        return namespace, []

    parser.parse_known_args = parse_known_args
    parser.set_defaults(func=run)
