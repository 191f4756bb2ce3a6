"""The kernel's single table of system calls and failure reasons.

This module is the one source of truth: the cffi build generates the C header
``pip_abi.h`` from it, the Python API and the reference model import it, and the
firmware headers (libpip) are generated from it too.  Numbers never change once
released; new entries go at the end.
"""
from __future__ import annotations

import enum
from typing import NamedTuple


class Syscall(NamedTuple):
    number: int
    name: str       # Pip's name (Services.v / v0.2 PipInternals.md)
    arity: int
    doc: str


#: Pip's ten v0.2 system calls (pip-spec §2.1), then the current control-flow calls (§2.4, §2.6).
SYSCALLS: tuple[Syscall, ...] = (
    Syscall(1, "createPartition", 5, "descChild, pdChild, sh1Child, sh2Child, llChild -> bool"),
    Syscall(2, "deletePartition", 1, "descChild -> bool"),
    Syscall(3, "addVAddr", 6, "vaParent, descChild, vaChild, r, w, e -> bool"),
    Syscall(4, "removeVAddr", 2, "descChild, vaChild -> bool"),
    Syscall(5, "prepare", 3, "descChild, vaChild, fstVA -> next VA | ok (bit 0)"),
    Syscall(6, "collect", 2, "descChild, vaToCollect -> bool"),
    Syscall(7, "countToMap", 2, "descChild, vaChild -> pages needed"),
    Syscall(8, "mappedInChild", 1, "vaParent -> descChild VA or 0"),
    Syscall(9, "dispatch", 5, "descriptor, vint, notify, data1, data2 -> failure code"),
    Syscall(10, "resume", 2, "descriptor, pipflags -> failure code"),
    Syscall(11, "yield", 5, "callee, targetInterrupt, saveIndex, flagsOnYield, flagsOnWake -> code"),
    Syscall(12, "get_int_state", 1, "descChild -> state or 0xFFFFFFFF"),
    Syscall(13, "set_int_state", 1, "state -> nothing"),
)


class PipError(enum.IntEnum):
    """Why the kernel refused a call (Pip itself only returns false / 0 / null).

    The order of checks, hence which reason a call reports, is fixed per
    service in docs/kernel.md.
    """

    NULL_VADDR = 1              # a VA that must not be null is null
    SAME_VADDR = 2              # two VAs that must name distinct pages name the same page
    KERNEL_SLOT = 3             # a VA lies in the kernel slot (top-level index 1)
    NOT_MAPPED = 4              # the caller has no leaf table for a VA
    NOT_PRESENT = 5             # a caller page is not present
    NOT_ACCESSIBLE = 6          # a caller page is present but not accessible
    DERIVED = 7                 # a caller page is already shared with a child or lent to the kernel
    BAD_RIGHTS = 8              # checkRights refused (r must be 1)
    NOT_CHILD = 9               # descChild is not the PD of a child of the caller
    CHILD_NOT_PRESENT = 10      # descChild's page is not present in the caller
    CHILD_TABLE_MISSING = 11    # the child has no leaf table for that VA (prepare first)
    CHILD_VADDR_PRESENT = 12    # the child already maps a page at that VA
    CHILD_PAGE_NOT_PRESENT = 13     # removeVAddr: nothing mapped at that VA in the child
    CHILD_PAGE_NOT_ACCESSIBLE = 14  # removeVAddr: the child lent that page to the kernel
    CHILD_PAGE_DERIVED = 15     # removeVAddr: the child shared that page with a grandchild
    INCONSISTENT_STATE = 16     # a kernel structure contradicts the invariants (corrupted state)
    # control flow (yield / dispatch / resume / get_int_state)
    INVALID_INT_LEVEL = 17      # targetInterrupt >= tableSize - 1
    INVALID_CTX_SAVE_INDEX = 18  # callerCtxSaveIndex >= tableSize - 1
    ROOT_CALLER = 19            # the root has no parent to transfer control to
    INVALID_CHILD = 20          # yield target is neither null (parent) nor a child
    UNAVAILABLE_TARGET_VIDT = 21
    UNAVAILABLE_CALLER_VIDT = 22
    UNAVAILABLE_TARGET_CTX = 23
    CALLER_CONTEXT_SAVE = 24
    # policy "hardened" only (docs/kernel.md §9)
    RIGHTS_AMPLIFIED = 25       # addVAddr: a right the caller itself does not hold on the page
    NOT_WRITABLE = 26           # a page to become a kernel structure is not writable by the caller
    DEVICE_PAGE = 27            # a page to become a kernel structure is a device page
    RESERVED_VECTOR = 28        # a child's yield / dispatch to its parent names an event vector

    def __str__(self) -> str:
        """Its name and what it means, for messages (an IntEnum would print its number)."""
        return f"{self.name} ({MESSAGES[self]})"


