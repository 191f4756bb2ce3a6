"""The C views of pipkernel/abi.py, the one generator of both headers (docs/abi.md):

* ``core_header()``: pipkernel/c/pip_abi.h, for the kernel core and machine.c (written by
  the cffi build, pipkernel/_build.py);
* ``firmware_header()``: firmware/include/pip/abi.h, for libpip (written by
  firmware/gen_abi.py on every firmware make).

Standard library only, and loadable by path like abi.py itself: neither build needs the
package installed.  Every value comes from abi.py; this file only names and formats.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re
import struct
import sys


def _load_abi():
    spec = importlib.util.spec_from_file_location(
        "_pip_abi", pathlib.Path(__file__).resolve().with_name("abi.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module       # enum and NamedTuple look their module up
    spec.loader.exec_module(module)
    return module


abi = _load_abi()


def _defines(names) -> list[str]:
    """#define PIP_<NAME> <value>u for abi.py's constants of those names."""
    return [f"#define PIP_{name} {getattr(abi, name):#x}u" for name in names]


def _save_slot_macros() -> list[str]:
    """abi.py's save-slot rule as C macros of the table size."""
    above = abi.SAVE_SLOTS_ABOVE
    return [f"#define PIP_{which}_SAVE_INDEX(ts) ((ts) > {above}u ? {fixed}u : (ts) - {from_end}u)"
            for which, (fixed, from_end) in (("CLI", abi.CLI_SAVE_SLOT),
                                             ("STI", abi.STI_SAVE_SLOT))]


def _core_arch(arch) -> list[str]:
    """machine.c's view of one architecture: Unicorn register ids and context indices."""
    p, uc = f"PIP_{arch.name.upper()}", f"UC_{arch.name.upper()}_REG_"
    regs = [arch.pc, arch.status, *arch.registers]
    return [f"#define {p}_UC_CONTEXT {', '.join(uc + r.upper() for r in regs)}"
            "  /* pc, status, then the context registers */",
            f"#define {p}_CONTEXT_REGS {len(arch.registers)}",
            f"#define {p}_CALL_NUMBER {arch.index(arch.call_number)}",
            f"#define {p}_CALL_ARGS {', '.join(str(arch.index(r)) for r in arch.call_args)}",
            f"#define {p}_CALL_RESULT {arch.index(arch.call_result)}",
            f"#define {p}_USER_STATUS {arch.user_status:#x}u",
            f"#define {p}_THUMB {arch.thumb:#x}u"]


