"""How a pipsim image is compiled and linked: the one owner of the flags, image bases and
default memory sizes (docs/sdk.md).  The firmware Makefile includes what ``make_variables``
writes (``python -m pipsim.kernel.sdk.flags make``), ``pipsim cc`` calls ``compile_flags`` and
``link_flags``, and ``cmake_toolchain`` writes the CMake toolchain files from them.
"""
from __future__ import annotations

import functools
import pathlib
import subprocess
import sys

from ..abi import PAGE_SIZE, ROOT_IMAGE_BASE
from . import layout
from .layout import ARCHES, KINDS, STATES, SdkError

COMPILERS = {"arm": "arm-none-eabi-gcc", "x86": "gcc"}
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
TARGET = {
    "arm": ("-march=armv7-a", "-mfloat-abi=soft", "-fno-unwind-tables", "-fno-exceptions",
            "-fno-asynchronous-unwind-tables"),
    "x86": ("-m32", "-march=i686", "-mno-sse", "-mno-mmx", "-fno-pic", "-no-pie",
            "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fcf-protection=none",
            "-static",
            # the host's gcc: not a Linux program (newlib's headers would pick Linux's ABI)
            "-U__linux__", "-U__linux", "-Ulinux", "-U__gnu_linux__", "-U__unix__", "-U__unix",
            "-Uunix"),
}
STATE = {"t32": ("-mthumb",), "a32": ("-marm",)}
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


def compile_flags(arch: str, state: str = "t32") -> list[str]:
    """What every object of an image is compiled with (ARM: in the image's state)."""
    check(arch, state=state)
    return [*TARGET[arch], *(STATE[state] if arch == "arm" else ()), *CODEGEN]


def symbols(kind: str, stack: int | None = None, heap: int | None = None) -> list[str]:
    """The linker-script symbols (firmware/ld/image.ld) of an image kind and its sizes."""
    size = sizes(kind, stack, heap)
    return [f"-Wl,--defsym=__image_base={IMAGE_BASE[kind]:#x}",
            f"-Wl,--defsym=__stack_size={size['stack']:#x}",
            f"-Wl,--defsym=__heap_size={size['heap']:#x}"]


@functools.cache
def compiler_file(arch: str, name: str) -> str:
    """A file of the compiler's for this arch (-print-file-name), e.g. its include dir."""
    command = [COMPILERS[arch], *TARGET[arch], f"-print-file-name={name}"]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise SdkError(f"cannot run {COMPILERS[arch]} ({error}): run firmware/setup-toolchain.sh"
                       ) from None


def nohost_flags(arch: str) -> list[str]:
    """No host headers (x86's compiler is the host's): only the compiler's own."""
    if arch != "x86":
        return []
    return ["-nostdinc", f"-isystem{compiler_file(arch, 'include')}"]


def libc_compile_flags(arch: str, base: pathlib.Path | None = None) -> list[str]:
    """Headers: libpip's, the C library's (newlib), the compiler's own; no host headers."""
    compiler = [pathlib.Path(compiler_file(arch, name)) for name in ("include", "include-fixed")]
    dirs = [layout.include_dir(base), layout.libc_dir(arch, base) / "include",
            *(d for d in compiler if d.is_dir())]      # (x86's gcc has no include-fixed)
    return ["-nostdinc", *(f"-isystem{d}" for d in dirs)]


def link_head(base: pathlib.Path | None = None) -> list[str]:
    """How every image is linked: no default start files or libraries, the linker script."""
    return [*LINK, f"-T{layout.linker_script(base)}"]


def start_file(arch: str, kind: str, state: str = "t32",
               base: pathlib.Path | None = None) -> str:
    return str(layout.lib_dir(arch, base) / layout.start_file_name(kind, state))


def libraries(arch: str, base: pathlib.Path | None = None) -> list[str]:
    """After a user's objects, in one group: the C library first (its memcpy & co. are
    taken, not libpip's weak ones), libpip (its system calls, exit), libgcc."""
    libc = layout.libc_dir(arch, base) / "lib"
    return ["-Wl,--start-group", str(libc / "libc.a"), str(libc / "libm.a"),
            str(layout.lib_dir(arch, base) / "libpip.a"), "-lgcc", "-Wl,--end-group"]


def link_flags(arch: str, kind: str, state: str = "t32", stack: int | None = None,
               heap: int | None = None, base: pathlib.Path | None = None) -> tuple[list, list]:
    """(before the objects, after them) to link a user image with libpip and newlib."""
    check(arch, kind, state)
    return ([*link_head(base), *symbols(kind, stack, heap), start_file(arch, kind, state, base)],
            libraries(arch, base))


def make_variables() -> str:
    """The firmware Makefile's view (firmware/build/sdk.mk)."""
    lines = ["# Generated by pipkernel/sdk/flags.py (python -m pipsim.kernel.sdk.flags make): "
             "do not edit.",
             *(f"CC_{arch} ?= {COMPILERS[arch]}" for arch in ARCHES),
             f"SDK_CODEGEN := {' '.join(CODEGEN)}",
             f"FLAGS_arm_t32 := {' '.join(TARGET['arm'] + STATE['t32'])}",
             f"FLAGS_arm_a32 := {' '.join(TARGET['arm'] + STATE['a32'])}",
             f"FLAGS_x86_ := {' '.join(TARGET['x86'])}",
             f"SDK_LINK := {' '.join(LINK)}",
             "# this tree's images use no C library: no malloc heap",
             *(f"LINK_{kind} := {' '.join(symbols(kind, heap=0))}" for kind in KINDS),
             *(f"NOHOST_{arch} := {' '.join(nohost_flags(arch))}" for arch in ARCHES)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["make"]:
        sys.stdout.write(make_variables())
        return 0
    print("usage: python -m pipsim.kernel.sdk.flags make", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