#: Pip's yield return codes (pip-spec §2.4, maldefines.h) for each reason.
YIELD_CODES: dict[PipError, int] = {
    PipError.INVALID_INT_LEVEL: 1,
    PipError.INVALID_CTX_SAVE_INDEX: 2,
    PipError.ROOT_CALLER: 3,
    PipError.INVALID_CHILD: 4,
    PipError.UNAVAILABLE_TARGET_VIDT: 5,
    PipError.UNAVAILABLE_CALLER_VIDT: 6,
    PipError.UNAVAILABLE_TARGET_CTX: 8,
    PipError.CALLER_CONTEXT_SAVE: 9,
    PipError.RESERVED_VECTOR: 10,       # ours: Pip's codes end at 9
}

MESSAGES: dict[PipError, str] = {
    PipError.NULL_VADDR: "a virtual address that must not be null is null",
    PipError.SAME_VADDR: "two virtual addresses name the same page",
    PipError.KERNEL_SLOT: "a virtual address lies in the kernel slot",
    PipError.NOT_MAPPED: "the caller has no page table for that virtual address",
    PipError.NOT_PRESENT: "the caller's page is not present",
    PipError.NOT_ACCESSIBLE: "the caller's page is not accessible (lent to the kernel)",
    PipError.DERIVED: "the caller's page is already shared with a child or used by the kernel",
    PipError.BAD_RIGHTS: "rights refused: a page must be readable",
    PipError.NOT_CHILD: "descChild is not a child partition of the caller",
    PipError.CHILD_NOT_PRESENT: "the child's descriptor page is not present",
    PipError.CHILD_TABLE_MISSING: "the child has no page table for that address: prepare it first",
    PipError.CHILD_VADDR_PRESENT: "the child already maps a page at that address",
    PipError.CHILD_PAGE_NOT_PRESENT: "nothing is mapped at that address in the child",
    PipError.CHILD_PAGE_NOT_ACCESSIBLE: "the child lent that page to the kernel",
    PipError.CHILD_PAGE_DERIVED: "the child shared that page with one of its children",
    PipError.INCONSISTENT_STATE: "kernel structures are inconsistent",
    PipError.INVALID_INT_LEVEL: "target interrupt index out of range",
    PipError.INVALID_CTX_SAVE_INDEX: "context save index out of range",
    PipError.ROOT_CALLER: "the root partition has no parent",
    PipError.INVALID_CHILD: "the target is not a child partition",
    PipError.UNAVAILABLE_TARGET_VIDT: "the target's VIDT page is not mapped and accessible",
    PipError.UNAVAILABLE_CALLER_VIDT: "the caller's VIDT page is not mapped and accessible",
    PipError.UNAVAILABLE_TARGET_CTX: "the target's context is not mapped and accessible",
    PipError.CALLER_CONTEXT_SAVE: "the caller's context save area is not mapped and accessible"
                                  " (hardened: and writable)",
    PipError.RIGHTS_AMPLIFIED: "the caller asks for a right it does not hold on that page",
    PipError.NOT_WRITABLE: "a page lent read-only cannot become a kernel structure",
    PipError.DEVICE_PAGE: "a device page cannot become a kernel structure",
    PipError.RESERVED_VECTOR: "vectors below the save slots are the kernel's events: a child "
                              "cannot yield or dispatch to them in its parent",
}

