"""The single source of the numbers C and Python share: system calls and failure reasons,
the kernel's layout constants, the machine's conventions (per architecture), libpip's VIDT
page and the IPC mailbox layout.

The Python API, the reference model, the machine and ipc/ import them from here;
pipkernel/abi_headers.py writes the C views (pip_abi.h for the core and machine.c, at
build time; firmware/include/pip/abi.h for libpip).  Standard library only: the
generators load this file by path.  Numbers never change once released; new entries go at
the end.
"""
from __future__ import annotations

import enum
import struct
from typing import NamedTuple, Sequence


class Syscall(NamedTuple):
    """One system call of the ABI: its number, Pip's name, its arity and its signature."""

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
#: How the machine's time runs (docs/abi.md "Run modes"); the first is the default.
RUN_MODES: tuple[str, ...] = ("exact", "fast")

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


#: The VIDT slots naming where an interrupted context is saved (pip-spec §5), CLI when the
#: partition's interrupt state is 0, STI otherwise: (slot when table_size > SAVE_SLOTS_ABOVE,
#: else table_size minus this).  The one statement of the rule: cli_sti_save_indices below,
#: and the C core's PIP_CLI_SAVE_INDEX(ts) / PIP_STI_SAVE_INDEX(ts) (pipkernel/abi_headers.py).
SAVE_SLOTS_ABOVE = 50
CLI_SAVE_SLOT = (48, 3)
STI_SAVE_SLOT = (49, 2)


def cli_sti_save_indices(table_size: int) -> tuple[int, int]:
    """VIDT slots where an interrupted context is saved (state 0 -> CLI, else STI)."""
    if table_size > SAVE_SLOTS_ABOVE:
        return CLI_SAVE_SLOT[0], STI_SAVE_SLOT[0]
    return table_size - CLI_SAVE_SLOT[1], table_size - STI_SAVE_SLOT[1]


def reason_message(code: PipError | None) -> str:
    """What a refusal's reason means, in words ("no error" for None)."""
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


# ---- The machine (docs/abi.md): kernel calls, vectors, devices ----
HOST_CALL_BASE = 0x100          # call numbers >= this go to the simulator's Python side
SWI_FIRST = 48                  # int n / svc #n with n >= 48: software interrupt to the parent
SWI_ERROR = 0xFFFFFFFF          # r0 / eax after a software interrupt the parent cannot take

VECTORS: dict[str, int] = {
    "DIVIDE_ERROR": 0, "BREAKPOINT": 3, "INVALID_OPCODE": 6, "DOUBLE_FAULT": 8,
    "GENERAL_PROTECTION": 13, "PAGE_FAULT": 14, "TIMER": 32,
}
DEVICE_VECTORS = range(33, 48)  # a device's interrupt for the root (Machine.raise_irq)
ACCESS_CODES = {"read": 1, "write": 2, "execute": 3}   # context register 3 of a page-fault handler

MACHINE_TABLE_SIZE, MACHINE_LEVELS = 1024, 2
VIDT_VA = 0xFFFFF000
CONSOLE_VA = 0x800000           # the root's first page
SYSTEM_VA = 0x801000            # the root's second page
ROOT_IMAGE_BASE = 0x802000
CONSOLE_TX, CONSOLE_STATUS = 0, 4
SYSTEM_TIMER_PERIOD, SYSTEM_HALT, SYSTEM_BLOCKS, SYSTEM_PAGES = 0, 4, 8, 12

# ---- libpip's VIDT page (firmware/include/pip/vidt.h; pipsim.kernel.machine.spawn) ----
VIDT_CONTEXT_OFFSET = 0x800     # slots below, contexts of the VIDT's owner from here
#: the save slots of the machine's VIDTs (its table size is over SAVE_SLOTS_ABOVE)
CLI_SAVE_INDEX, STI_SAVE_INDEX = cli_sti_save_indices(MACHINE_TABLE_SIZE)
MAIN_SLOTS = (0, CLI_SAVE_INDEX, STI_SAVE_INDEX)   # a child's main context: started, and saved
#: a child whose main returned (libpip's start file, docs/sdk.md) raises this software
#: interrupt with r0 / eax = its exit code and r1 / ecx = CHILD_EXIT_MAGIC: its parent reads
#: both in the child's saved main context
CHILD_EXIT_VECTOR = 65
CHILD_EXIT_MAGIC = 0x54495845   # "EXIT"


