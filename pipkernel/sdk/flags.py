"""How a pipsim image is compiled and linked: the one owner of the flags of each toolchain
(GCC or zig's clang, pipsim.kernel.sdk.toolchain), the image bases, the linker scripts and the
default memory sizes (docs/sdk.md).  The firmware Makefile includes what ``make_variables``
writes (``python -m pipsim.kernel.sdk.flags make BUILD``), ``pipsim cc`` calls
``compile_flags`` and ``link_flags``, and ``cmake_toolchain`` writes the CMake toolchain files
from them.
"""
from __future__ import annotations

import functools
import pathlib
import subprocess
import sys

from ..abi import PAGE_SIZE, ROOT_IMAGE_BASE
from . import layout
from .layout import ARCHES, KINDS, STATES, SdkError
from .toolchain import chosen, programs, zig

IMAGE_BASE = {"root": ROOT_IMAGE_BASE, "child": 0x1000}  # a child's page 0 stays unmapped
#: default bytes of stack and of malloc heap (newlib's _sbrk) per image kind
DEFAULT_SIZES = {"root": {"stack": 0x4000, "heap": 0x10000},
                 "child": {"stack": 0x2000, "heap": 0x4000}}
#: the largest stack or heap an image may ask for (a child must end below the kernel slot)
MAX_SIZE = 0x100000
#: the linker-script symbols (firmware/ld/image.ld) that bound each memory region
REGIONS = {"stack": ("__stack_bottom", "__stack_top"), "heap": ("__heap_start", "__heap_end")}

#: code generation of every image (--gc-sections needs a section per function and object)
CODEGEN = ("-ffunction-sections", "-fdata-sections", "-fno-common")
_ARM = ("-mfloat-abi=soft", "-fno-unwind-tables", "-fno-exceptions",
        "-fno-asynchronous-unwind-tables")
_X86 = ("-mno-sse", "-mno-mmx", "-fno-pic", "-no-pie", "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-static")
#: the target flags per toolchain and architecture (zig: a freestanding target, no host)
TARGET = {
    "gcc": {"arm": ("-march=armv7-a", *_ARM),
            "x86": ("-m32", "-march=i686", *_X86,
                    # the host's gcc: not a Linux program (newlib's headers would pick Linux's)
                    "-U__linux__", "-U__linux", "-Ulinux", "-U__gnu_linux__", "-U__unix__",
                    "-U__unix", "-Uunix")},
    # (zig's clang: no UBSan runtime calls, which it adds by default without -O)
    "zig": {"arm": ("-mcpu=generic+v7a", *_ARM, "-fno-sanitize=all"),
            "x86": ("--target=x86-freestanding", "-mcpu=i686", *_X86, "-fno-sanitize=all")},
}
#: ARM's instruction set (zig's clang: C follows the target, assembly -mthumb / -marm)
STATE = {"gcc": {"t32": ("-mthumb",), "a32": ("-marm",)},
         "zig": {"t32": ("--target=thumb-freestanding-eabi", "-mthumb"),
                 "a32": ("--target=arm-freestanding-eabi", "-marm")}}
#: the compiler's runtime library (division helpers & co.): libgcc, or zig's compiler-rt
RUNTIME = {"gcc": "-lgcc", "zig": "-rtlib=compiler-rt"}
#: GCC turns this tree's freestanding loops into memset calls unless told not to
NO_LOOP_CALLS = {"gcc": ("-fno-tree-loop-distribute-patterns",), "zig": ()}
#: newlib 3.3's own sources: clang 16 and later refuse its calls of undeclared functions
LIBC_QUIRKS = {"gcc": (), "zig": ("-Wno-error=implicit-function-declaration",)}
LINK = ("-nostdlib", "-Wl,-z,max-page-size=4096", "-Wl,-z,common-page-size=4096",
        "-Wl,--gc-sections", "-Wl,--build-id=none", "-Wl,-z,noexecstack")


_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20}


def parse_size(text) -> int:
    """Bytes from an int or a text: 8192, "0x2000", "8K", "8KiB", "1M"; ValueError else."""
    if type(text) is int:
        return text
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a size")
    digits = text.rstrip("KkMmIiBb")
    try:
        return int(digits, 0) * _UNITS[text[len(digits):].lower()]
    except (ValueError, KeyError):
        raise ValueError(f"{text!r} is not a size (bytes, or with K or M)") from None


def check(arch: str, kind: str = "root", state: str = "t32") -> None:
    """SdkError unless arch, kind and state are known (state matters on ARM only)."""
    for what, value, known in (("arch", arch, ARCHES), ("kind", kind, KINDS),
                               ("state", state, STATES)):
        if value not in known:
            raise SdkError(f"{what} must be one of {', '.join(known)}, not {value!r}")
    if state == "a32" and arch != "arm":
        raise SdkError("--state a32 (ARM state) is for arch arm only")