#: Kernel policies (docs/kernel.md §9): "pip" is Pip v0.2 exactly, weak spots included.
POLICIES: tuple[str, ...] = ("pip", "hardened")

# ---- Geometry and layout constants shared by the core and the model (docs/kernel.md) ----
PAGE_SIZE = 4096
PAGE_SHIFT = 12
KERNEL_INDEX = 1              # top-level index of the kernel slot (Pip's model: CIndex 1)
MIN_TABLE_SIZE = 16
MAX_TABLE_SIZE = 1024
MAX_PAGES = 1 << 20           # physical addresses are 32-bit

# PTE / table-entry flag bits (MMU tree and the non-leaf entries of both shadows)
PTE_PRESENT = 1 << 0
PTE_ACCESSIBLE = 1 << 1       # Pip's "user" bit
PTE_READ = 1 << 2
PTE_WRITE = 1 << 3
PTE_EXEC = 1 << 4
PTE_ALL = 0x1F
SH1_PD_FLAG = 1 << 0          # bit 0 of an sh1 leaf entry

# Partition descriptor slots (pip-spec §3.2)
PD_SELF, PD_MMU, PD_SH1, PD_SH2, PD_LL, PD_PARENT = 0, 2, 4, 6, 8, 10
PD_PCID, PD_INT_STATE = 12, 13
ROOT_IO_MASK = 0xFFFFFFFF

# Context record (docs/kernel.md "Contexts"): 20 little-endian 32-bit words
CTX_PC, CTX_PIPFLAGS, CTX_STATUS, CTX_VALID, CTX_REGS = 0, 1, 2, 3, 4
CONTEXT_WORDS = 20
CONTEXT_SIZE = 4 * CONTEXT_WORDS
GET_INT_STATE_ERROR = 0xFFFFFFFF
RESUME_SELF = 0xFFFFFFFF


def cli_sti_save_indices(table_size: int) -> tuple[int, int]:
    """VIDT slots where an interrupted context is saved (state 0 -> CLI, else STI)."""
    if table_size > 50:
        return 48, 49
    return table_size - 3, table_size - 2


def reason_message(code: PipError | None) -> str:
    return "no error" if code is None else MESSAGES[code]

#: The properties check_invariants() reports, with the Coq names (pip-spec §4.2, §4.3).
#: Bit i of the C core's result stands for INVARIANTS[i].
INVARIANTS: tuple[str, ...] = (
    "verticalSharing",
    "partitionsIsolation",
    "kernelDataIsolation",
    "partitionDescriptorEntry",
    "dataStructurePdSh1Sh2asRoot(MMU)",
    "dataStructurePdSh1Sh2asRoot(sh1)",
    "dataStructurePdSh1Sh2asRoot(sh2)",
    "currentPartitionInPartitionsList",
    "noDupMappedPagesList",
    "noDupConfigPagesList",
    "parentInPartitionList",
    "accessibleVAIsNotPartitionDescriptor",
    "accessibleChildPageIsAccessibleIntoParent",
    "noCycleInPartitionTree",
    "configTablesAreDifferent",
    "isChild",
    "isPresentNotDefaultIff",
    "physicalPageNotDerived",
    "multiplexerWithoutParent",
    "isParent",
    "noDupPartitionTree",
    "wellFormedFstShadow",
    "wellFormedSndShadow",
    "wellFormedShadows(sh1)",
    "wellFormedShadows(sh2)",
    "currentPartitionIsNotDefaultPage",
    "wellFormedFstShadowIfNone",
    "wellFormedFstShadowIfDefaultValues",
)

#: Properties beyond Pip's (docs/kernel.md §10), reported apart by check_extra_properties().
#: Bit i of the C core's result stands for EXTRA_PROPERTIES[i].
EXTRA_PROPERTIES: tuple[str, ...] = (
    "rightsMonotonicity",
    "configPagesWritableInParent",
    "noDeviceConfigPages",
    "saveSlotsWritable",
)

