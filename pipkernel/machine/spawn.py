"""libpip's Pip_SpawnChild for a Python parent: a child partition running an ELF image,
built only with the parent's system calls (pipkernel.wrappers)."""
from __future__ import annotations

import struct

from .. import elf
from ..abi import CONTEXT_WORDS, MAIN_SLOTS, PAGE_SIZE, VIDT_VA
from ..abi import VIDT_CONTEXT_OFFSET as CONTEXT_OFFSET
from ..wrappers import create_child, map_page


def spawn_child(machine, api, alloc, path: str, args=(0, 0, 0, 0), pipflags: int = 1) -> int:
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
    return desc


def python_parent_vidt(api, vidt_va: int = VIDT_VA) -> None:
    """Prepare the VIDT of a Python partition that runs firmware children: every slot names
    one context in the page's upper half, so whatever a child yields to or faults into,
    control comes back to the Python partition (the machine's run stops "host")."""
    landing = (vidt_va + CONTEXT_OFFSET).to_bytes(4, "little")
    api.write(vidt_va, landing * (CONTEXT_OFFSET // 4))


def _vidt_page(machine, entry: int, stack_top: int, args, pipflags: int) -> bytes:
    words = machine.arch.ABI.start_context(entry, stack_top, args, pipflags, valid=1)
    page = bytearray(PAGE_SIZE)
    for slot in MAIN_SLOTS:
        struct.pack_into("<I", page, 4 * slot, VIDT_VA + CONTEXT_OFFSET)
    struct.pack_into(f"<{CONTEXT_WORDS}I", page, CONTEXT_OFFSET, *words)
    return bytes(page)