# ---- Per-architecture conventions (docs/abi.md "Kernel calls", "Contexts") ----
class Arch(NamedTuple):
    """One CPU's conventions, read by the machine's C glue (pip_abi.h), its Python side
    (pipsim.kernel.machine) and libpip (firmware/include/pip/abi.h).  Registers are named as
    Unicorn names them (UC_<ARCH>_REG_<NAME>)."""

    name: str
    elf_machine: str                # e_machine of its images (pyelftools' name)
    pc: str                         # the register behind a context's pc word
    status: str                     # ... and behind its status word
    registers: tuple[str, ...]      # context words CTX_REGS.. in order (the rest are 0)
    stack_pointer: str
    call_number: str                # a kernel call: the register holding its number,
    call_args: tuple[str, ...]      # its six arguments,
    call_result: str                # and its result
    user_status: int                # the status a partition starts with (forced on each load)
    thumb: int = 0                  # ARM: the CPSR's T bit, bit 0 of a context's pc word

    def index(self, register: str) -> int:    # type: ignore[override]  # a register's, by name
        """The context register index (word CTX_REGS + index) of a register."""
        return self.registers.index(register)

    def start_context(self, entry: int, stack_top: int, args: Sequence[int] = (),
                      pipflags: int = 0,
                      valid: int = 0) -> list[int]:
        """A context record that starts at entry (ARM: bit 0 = Thumb state) on the stack
        ending at stack_top, with args in its first registers (libpip's Pip_InitContext)."""
        words = [0] * CONTEXT_WORDS
        words[CTX_PC], words[CTX_PIPFLAGS], words[CTX_VALID] = entry, pipflags, valid
        words[CTX_STATUS] = self.user_status | (self.thumb if entry & 1 else 0)
        words[CTX_REGS + self.index(self.stack_pointer)] = stack_top
        words[CTX_REGS:CTX_REGS + len(args)] = args
        return words


ARCHES: dict[str, Arch] = {
    "arm": Arch("arm", "EM_ARM", "pc", "cpsr",
                tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc"), "sp",
                "r7", ("r0", "r1", "r2", "r3", "r4", "r5"), "r0",
                user_status=0x10, thumb=0x20),            # USR mode; T
    "x86": Arch("x86", "EM_386", "eip", "eflags",
                ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"), "esp",
                "eax", ("ebx", "ecx", "edx", "esi", "edi", "ebp"), "eax",
                user_status=0x202),                       # IF, reserved bit 1
}


# ---- The IPC mailbox (docs/ipc.md §1): ipc/mailbox.py, firmware/include/pip/ipc.h ----
IPC_MAGIC = 0x4D504950          # b"PIPM" little-endian
IPC_VERSION = 2                 # 2: pending counts at IPC_PENDING
IPC_MAILBOX_PAGES = 4
IPC_HEADER_SIZE = 32
IPC_SLOT_SIZE = 512
IPC_MAX_ENDPOINT = 511          # endpoint ids are 1..511 (0 = none)
IPC_PENDING = 0x008             # control page: a u8 count of READY slots per IpcPending index
IPC_SEQ_TABLE = 0x800           # control page: u32 last sequence number used, per destination


class IpcState(enum.IntEnum):
    """A slot's state byte."""

    FREE = 0
    READY = 1      # visible: to the relay (outbox, transit) or to the owner (its messages)
    CLAIMED = 2    # being written by a relay; invisible until the relay commits (docs/ipc.md)


class IpcPending(enum.IntEnum):
    """The pending counts: control-page bytes at IPC_PENDING + index, READY slots in a ring."""

    OUTBOX = 0     # READY outbox slots
    MINE = 1       # READY inbox slots that are messages for the owner (what receive takes)
    TRANSIT = 2    # other READY inbox slots: in transit to the owner's descendants
    STATUS = 3     # READY status slots (refusals)


class IpcReason(enum.IntEnum):
    """Why a message was refused; a refusal slot's ``kind`` byte (0 = a message)."""

    UNAUTHORISED = 1
    OVERSIZED = 2
    UNDELIVERABLE = 3
    INBOX_FULL = 4
    MALFORMED = 5


class IpcRing(enum.IntEnum):
    """A mailbox's slot arrays (a header's origin ring byte)."""

    OUTBOX = 0
    INBOX = 1
    STATUS = 2


#: A slot header (docs/ipc.md §1): its fields in order as (name, struct format, meaning),
#: packed little-endian, then zeros up to IPC_HEADER_SIZE.
IPC_HEADER: tuple[tuple[str, str, str], ...] = (
    ("state", "B", "the slot's state: FREE, READY, CLAIMED"),
    ("kind", "B", "0: a message, else a reason: the refusal of message (src, dst, seq)"),
    ("length", "H", "payload bytes (a refusal: the refused message's length)"),
    ("src", "H", "source endpoint"),
    ("dst", "H", "destination endpoint"),
    ("seq", "I", "sequence number, per (src, dst), from 1"),
    ("origin_owner", "H", "CLAIMED: the endpoint whose ring the relay copies from,"),
    ("origin_ring", "B", "its ring: OUTBOX, INBOX, STATUS,"),
    ("origin_slot", "B", "and slot"),
    ("tries", "B", "relay attempts that found the next ring full (saturates at 255)"),
)
IPC_HEADER_FORMAT = "<" + "".join(fmt for _, fmt, _ in IPC_HEADER)
IPC_HEADER_FORMAT += f"{IPC_HEADER_SIZE - struct.calcsize(IPC_HEADER_FORMAT)}x"
#: each field's offset in a header
IPC_HEADER_OFFSETS = {name: struct.calcsize("<" + "".join(f for _, f, _ in IPC_HEADER[:i]))
                      for i, (name, _, _) in enumerate(IPC_HEADER)}

#: Each ring: (offset from the mailbox's start, slot size, slots).
IPC_RINGS: dict[IpcRing, tuple[int, int, int]] = {
    IpcRing.STATUS: (0x400, IPC_HEADER_SIZE, 32),
    IpcRing.OUTBOX: (0x1000, IPC_SLOT_SIZE, 8),
    IpcRing.INBOX: (0x2000, IPC_SLOT_SIZE, 16),
}