#: pip_boot()'s failure codes (the Python API checks the geometry first).
BOOT_ERRORS: dict[int, str] = {
    -1: "invalid geometry",
    -2: "too few pages: the root needs its kernel pages and at least 2 free pages",
    -3: "too many pages for the address space: raise table_size or levels",
    -4: "cannot allocate the physical memory",
}


def c_header() -> str:
    """The C view of this table (pipkernel/c/pip_abi.h, generated by the build)."""
    import re

    lines = ["/* Generated from pipkernel/abi.py by pipkernel/_build.py: do not edit. */",
             "#ifndef PIP_ABI_H", "#define PIP_ABI_H", "#include <stdint.h>", ""]
    lines += [f"#define PIP_SYS_{s.name} {s.number}  /* {s.arity} args: {s.doc} */"
              for s in SYSCALLS]
    lines += [f"#define PIP_E_{e.name} {e.value}" for e in PipError]
    lines += [f"#define PIP_INV_{re.sub(r'[^A-Za-z0-9]', '_', name)} {bit}"
              for bit, name in enumerate(INVARIANTS)]
    lines += [f"#define PIP_XPROP_{name} {bit}" for bit, name in enumerate(EXTRA_PROPERTIES)]
    lines += [f"#define PIP_POLICY_{name.upper()} {i}" for i, name in enumerate(POLICIES)]
    names = {-1: "BAD_GEOMETRY", -2: "TOO_FEW_PAGES", -3: "TOO_MANY_PAGES", -4: "NO_MEMORY"}
    lines += [f"#define PIP_BOOT_{names[code]} ({code})" for code in BOOT_ERRORS]
    constants = dict(KERNEL_INDEX=KERNEL_INDEX, MIN_TABLE_SIZE=MIN_TABLE_SIZE,
                     MAX_TABLE_SIZE=MAX_TABLE_SIZE, MAX_PAGES=MAX_PAGES,
                     PTE_PRESENT=PTE_PRESENT, PTE_ACCESSIBLE=PTE_ACCESSIBLE, PTE_READ=PTE_READ,
                     PTE_WRITE=PTE_WRITE, PTE_EXEC=PTE_EXEC, PTE_ALL=PTE_ALL,
                     SH1_PD_FLAG=SH1_PD_FLAG, PD_SELF=PD_SELF, PD_MMU=PD_MMU, PD_SH1=PD_SH1,
                     PD_SH2=PD_SH2, PD_LL=PD_LL, PD_PARENT=PD_PARENT, PD_PCID=PD_PCID,
                     PD_INT_STATE=PD_INT_STATE, ROOT_IO_MASK=ROOT_IO_MASK, CTX_PC=CTX_PC,
                     CTX_PIPFLAGS=CTX_PIPFLAGS, CTX_STATUS=CTX_STATUS, CTX_VALID=CTX_VALID,
                     CTX_REGS=CTX_REGS, CONTEXT_WORDS=CONTEXT_WORDS,
                     GET_INT_STATE_ERROR=GET_INT_STATE_ERROR, RESUME_SELF=RESUME_SELF)
    lines += [f"#define PIP_{name} {value:#x}u" for name, value in constants.items()]
    lines += [f"#define PIP_VECTOR_{name} {value}u" for name, value in VECTORS.items()]
    machine = dict(HOST_CALL_BASE=HOST_CALL_BASE, SWI_FIRST=SWI_FIRST, SWI_ERROR=SWI_ERROR,
                   CONSOLE_TX=CONSOLE_TX, CONSOLE_STATUS=CONSOLE_STATUS, CONSOLE_RX=CONSOLE_RX,
                   SYSTEM_TIMER_PERIOD=SYSTEM_TIMER_PERIOD, SYSTEM_HALT=SYSTEM_HALT,
                   SYSTEM_BLOCKS=SYSTEM_BLOCKS, SYSTEM_PAGES=SYSTEM_PAGES)
    lines += [f"#define PIP_{name} {value:#x}u" for name, value in machine.items()]
    lines += ["", "static inline uint32_t pip_yield_code(uint32_t reason) {",
              "    switch (reason) {"]
    lines += [f"    case PIP_E_{e.name}: return {code};" for e, code in YIELD_CODES.items()]
    lines += ["    default: return 0xFFFFFFFFu;", "    }", "}", "", "#endif", ""]
    return "\n".join(lines)


