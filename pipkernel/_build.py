"""cffi build script (API, out-of-line mode): the single list of the core's sources.

Run by setuptools (setup.py `cffi_modules`) or directly.  PIPSIM_SANITIZE=1 builds
the core with AddressSanitizer and UBSan.
"""
import importlib.util
import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
C_DIR = HERE / "c"

# ---- C sources: one file per kernel concept ----
SOURCES = [
    "boot.c",         # physical memory and the root partition's initial state
    "mmu.c",          # accessibility propagation, translation, user copies
    "ll.c",           # configuration-pages linked list
    "partition.c",    # createPartition, deletePartition
    "mapping.c",      # addVAddr, removeVAddr, mappedInChild
    "prepare.c",      # countToMap, prepare, collect
    "control.c",      # yield, dispatch, resume, interrupt state
    "introspect.c",   # children, mappings, configuration pages
    "invariants.c",   # isolation properties and consistency
    "policy.c",       # device pages and the checks of the "hardened" policy
    "properties.c",   # the properties beyond Pip's
    "machine.c",      # the Unicorn glue: TLB fill, kernel calls, interrupts, devices
]
HEADERS = ["pip.h", "machine.h"]     # their CDEF sections are the whole Python-visible API
# the ways from guest code to Python (machine.c's host_call, device_read / device_write),
# defined in pipsim.kernel.machine
CALLBACKS = """
extern "Python" uint32_t pip_host_call_py(pip_machine *, uint32_t, uint32_t *);
extern "Python" uint32_t pip_device_read_py(pip_machine *, uint32_t, uint32_t, uint32_t);
extern "Python" void pip_device_write_py(pip_machine *, uint32_t, uint32_t, uint32_t, uint32_t);
"""


def _load_abi_headers():
    """pipkernel/abi_headers.py by path (the package is not installed yet)."""
    spec = importlib.util.spec_from_file_location("_pip_abi_headers", HERE / "abi_headers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_if_changed(path: pathlib.Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _cdef() -> str:
    """The declarations between BEGIN CDEF and END CDEF in each header."""
    return "\n".join(_section(header) for header in HEADERS)


def _section(header: str) -> str:
    text = (C_DIR / header).read_text()
    return text.split("/* BEGIN CDEF */", 1)[1].split("/* END CDEF */", 1)[0]


def _unicorn_include() -> str:
    """Unicorn's headers ship in its wheel (a build requirement); the library itself is
    the one the Python binding loaded (pipsim.kernel.machine hands machine.c its functions)."""
    import unicorn
    return str(pathlib.Path(unicorn.__file__).parent / "include")


_write_if_changed(C_DIR / "pip_abi.h", _load_abi_headers().core_header())

_flags = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
_link = []
if os.environ.get("PIPSIM_SANITIZE") == "1":
    _flags += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
    _link += ["-fsanitize=address,undefined"]

ffibuilder = FFI()
ffibuilder.cdef(_cdef() + CALLBACKS)
ffibuilder.set_source(
    "pipsim.kernel._pipcore",
    '#include "pip.h"\n#include "machine.h"',
    sources=[f"pipkernel/c/{name}" for name in SOURCES],   # relative to the project root
    include_dirs=[str(C_DIR), _unicorn_include()],
    extra_compile_args=_flags,
    extra_link_args=_link,
)

if __name__ == "__main__":
    os.chdir(HERE.parent)
    ffibuilder.compile(tmpdir=".", verbose=True)
