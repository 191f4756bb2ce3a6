"""ELF images: the one reader of firmware files (docs/abi.md "Memory map").

``read(path, arch)`` reads an image once (or takes its bytes: an update's image, held in memory
so that what was verified is what is loaded) and checks what every user relies on; the machine's
loader, a Python parent's ``spawn_child``, the manifest's validation, ``pipsim run`` and
firmware/tools/embed.py take its segments, entry and symbols from the result.  Needs
pyelftools, not Unicorn.  Every error is an ImageError whose message starts with the path.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from .abi import ARCHES
from .errors import PipsimError

IN_MEMORY = "<image in memory>"  # the path of an image read from its bytes
#: an ELF image as read() takes it: its path, or its bytes
ImageSource = str | os.PathLike | bytes
STACK_TOP = "__stack_top"       # the initial stack pointer, defined by firmware/ld/image.ld
_RIGHTS = (("r", P_FLAGS.PF_R), ("w", P_FLAGS.PF_W), ("x", P_FLAGS.PF_X))


class ImageError(PipsimError, ValueError):
    """An ELF image that cannot be used, with the reason (the message starts with its path)."""


@dataclass(frozen=True)
class Segment:
    """A loadable segment: PT_LOAD with a non-empty memory image."""

    va: int
    size: int                   # p_memsz: bytes in memory
    flags: int                  # p_flags: P_FLAGS.PF_R | PF_W | PF_X
    offset: int                 # p_offset: where its file bytes start
    data: bytes                 # its file bytes (p_filesz of them)

    @property
    def end(self) -> int:
        """The first VA past the segment."""
        return self.va + self.size

    @property
    def rights(self) -> str:
        """"r", "w", "x" for the flags it has, in that order."""
        return "".join(c for c, bit in _RIGHTS if self.flags & bit)

    @property
    def memory(self) -> bytes:
        """Its memory image: the file bytes, then zeros up to size (.bss)."""
        return self.data + bytes(self.size - len(self.data))


@dataclass(frozen=True)
class ElfImage:
    """What an ELF file holds for the machine."""

    path: str
    e_machine: str                      # pyelftools' name ("EM_ARM", "EM_386")
    entry: int
    segments: tuple[Segment, ...]       # in file order
    symbols: Mapping[str, int]          # .symtab: name -> value ({} when stripped)

    @property
    def arch(self) -> str | None:
        """"arm" or "x86" (pipsim.kernel.abi.ARCHES), None for another CPU."""
        return next((name for name, a in ARCHES.items() if a.elf_machine == self.e_machine), None)

    def check_entry(self) -> None:
        """ImageError unless the entry point (ARM: bit 0 = Thumb) is in an executable segment."""
        if not any(s.va <= (self.entry & ~1) < s.end and s.flags & P_FLAGS.PF_X
                   for s in self.segments):
            raise ImageError(f"{self.path}: entry point {self.entry:#x} is not in an executable "
                             "segment")

    @property
    def stack_top(self) -> int:
        """The __stack_top symbol's value; ImageError if the image has none."""
        if STACK_TOP not in self.symbols:
            raise ImageError(f"{self.path} has no {STACK_TOP} symbol (its initial stack "
                             "pointer: link it with firmware/ld/image.ld)")
        return self.symbols[STACK_TOP]


def read(path: ImageSource, arch: str | None = None) -> ElfImage:
    """The image at path (or ``bytes``: the image itself, named IN_MEMORY), checked: an ELF
    file whose segments lie within it and do not overlap; with arch ("arm" or "x86"), a
    32-bit little-endian image for that CPU with a loadable segment.  ImageError otherwise."""
    if isinstance(path, (bytes, bytearray)):
        raw, path = bytes(path), IN_MEMORY
    else:
        path = str(path)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as error:
            raise ImageError(f"{path}: {error.strerror}") from None
    try:
        elf = ELFFile(io.BytesIO(raw))
        e_machine, entry = elf["e_machine"], elf["e_entry"]
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
        table = elf.get_section_by_name(".symtab")
        symbols = ({s.name: s["st_value"] for s in table.iter_symbols() if s.name}
                   if isinstance(table, SymbolTableSection) else {})
        wide = elf.elfclass != 32 or not elf.little_endian
    except (ELFError, ValueError, KeyError) as error:   # KeyError: a corrupt header's enum
        raise ImageError(f"{path}: not an ELF image ({error})") from None
    segments = tuple(Segment(s["p_vaddr"], s["p_memsz"], s["p_flags"], s["p_offset"],
                             raw[s["p_offset"]:s["p_offset"] + s["p_filesz"]]) for s in loads)
    for s, header in zip(segments, loads):
        where = f"{path}: segment {s.va:#x}+{s.size:#x}"
        if header["p_filesz"] > s.size:
            raise ImageError(f"{where} has more bytes in the file ({header['p_filesz']:#x}) "
                             "than in memory")
        if s.offset + header["p_filesz"] > len(raw):
            raise ImageError(f"{where}: its bytes ({s.offset:#x}+{header['p_filesz']:#x}) pass "
                             f"the end of the file ({len(raw):#x})")
        for other in segments:
            if other is not s and s.va < other.end and other.va < s.end:
                raise ImageError(f"{where} overlaps segment {other.va:#x}+{other.size:#x}")
    image = ElfImage(path, e_machine, entry, segments, MappingProxyType(symbols))
    if arch is not None:
        _check(image, arch, wide)
    return image


def arch_of(path: ImageSource) -> str:
    """The architecture an image is built for ("arm" or "x86"); ImageError for another CPU."""
    image = read(path)
    if image.arch is None:
        raise ImageError(f"{image.path}: {image.e_machine} images are not supported "
                         "(arm or x86)")
    return image.arch


def _check(image: ElfImage, arch: str, wide: bool) -> None:
    if image.e_machine != ARCHES[arch].elf_machine:
        raise ImageError(f"{image.path} is built for {image.e_machine}, the image's arch is {arch}")
    if wide:
        raise ImageError(f"{image.path}: a 32-bit little-endian ELF is needed")
    if not image.segments:
        raise ImageError(f"{image.path} has no loadable segment")
