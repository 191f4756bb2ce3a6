"""ELF images into the root partition's pages (docs/abi.md "Memory map")."""
from __future__ import annotations

from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from ..abi import PAGE_SIZE, ROOT_IMAGE_BASE


class ImageError(ValueError):
    """An ELF image the machine cannot run, with the reason."""


@dataclass(frozen=True)
class Image:
    entry: int
    stack_top: int
    segments: tuple[tuple[int, int, str], ...]     # (va, size, "rwx" flags)
    symbols: dict[str, int]                        # the ELF symbol table: name -> address


def load_image(machine, path: str) -> Image:
    """Copy every PT_LOAD segment into the root's pages at its VA, give those pages the
    segment's rights, and return the entry point and initial stack."""
    try:
        with open(path, "rb") as handle:
            return _load(machine, ELFFile(handle), path)
    except ELFError as error:
        raise ImageError(f"{path}: not an ELF image ({error})") from None
    except OSError as error:
        raise ImageError(f"{path}: {error.strerror}") from None


def _load(machine, elf: ELFFile, path: str) -> Image:
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
        va, size = seg["p_vaddr"], seg["p_memsz"]
        if va < ROOT_IMAGE_BASE or va + size > limit:
            raise ImageError(f"{path}: segment {va:#x}+{size:#x} is outside the root's image "
                             f"range [{ROOT_IMAGE_BASE:#x}, {limit:#x})")
        flags = _flags(seg)
        for page in range(va & ~0xFFF, va + size, PAGE_SIZE):
            rights.setdefault(page, set()).update(flags)
    last_va = max(s["p_vaddr"] + s["p_memsz"] for s in loads)
    if last_va > max(k.mappings(root)) + PAGE_SIZE - 1 or any(
            page not in k.mappings(root) for page in rights):
        raise ImageError(f"{path}: the image needs {last_va - ROOT_IMAGE_BASE:#x} bytes above "
                         f"{ROOT_IMAGE_BASE:#x}; the machine has too few pages for it")
    for page in k.mappings(root):        # W^X: only the image's code pages stay executable
        flags = rights.get(page, "rw")
        machine.set_root_rights(page, "r" in flags or "x" in flags, "w" in flags, "x" in flags)
    for seg in loads:
        data = seg.data()
        machine.write_root_image(seg["p_vaddr"], data + bytes(seg["p_memsz"] - len(data)))
    entry = elf["e_entry"]
    if not any(s["p_vaddr"] <= (entry & ~1) < s["p_vaddr"] + s["p_memsz"]
               and s["p_flags"] & P_FLAGS.PF_X for s in loads):
        raise ImageError(f"{path}: entry point {entry:#x} is not in an executable segment")
    table = elf.get_section_by_name(".symtab")
    symbols = {sym.name: sym["st_value"] for sym in table.iter_symbols() if sym.name} if table else {}
    if "__stack_top" not in symbols:
        raise ImageError(f"{path}: no __stack_top symbol (the initial stack pointer)")
    return Image(entry, symbols["__stack_top"], tuple(
        (s["p_vaddr"], s["p_memsz"], _flags(s)) for s in loads), symbols)


def _flags(segment) -> str:
    return "".join(c for c, bit in (("r", P_FLAGS.PF_R), ("w", P_FLAGS.PF_W), ("x", P_FLAGS.PF_X))
                   if segment["p_flags"] & bit)
