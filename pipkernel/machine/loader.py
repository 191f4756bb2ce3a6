"""ELF images into the root partition's pages (docs/abi.md "Memory map")."""
from __future__ import annotations

from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from ..abi import PAGE_SIZE, ROOT_IMAGE_BASE
from ..errors import PipsimError


class ImageError(PipsimError, ValueError):
    """An ELF image the machine cannot run, with the reason."""


@dataclass(frozen=True)
class Image:
    entry: int
    stack_top: int
    segments: tuple[tuple[int, int, str], ...]     # (va, size, "rwx" flags)
    symbols: dict[str, int]                        # the ELF symbol table: name -> address


def load_image(machine, path: str) -> Image:
    """Check the whole image, then copy every PT_LOAD segment into the root's pages at its
    VA and give those pages the segment's rights; a refused image changes nothing."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            plan = _plan(machine, ELFFile(handle), path, size)
    except ELFError as error:
        raise ImageError(f"{path}: not an ELF image ({error})") from None
    except OSError as error:
        raise ImageError(f"{path}: {error.strerror}") from None
    image, rights, contents = plan
    # W^X on the image; its other pages R W (pip) or R W X as at boot (hardened: the root
    # can lend only the rights it holds, and it lends code pages to its children)
    other = "rwx" if machine.kernel.policy == "hardened" else "rw"
    for page in machine.kernel.mappings(machine.kernel.root):
        flags = rights.get(page, other)
        machine.set_root_rights(page, "r" in flags or "x" in flags, "w" in flags, "x" in flags)
    for va, data in contents:
        machine.write_root_image(va, data)
    return image


def _plan(machine, elf: ELFFile, path: str, file_size: int):
    """(Image, {page: rights}, [(va, bytes)]) for a valid image, else ImageError."""
    arch = machine.arch
    if elf.elfclass != 32 or not elf.little_endian:
        raise ImageError(f"{path}: a 32-bit little-endian ELF is needed")
    if elf["e_machine"] != arch.ELF_MACHINE:
        raise ImageError(f"{path}: built for {elf['e_machine']}, this machine is {arch.NAME} "
                         f"({arch.ELF_MACHINE})")
    k, root = machine.kernel, machine.kernel.root
    limit = k.geometry.vidt_va
    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
    if not loads:
        raise ImageError(f"{path}: no loadable segment")
    rights: dict[int, set[str]] = {}
    for seg in loads:
        va, size, filesz, offset = seg["p_vaddr"], seg["p_memsz"], seg["p_filesz"], seg["p_offset"]
        where = f"{path}: segment {va:#x}+{size:#x}"
        if va < ROOT_IMAGE_BASE or va + size > limit:
            raise ImageError(f"{where} is outside the root's image range "
                             f"[{ROOT_IMAGE_BASE:#x}, {limit:#x})")
        if filesz > size:
            raise ImageError(f"{where} has more bytes in the file ({filesz:#x}) than in memory")
        if offset + filesz > file_size:
            raise ImageError(f"{where}: its bytes ({offset:#x}+{filesz:#x}) pass the end of the "
                             f"file ({file_size:#x})")
        for other in loads:
            if other is not seg and va < other["p_vaddr"] + other["p_memsz"] and \
                    other["p_vaddr"] < va + size:
                raise ImageError(f"{where} overlaps segment {other['p_vaddr']:#x}+"
                                 f"{other['p_memsz']:#x}")
        for page in range(va & ~0xFFF, va + size, PAGE_SIZE):
            rights.setdefault(page, set()).update(_flags(seg))
    mapped = k.mappings(root)
    last_va = max(s["p_vaddr"] + s["p_memsz"] for s in loads)
    if any(page not in mapped for page in rights):
        raise ImageError(f"{path}: the image needs {last_va - ROOT_IMAGE_BASE:#x} bytes above "
                         f"{ROOT_IMAGE_BASE:#x}; the machine has too few pages for it")
    entry = elf["e_entry"]
    if not any(s["p_vaddr"] <= (entry & ~1) < s["p_vaddr"] + s["p_memsz"]
               and s["p_flags"] & P_FLAGS.PF_X for s in loads):
        raise ImageError(f"{path}: entry point {entry:#x} is not in an executable segment")
    table = elf.get_section_by_name(".symtab")
    symbols = {sym.name: sym["st_value"] for sym in table.iter_symbols() if sym.name} if table else {}
    if "__stack_top" not in symbols:
        raise ImageError(f"{path}: no __stack_top symbol (the initial stack pointer)")
    contents = [(s["p_vaddr"], s.data() + bytes(s["p_memsz"] - s["p_filesz"])) for s in loads]
    image = Image(entry, symbols["__stack_top"], tuple(
        (s["p_vaddr"], s["p_memsz"], _flags(s)) for s in loads), symbols)
    return image, rights, contents


def _flags(segment) -> str:
    return "".join(c for c, bit in (("r", P_FLAGS.PF_R), ("w", P_FLAGS.PF_W), ("x", P_FLAGS.PF_X))
                   if segment["p_flags"] & bit)
