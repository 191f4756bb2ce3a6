"""libpip's Pip_SpawnChild for a Python parent: a child partition running an ELF image,
built only with the parent's system calls (pipkernel.wrappers)."""
from __future__ import annotations

import struct

from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from ..abi import (CONTEXT_WORDS, CTX_PC, CTX_PIPFLAGS, CTX_REGS, CTX_STATUS, CTX_VALID,
                   PAGE_SIZE, VIDT_VA)
from ..wrappers import create_child, map_page
from .loader import ImageError

CONTEXT_OFFSET = 0x800       # libpip's convention: contexts live in the upper half of the VIDT
MAIN_SLOTS = (0, 48, 49)     # the child's main context: started, and saved when interrupted


def spawn_child(machine, api, alloc, path: str, args=(0, 0, 0, 0), pipflags: int = 1) -> int:
    """Create a child of api's partition running the ELF at path (linked at its own low VAs):
    each segment's pages are copied into fresh pages of the parent and given with the
    segment's rights, the child gets a VIDT page with one main context (entry, __stack_top,
    r0..r3 = args) named by VIDT slots 0, 48 and 49.  Returns the child's descriptor VA."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        if elf["e_machine"] != machine.arch.ELF_MACHINE:
            raise ImageError(f"{path}: built for {elf['e_machine']}, not {machine.arch.NAME}")
        pages = {}
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or not seg["p_memsz"]:
                continue
            data, va = seg.data(), seg["p_vaddr"]
            image = bytes(va & 0xFFF) + data + bytes(seg["p_memsz"] - len(data))
            for offset in range(0, len(image), PAGE_SIZE):
                rights = (True, bool(seg["p_flags"] & P_FLAGS.PF_W),
                          bool(seg["p_flags"] & P_FLAGS.PF_X))
                pages[(va & ~0xFFF) + offset] = (image[offset:offset + PAGE_SIZE], rights)
        table = elf.get_section_by_name(".symtab")
        top = table.get_symbol_by_name("__stack_top") if table else None
        if not top:
            raise ImageError(f"{path}: no __stack_top symbol (the initial stack pointer)")
        entry, stack_top = elf["e_entry"], top[0]["st_value"]
    desc = create_child(api, alloc)
    for va, (content, (r, w, x)) in sorted(pages.items()):
        src = alloc.alloc()
        api.write(src, content.ljust(PAGE_SIZE, b"\0"))
        map_page(api, alloc, desc, src, va, r, w, x)
    vidt = alloc.alloc()
    api.write(vidt, _vidt_page(machine, entry, stack_top, args, pipflags))
    map_page(api, alloc, desc, vidt, VIDT_VA, True, True, False)
    return desc


def python_parent_vidt(api, vidt_va: int = VIDT_VA) -> None:
    """Prepare the VIDT of a Python partition that runs firmware children: every slot names
    one context in the page's upper half, so whatever a child yields to or faults into,
    control comes back to the Python partition (the machine's run stops "host")."""
    landing = (vidt_va + CONTEXT_OFFSET).to_bytes(4, "little")
    api.write(vidt_va, landing * (CONTEXT_OFFSET // 4))


def _vidt_page(machine, entry: int, stack_top: int, args, pipflags: int) -> bytes:
    start = machine.arch.initial_context(entry, stack_top)
    words = [0] * CONTEXT_WORDS
    words[CTX_PC], words[CTX_STATUS] = start["pc"], start["status"]
    words[CTX_PIPFLAGS], words[CTX_VALID] = pipflags, 1
    for index, value in start["regs"].items():
        words[CTX_REGS + index] = value
    for index, value in enumerate(args):
        words[CTX_REGS + index] = value
    page = bytearray(PAGE_SIZE)
    for slot in MAIN_SLOTS:
        struct.pack_into("<I", page, 4 * slot, VIDT_VA + CONTEXT_OFFSET)
    struct.pack_into(f"<{CONTEXT_WORDS}I", page, CONTEXT_OFFSET, *words)
    return bytes(page)