def core_header() -> str:
    """pipkernel/c/pip_abi.h."""
    lines = ["/* Generated from pipkernel/abi.py by pipkernel/abi_headers.py: do not edit. */",
             "#ifndef PIP_ABI_H", "#define PIP_ABI_H", "#include <stdint.h>", ""]
    lines += [f"#define PIP_SYS_{s.name} {s.number}  /* {s.arity} args: {s.doc} */"
              for s in abi.SYSCALLS]
    lines += [f"#define PIP_E_{e.name} {e.value}" for e in abi.PipError]
    lines += [f"#define PIP_INV_{re.sub(r'[^A-Za-z0-9]', '_', name)} {bit}"
              for bit, name in enumerate(abi.INVARIANTS)]
    lines += [f"#define PIP_XPROP_{name} {bit}" for bit, name in enumerate(abi.EXTRA_PROPERTIES)]
    lines += [f"#define PIP_POLICY_{name.upper()} {i}" for i, name in enumerate(abi.POLICIES)]
    names = {-1: "BAD_GEOMETRY", -2: "TOO_FEW_PAGES", -3: "TOO_MANY_PAGES", -4: "NO_MEMORY"}
    lines += [f"#define PIP_BOOT_{names[code]} ({code})" for code in abi.BOOT_ERRORS]
    lines += _defines(["KERNEL_INDEX", "MIN_TABLE_SIZE", "MAX_TABLE_SIZE", "MAX_PAGES",
                       "PTE_PRESENT", "PTE_ACCESSIBLE", "PTE_READ", "PTE_WRITE", "PTE_EXEC",
                       "PTE_ALL", "SH1_PD_FLAG", "PD_SELF", "PD_MMU", "PD_SH1", "PD_SH2", "PD_LL",
                       "PD_PARENT", "PD_PCID", "PD_INT_STATE", "ROOT_IO_MASK", "CTX_PC",
                       "CTX_PIPFLAGS", "CTX_STATUS", "CTX_VALID", "CTX_REGS", "CONTEXT_WORDS",
                       "GET_INT_STATE_ERROR", "RESUME_SELF"])
    lines += _save_slot_macros()
    lines += [f"#define PIP_VECTOR_{name} {value}u" for name, value in abi.VECTORS.items()]
    lines += [f"#define PIP_DEVICE_VECTOR_FIRST {abi.DEVICE_VECTORS[0]}u",
              f"#define PIP_DEVICE_VECTOR_LAST {abi.DEVICE_VECTORS[-1]}u"]
    lines += _defines(["HOST_CALL_BASE", "SWI_FIRST", "SWI_ERROR", "CONSOLE_TX",
                       "CONSOLE_STATUS", "SYSTEM_TIMER_PERIOD", "SYSTEM_HALT", "SYSTEM_BLOCKS",
                       "SYSTEM_PAGES"])
    for arch in abi.ARCHES.values():
        lines += _core_arch(arch)
    lines += ["", "static inline uint32_t pip_yield_code(uint32_t reason) {",
              "    switch (reason) {"]
    lines += [f"    case PIP_E_{e.name}: return {code};" for e, code in abi.YIELD_CODES.items()]
    lines += ["    default: return 0xFFFFFFFFu;", "    }", "}", "", "#endif", ""]
    return "\n".join(lines)


def _ipc_header_struct() -> list[str]:
    """pip_ipc_header: abi.IPC_HEADER's fields as a C struct."""
    types = {"B": "uint8_t", "H": "uint16_t", "I": "uint32_t"}
    for name, fmt, _ in abi.IPC_HEADER:      # aligned fields: the C struct has no padding
        assert abi.IPC_HEADER_OFFSETS[name] % struct.calcsize(fmt) == 0, name
    used = struct.calcsize("<" + "".join(fmt for _, fmt, _ in abi.IPC_HEADER))
    return (["typedef struct {                /* a slot header */"]
            + [f"    {types[fmt]} {name};".ljust(32) + f"/* {meaning} */"
               for name, fmt, meaning in abi.IPC_HEADER]
            + [f"    uint8_t reserved[{abi.IPC_HEADER_SIZE - used}];", "} pip_ipc_header;"])


_COMPILER_MACRO = {"arm": "__arm__", "x86": "__i386__"}   # what gcc predefines for each


def _firmware_arch(arch) -> list[str]:
    """libpip's view of one architecture: context register indices and status bits."""
    lines = [f"#define PIP_REG_{name.upper()} {i}" for i, name in enumerate(arch.registers)]
    if "sp" not in arch.registers:
        lines.append(f"#define PIP_REG_SP {arch.index(arch.stack_pointer)}")
    return lines + [f"#define PIP_STATUS_USER {arch.user_status:#x}u",
                    f"#define PIP_STATUS_THUMB {arch.thumb:#x}u"]


