"""Where the experiments find the firmware images (firmware/build/{arm,x86}/NAME.elf) and how
they patch an image's data words before a run.

The directory is the repository's ``firmware/build``, or ``$PIPSIM_FIRMWARE_BUILD`` when set
(an installed ``pipsim`` has no repository next to it)."""
from __future__ import annotations

import os
from pathlib import Path

ARCHES = ("arm", "x86")
#: the images experiments run, per architecture
IMAGES = ("bench",)


def build_dir() -> Path:
    env = os.environ.get("PIPSIM_FIRMWARE_BUILD")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "firmware" / "build"


def image(arch: str, name: str) -> Path:
    return build_dir() / arch / f"{name}.elf"


def required_images() -> list[Path]:
    return [image(arch, name) for arch in ARCHES for name in IMAGES]


def symbol(path: Path, name: str) -> int:
    """The address of the ELF symbol `name` in the image at `path`."""
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as handle:
        symbols = ELFFile(handle).get_section_by_name(".symtab")
        found = symbols.get_symbol_by_name(name) if symbols else None
    if not found:
        raise KeyError(f"{path}: no symbol {name!r}")
    return found[0]["st_value"]