def sizes(kind: str, stack: int | None = None, heap: int | None = None) -> dict[str, int]:
    """{"stack": bytes, "heap": bytes} of an image: the kind's defaults where None; the stack
    rounded up to whole pages (it has pages of its own, above an unmapped guard page).
    SdkError for a size out of [0, MAX_SIZE] or a stack of 0."""
    chosen = dict(DEFAULT_SIZES[kind])
    for name, value in (("stack", stack), ("heap", heap)):
        if value is None:
            continue
        if type(value) is not int or not 0 <= value <= MAX_SIZE or (name == "stack" and not value):
            raise SdkError(f"{name} size must be a whole number of bytes in "
                           f"[{1 if name == 'stack' else 0}, {MAX_SIZE:#x}], not {value!r}")
        chosen[name] = value
    chosen["stack"] = -(-chosen["stack"] // PAGE_SIZE) * PAGE_SIZE
    chosen["heap"] = -(-chosen["heap"] // 16) * 16
    return chosen


def image_sizes(symbols) -> dict[str, int | None]:
    """{"stack": bytes, "heap": bytes} an image was linked with (its ELF symbols), None for a
    region it does not mark (not linked with firmware/ld/image.ld)."""
    return {name: symbols[high] - symbols[low] if low in symbols and high in symbols else None
            for name, (low, high) in REGIONS.items()}


def compile_flags(arch: str, state: str = "t32", toolchain: str | None = None) -> list[str]:
    """What every object of an image is compiled with (ARM: in the image's state), by
    ``toolchain`` (default: pipsim.kernel.sdk.toolchain.chosen())."""
    check(arch, state=state)
    toolchain = toolchain or chosen()
    return [*TARGET[toolchain][arch], *(STATE[toolchain][state] if arch == "arm" else ()),
            *CODEGEN]


def compiler(arch: str, toolchain: str | None = None) -> list[str]:
    """The compiler's command (before any flag)."""
    return programs(arch, toolchain or chosen())["cc"]


#: what a linker script drops from an image linked without debug sections
NO_DEBUG = "SECTIONS { /DISCARD/ : { *(.debug .debug.* .debug_* .line .stab*) } }\n"


def link_script(image_base: int | str, stack: int | str, heap: int | str,
                base: pathlib.Path | None = None, debug: bool = True) -> str:
    """The linker script an image is linked with: its symbols (firmware/ld/image.ld's
    __image_base, __stack_size, __heap_size; ints, or a caller's placeholders such as CMake's
    ${...}), without debug sections unless ``debug``, then image.ld itself.  A script, not
    --defsym and objcopy: zig's linker takes no --defsym, and zig has no ELF strip."""
    values = {"__image_base": image_base, "__stack_size": stack, "__heap_size": heap}
    return ("/* Generated by pipkernel/sdk/flags.py: do not edit. */\n"
            + "".join(f"{name} = {value:#x};\n" if isinstance(value, int) else
                      f"{name} = {value};\n" for name, value in values.items())
            + ("" if debug else NO_DEBUG)
            + f'INCLUDE "{layout.linker_script(base)}"\n')


def kind_script(kind: str, stack: int | None = None, heap: int | None = None,
                base: pathlib.Path | None = None, debug: bool = True) -> str:
    """link_script of an image kind with these sizes (None: the kind's defaults)."""
    size = sizes(kind, stack, heap)
    return link_script(IMAGE_BASE[kind], size["stack"], size["heap"], base, debug)


def compiler_includes(arch: str, toolchain: str | None = None) -> list[pathlib.Path]:
    """The compiler's own header folders (stddef.h, stdarg.h, ...)."""
    toolchain = toolchain or chosen()
    if toolchain == "zig":
        return [pathlib.Path(zig()).parent / "lib" / "include"]
    found = [pathlib.Path(_gcc_file(arch, name)) for name in ("include", "include-fixed")]
    return [d for d in found if d.is_dir()]          # (x86's gcc has no include-fixed)


@functools.cache
def _gcc_file(arch: str, name: str) -> str:
    """A file of GCC's for this arch (-print-file-name), e.g. its include dir."""
    command = [*compiler(arch, "gcc"), *TARGET["gcc"][arch], f"-print-file-name={name}"]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise SdkError(f"cannot run {command[0]} ({error}): run firmware/setup-toolchain.sh, "
                       "or use zig (PIPSIM_TOOLCHAIN=zig)") from None


def nohost_flags(arch: str, toolchain: str | None = None) -> list[str]:
    """No host headers (x86's GCC is the host's): only the compiler's own."""
    toolchain = toolchain or chosen()
    if arch != "x86" or toolchain != "gcc":
        return []
    return ["-nostdinc", *(f"-isystem{d}" for d in compiler_includes(arch, toolchain))]


def libc_compile_flags(arch: str, base: pathlib.Path | None = None,
                       toolchain: str | None = None) -> list[str]:
    """Headers: libpip's, the C library's (newlib), the compiler's own; no host headers."""
    dirs = [layout.include_dir(base), layout.libc_dir(arch, base) / "include",
            *compiler_includes(arch, toolchain)]
    return ["-nostdinc", *(f"-isystem{d}" for d in dirs)]


def link_head(script: str | pathlib.Path) -> list[str]:
    """How every image is linked: no default start files or libraries, its linker script
    (link_script's text in a file)."""
    return [*LINK, f"-Wl,-T,{script}"]


def start_file(arch: str, kind: str, state: str = "t32",
               base: pathlib.Path | None = None) -> str:
    return str(layout.lib_dir(arch, base) / layout.start_file_name(kind, state))


def libraries(arch: str, base: pathlib.Path | None = None,
              toolchain: str | None = None) -> list[str]:
    """After a user's objects, in one group: the C library first (its memcpy & co. are
    taken, not libpip's weak ones), libpip (its system calls, exit), the compiler's runtime
    (libgcc or compiler-rt)."""
    libc = layout.libc_dir(arch, base) / "lib"
    return ["-Wl,--start-group", str(libc / "libc.a"), str(libc / "libm.a"),
            str(layout.lib_dir(arch, base) / "libpip.a"), RUNTIME[toolchain or chosen()],
            "-Wl,--end-group"]


def link_flags(arch: str, kind: str, script: str | pathlib.Path, state: str = "t32",
               base: pathlib.Path | None = None,
               toolchain: str | None = None) -> tuple[list, list]:
    """(before the objects, after them) to link a user image with libpip and newlib, with
    the linker script ``script`` (a file holding kind_script's text)."""
    check(arch, kind, state)
    return ([*link_head(script), start_file(arch, kind, state, base)],
            libraries(arch, base, toolchain))


def make_variables(toolchain: str | None = None) -> str:
    """The firmware Makefile's view (firmware/build/sdk.mk) for ``toolchain``."""
    toolchain = toolchain or chosen()
    tools = {arch: programs(arch, toolchain) for arch in ARCHES}
    lines = ["# Generated by pipkernel/sdk/flags.py (python -m pipsim.kernel.sdk.flags make): "
             "do not edit.",
             f"SDK_TOOLCHAIN := {toolchain}",
             *(f"{name.upper()}_{arch} := {' '.join(tools[arch][name])}"
               for arch in ARCHES for name in ("cc", "ar", "ranlib")),
             f"SDK_CODEGEN := {' '.join(CODEGEN)}",
             *(f"FLAGS_arm_{state} := "
               f"{' '.join(TARGET[toolchain]['arm'] + STATE[toolchain][state])}"
               for state in STATES),
             f"FLAGS_x86_ := {' '.join(TARGET[toolchain]['x86'])}",
             f"SDK_NO_LOOP_CALLS := {' '.join(NO_LOOP_CALLS[toolchain])}",
             f"SDK_LIBC_QUIRKS := {' '.join(LIBC_QUIRKS[toolchain])}",
             f"SDK_LINK := {' '.join(LINK)}",
             f"SDK_RUNTIME := {RUNTIME[toolchain]}",
             "# this tree's images use no C library: no malloc heap ($(BUILD)/ld/KIND.ld: "
             "kind_script(KIND, heap=0); KIND-nodebug.ld: without debug sections)",
             *(f"LINK_{kind}{variant} := -Wl,-T,$(BUILD)/ld/{kind}{variant.replace('_', '-')}.ld"
               for kind in KINDS for variant in ("", "_nodebug")),
             *(f"NOHOST_{arch} := {' '.join(nohost_flags(arch, toolchain))}" for arch in ARCHES)]
    return "\n".join(lines) + "\n"


def write_if_changed(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already (make's timestamps stay)."""
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


USAGE = """usage: python -m pipsim.kernel.sdk.flags make BUILD
         (BUILD/sdk.mk for the firmware Makefile, BUILD/ld/{root,child}.ld)
       python -m pipsim.kernel.sdk.flags script IMAGE_BASE STACK HEAP FILE
         (a link_script into FILE)"""


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "make":
            build = pathlib.Path(argv[1])
            write_if_changed(build / "sdk.mk", make_variables())
            for kind in KINDS:
                write_if_changed(build / "ld" / f"{kind}.ld", kind_script(kind, heap=0))
                write_if_changed(build / "ld" / f"{kind}-nodebug.ld",
                                 kind_script(kind, heap=0, debug=False))
            return 0
        if len(argv) == 5 and argv[0] == "script":
            values = [parse_size(v) for v in argv[1:4]]
            write_if_changed(pathlib.Path(argv[4]), link_script(*values))
            return 0
    except (SdkError, ValueError) as error:
        print(f"pipsim: error: {error}", file=sys.stderr)
        return 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
