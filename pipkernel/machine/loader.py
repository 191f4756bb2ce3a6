"""ELF images into the root partition's pages (docs/abi.md "Memory map")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import elf
from ..abi import PAGE_SIZE, ROOT_IMAGE_BASE
from ..elf import ImageError

if TYPE_CHECKING:
    from . import Machine

__all__ = ["Image", "ImageError", "load_image"]


@dataclass(frozen=True)
class Image:
    """A root image as loaded: its entry, its stack's top, its segments and its symbols."""

    entry: int
    stack_top: int
    segments: tuple[tuple[int, int, str], ...]     # (va, size, "rwx" flags)
    symbols: dict[str, int]                        # the ELF symbol table: name -> address


def load_image(machine: Machine, path: elf.ImageSource) -> Image:
    """Check the whole image, then copy every PT_LOAD segment into the root's pages at its
    VA and give those pages the segment's rights; a refused image changes nothing."""
    image = elf.read(path, machine.arch.NAME)
    rights = _page_rights(machine, image)
    loaded = Image(image.entry, image.stack_top,
                   tuple((s.va, s.size, s.rights) for s in image.segments), dict(image.symbols))
    # W^X on the image; a page between its segments (the guard page below the stack,
    # firmware/ld/image.ld) no rights, so any access faults; the root's other pages R W
    # (pip) or R W X as at boot (hardened: the root can lend only the rights it holds, and
    # it lends code pages to its children)
    other = "rwx" if machine.kernel.policy == "hardened" else "rw"
    low, high = min(rights), max(rights)
    for page in machine.kernel.mappings(machine.kernel.root):
        flags = rights.get(page, "" if low < page < high else other)
        machine.set_root_rights(page, "r" in flags or "x" in flags, "w" in flags, "x" in flags)
    for segment in image.segments:
        machine.write_root_image(segment.va, segment.memory)
    return loaded


def _page_rights(machine: Machine, image: elf.ElfImage) -> dict[int, set[str]]:
    """{page: rights} of the image's pages if the root's pages can hold it and its entry is
    in an executable segment, else ImageError."""
    k = machine.kernel
    limit = k.geometry.vidt_va
    rights: dict[int, set[str]] = {}
    for seg in image.segments:
        if seg.va < ROOT_IMAGE_BASE or seg.end > limit:
            raise ImageError(f"{image.path}: segment {seg.va:#x}+{seg.size:#x} is outside the "
                             f"root's image range [{ROOT_IMAGE_BASE:#x}, {limit:#x})")
        for page in range(seg.va & ~0xFFF, seg.end, PAGE_SIZE):
            rights.setdefault(page, set()).update(seg.rights)
    mapped = k.mappings(k.root)
    if any(page not in mapped for page in rights):
        last_va = max(s.end for s in image.segments)
        raise ImageError(f"{image.path}: the image needs {last_va - ROOT_IMAGE_BASE:#x} bytes "
                         f"above {ROOT_IMAGE_BASE:#x}; the machine has too few pages for it")
    image.check_entry()
    return rights