# ---- The machine (docs/abi.md): kernel calls, vectors, devices ----
HOST_CALL_BASE = 0x100          # call numbers >= this go to the simulator's Python side
SWI_FIRST = 48                  # int n / svc #n with n >= 48: software interrupt to the parent
SWI_ERROR = 0xFFFFFFFF          # r0 / eax after a software interrupt the parent cannot take

VECTORS: dict[str, int] = {
    "DIVIDE_ERROR": 0, "BREAKPOINT": 3, "INVALID_OPCODE": 6, "DOUBLE_FAULT": 8,
    "GENERAL_PROTECTION": 13, "PAGE_FAULT": 14, "TIMER": 32, "CONSOLE": 33,
}
ACCESS_CODES = {"read": 1, "write": 2, "execute": 3}   # r3 / edx of a page-fault handler

MACHINE_TABLE_SIZE, MACHINE_LEVELS = 1024, 2
VIDT_VA = 0xFFFFF000
CONSOLE_VA = 0x800000           # the root's first page
SYSTEM_VA = 0x801000            # the root's second page
ROOT_IMAGE_BASE = 0x802000
CONSOLE_TX, CONSOLE_STATUS, CONSOLE_RX = 0, 4, 8
SYSTEM_TIMER_PERIOD, SYSTEM_HALT, SYSTEM_BLOCKS, SYSTEM_PAGES = 0, 4, 8, 12


def firmware_header() -> str:
    """firmware/include/pip/abi.h: the same numbers for C firmware."""
    lines = ["/* Generated from pipkernel/abi.py: do not edit. See docs/abi.md. */",
             "#ifndef PIP_ABI_H", "#define PIP_ABI_H", ""]
    lines += [f"#define PIP_CALL_{s.name.upper()} {s.number}  /* {s.doc} */" for s in SYSCALLS]
    lines += [f"#define PIP_VECTOR_{name} {value}" for name, value in VECTORS.items()]
    lines += [f"#define PIP_ACCESS_{name.upper()} {value}" for name, value in ACCESS_CODES.items()]
    lines += ["#define PIP_YIELD_OK 0"] + [f"#define PIP_YIELD_{reason.name} {code}"
                                          for reason, code in YIELD_CODES.items()]
    constants = dict(HOST_CALL_BASE=HOST_CALL_BASE, SWI_FIRST=SWI_FIRST, SWI_ERROR=SWI_ERROR,
                     VIDT_VA=VIDT_VA, CONSOLE_VA=CONSOLE_VA, SYSTEM_VA=SYSTEM_VA,
                     ROOT_IMAGE_BASE=ROOT_IMAGE_BASE, CONSOLE_TX=CONSOLE_TX,
                     CONSOLE_STATUS=CONSOLE_STATUS, CONSOLE_RX=CONSOLE_RX,
                     SYSTEM_TIMER_PERIOD=SYSTEM_TIMER_PERIOD, SYSTEM_HALT=SYSTEM_HALT,
                     SYSTEM_BLOCKS=SYSTEM_BLOCKS, SYSTEM_PAGES=SYSTEM_PAGES, CLI_SAVE_INDEX=48, STI_SAVE_INDEX=49,
                     CONTEXT_WORDS=CONTEXT_WORDS, CTX_PC=CTX_PC, CTX_PIPFLAGS=CTX_PIPFLAGS,
                     CTX_STATUS=CTX_STATUS, CTX_VALID=CTX_VALID, CTX_REGS=CTX_REGS,
                     PAGE_SIZE=PAGE_SIZE, RESUME_SELF=RESUME_SELF,
                     GET_INT_STATE_ERROR=GET_INT_STATE_ERROR)
    lines += [f"#define PIP_{name} {value:#x}u" for name, value in constants.items()]
    lines += ["", "#endif", ""]
    return "\n".join(lines)