def firmware_header() -> str:
    """firmware/include/pip/abi.h."""
    lines = ["/* Generated from pipkernel/abi.py by pipkernel/abi_headers.py: do not edit. "
             "See docs/abi.md. */", "#ifndef PIP_ABI_H", "#define PIP_ABI_H",
             "#include <stdint.h>", ""]
    lines += [f"#define PIP_CALL_{s.name.upper()} {s.number}  /* {s.doc} */"
              for s in abi.SYSCALLS]
    lines += [f"#define PIP_VECTOR_{name} {value}" for name, value in abi.VECTORS.items()]
    lines += [f"#define PIP_DEVICE_VECTOR_FIRST {abi.DEVICE_VECTORS[0]}",
              f"#define PIP_DEVICE_VECTOR_LAST {abi.DEVICE_VECTORS[-1]}"]
    lines += [f"#define PIP_ACCESS_{name.upper()} {value}"
              for name, value in abi.ACCESS_CODES.items()]
    lines += ["#define PIP_YIELD_OK 0"] + [f"#define PIP_YIELD_{reason.name} {code}"
                                          for reason, code in abi.YIELD_CODES.items()]
    lines += _defines(["HOST_CALL_BASE", "SWI_FIRST", "SWI_ERROR", "VIDT_VA", "CONSOLE_VA",
                       "SYSTEM_VA", "ROOT_IMAGE_BASE", "CONSOLE_TX", "CONSOLE_STATUS",
                       "SYSTEM_TIMER_PERIOD", "SYSTEM_HALT", "SYSTEM_BLOCKS", "SYSTEM_PAGES",
                       "CLI_SAVE_INDEX", "STI_SAVE_INDEX", "CONTEXT_WORDS", "CTX_PC",
                       "CTX_PIPFLAGS", "CTX_STATUS", "CTX_VALID", "CTX_REGS", "PAGE_SIZE",
                       "RESUME_SELF", "GET_INT_STATE_ERROR", "CHILD_EXIT_VECTOR",
                       "CHILD_EXIT_MAGIC"])
    lines += ["", "/* libpip's VIDT page (pip/vidt.h) */",
              f"#define PIP_VIDT_CTX_OFFSET {abi.VIDT_CONTEXT_OFFSET:#x}u"]
    lines += ["", "/* the IPC mailbox (docs/ipc.md, pip/ipc.h); offsets from the outbox VA */"]
    lines += [f"#define PIP_IPC_MAGIC {abi.IPC_MAGIC:#x}u"]
    lines += [f"#define PIP_IPC_{name} {getattr(abi, 'IPC_' + name)}u"
              for name in ("VERSION", "HEADER_SIZE", "SLOT_SIZE", "MAX_ENDPOINT")]
    lines += ["#define PIP_IPC_MAX_PAYLOAD (PIP_IPC_SLOT_SIZE - PIP_IPC_HEADER_SIZE)",
              f"#define PIP_IPC_PENDING_OFF {abi.IPC_PENDING:#x}u",
              f"#define PIP_IPC_SEQ_OFF {abi.IPC_SEQ_TABLE:#x}u"]
    for ring, (offset, slot_size, count) in abi.IPC_RINGS.items():
        lines += [f"#define PIP_IPC_{ring.name}_OFF {offset:#x}u",
                  f"#define PIP_IPC_{ring.name}_SLOT_SIZE {slot_size}u",
                  f"#define PIP_IPC_{ring.name}_SLOTS {count}u"]
    lines += [f"#define PIP_IPC_{state.name} {state.value}" for state in abi.IpcState]
    lines += [f"#define PIP_IPC_PENDING_{which.name} {which.value}" for which in abi.IpcPending]
    lines += [f"#define PIP_IPC_PENDING_COUNTS {len(abi.IpcPending)}"]
    lines += [f"#define PIP_IPC_{reason.name} {reason.value}" for reason in abi.IpcReason]
    lines += _ipc_header_struct()
    lines += ["", "/* this image's architecture (pipkernel/abi.py ARCHES) */"]
    for i, arch in enumerate(abi.ARCHES.values()):
        lines += [f"#{'el' if i else ''}if defined({_COMPILER_MACRO[arch.name]})"]
        lines += _firmware_arch(arch)
    lines += ["#endif", "", "#endif", ""]
    return "\n".join(lines)
