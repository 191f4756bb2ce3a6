"""libpip's Pip_SpawnChild for a Python parent: a child partition running an ELF image,
built only with the parent's system calls (pipsim.kernel.wrappers); how the child ended
(``child_exit_code``); and ``run_child``, a Python root running one firmware child to its
end (``pipsim run --child``, docs/sdk.md)."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .. import elf
from ..abi import (CHILD_EXIT_MAGIC, CONSOLE_VA, CONTEXT_WORDS, CTX_REGS, MAIN_SLOTS, PAGE_SIZE,
                   SYSTEM_VA, VIDT_VA)
from ..abi import VIDT_CONTEXT_OFFSET as CONTEXT_OFFSET
from ..types import Partition
from ..wrappers import PageAllocator, create_child, map_page

if TYPE_CHECKING:
    from ..kernel import Kernel, PartitionAPI
    from . import Machine, RunResult

NO_SAVE = 2     # a VIDT slot libpip leaves null: a yield naming it saves nothing (PIP_SLOT_NONE)


def spawn_child(machine: Machine, api: PartitionAPI, alloc: PageAllocator, path: elf.ImageSource,
                args: Sequence[int] = (0, 0, 0, 0), pipflags: int = 1) -> int:
    """Create a child of api's partition running the ELF at path (linked at its own low VAs):
    each segment's pages are copied into fresh pages of the parent and given with the
    segment's rights, the child gets a VIDT page with one main context (entry, __stack_top,
    r0..r3 = args) named by its VIDT slots MAIN_SLOTS (0, 48, 49).  Returns the child's
    descriptor VA."""
    image = elf.read(path, machine.arch.NAME)
    image.check_entry()
    stack_top = image.stack_top
    pages = {}
    for seg in image.segments:
        content = bytes(seg.va & 0xFFF) + seg.memory
        rights = (True, "w" in seg.rights, "x" in seg.rights)
        for offset in range(0, len(content), PAGE_SIZE):
            pages[(seg.va & ~0xFFF) + offset] = (content[offset:offset + PAGE_SIZE], rights)
    desc = create_child(api, alloc)
    for va, (content, (r, w, x)) in sorted(pages.items()):
        src = alloc.alloc()
        api.write(src, content.ljust(PAGE_SIZE, b"\0"))
        map_page(api, alloc, desc, src, va, r, w, x)
    vidt = alloc.alloc()
    api.write(vidt, _vidt_page(machine, image.entry, stack_top, args, pipflags))
    map_page(api, alloc, desc, vidt, VIDT_VA, True, True, False)
    machine.code_changed()          # its pages may have held code already run (an update)
    return desc


def python_parent_vidt(api: PartitionAPI, vidt_va: int = VIDT_VA) -> None:
    """Prepare the VIDT of a Python partition that runs firmware children: every slot names
    one context in the page's upper half, so whatever a child yields to or faults into,
    control comes back to the Python partition (the machine's run stops "host")."""
    landing = (vidt_va + CONTEXT_OFFSET).to_bytes(4, "little")
    api.write(vidt_va, landing * (CONTEXT_OFFSET // 4))


def _vidt_page(machine: Machine, entry: int, stack_top: int, args: Sequence[int],
               pipflags: int) -> bytes:
    words = machine.arch.ABI.start_context(entry, stack_top, args, pipflags, valid=1)
    page = bytearray(PAGE_SIZE)
    for slot in MAIN_SLOTS:
        struct.pack_into("<I", page, 4 * slot, VIDT_VA + CONTEXT_OFFSET)
    struct.pack_into(f"<{CONTEXT_WORDS}I", page, CONTEXT_OFFSET, *words)
    return bytes(page)


def child_exit_code(kernel: Kernel, child: Partition) -> int | None:
    """The exit code of a child whose main returned (or that called exit): libpip's start
    file raised CHILD_EXIT_VECTOR with r0 / eax = the code and r1 / ecx = CHILD_EXIT_MAGIC,
    which the kernel saved in its main context (its VIDT page, slots 48 / 49).  None if its
    saved context does not say so (or it has no VIDT page).  Only meaningful right after
    the child gave control back without a fault (run_child checks that)."""
    vidt = kernel.mappings(child).get(VIDT_VA)
    if vidt is None:
        return None
    context = kernel.physical_memory()[vidt.pa + CONTEXT_OFFSET:
                                       vidt.pa + CONTEXT_OFFSET + 4 * CONTEXT_WORDS]
    code, magic = struct.unpack_from("<2I", context, 4 * CTX_REGS)
    return code if magic == CHILD_EXIT_MAGIC else None


@dataclass(frozen=True)
class ChildRun:
    """How a child run by run_child ended: "exit" (exit_code), "fault" (fault: the
    machine's record), "yield" (it passed control back another way), or the machine's own
    stop ("budget", "panic", "error"); with the run's result (console output, counters) and
    the child partition."""

    end: str
    exit_code: int | None
    fault: dict | None
    result: RunResult
    child: Partition


def run_child(machine: Machine, path: elf.ImageSource, args: Sequence[int] = (0, 0, 0, 0),
              max_instructions: int = 0,
              max_seconds: float = 0) -> ChildRun:
    """On a machine with a Python root (Machine(python_root=True)), create a child running
    the ELF at path (linked as a child: `pipsim cc --kind child`) with main(*args), lend it
    the console page, yield to it and run until control comes back to the root (budgets:
    Machine.run's)."""
    k = machine.kernel
    root = k.as_partition(k.root)
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    python_parent_vidt(root, k.geometry.vidt_va)
    desc = spawn_child(machine, root, alloc, path, args)
    map_page(root, alloc, desc, CONSOLE_VA, CONSOLE_VA, True, True, False)
    child = Partition(k.mappings(k.root)[desc].pa // PAGE_SIZE)
    faults = machine.counters()["faults"]
    if root.yield_(desc, 0, NO_SAVE, 0, 0) != 0:
        where = elf.IN_MEMORY if isinstance(path, (bytes, bytearray)) else path
        raise RuntimeError(f"the root could not yield to the child of {where}")
    machine.enter()
    result = machine.run(max_instructions=max_instructions, max_seconds=max_seconds)
    if result.stop != "host":
        return ChildRun(result.stop, None, result.fault, result, child)
    if result.counters["faults"] > faults:
        return ChildRun("fault", None, result.fault, result, child)
    code = child_exit_code(k, child)
    return ChildRun("yield" if code is None else "exit", code, None, result, child)
