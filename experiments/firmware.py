"""Where the experiments find the firmware images (firmware/build/{arm,x86}/NAME.elf, or
``$PIPSIM_FIRMWARE_BUILD``: pipsim.kernel.sdk.layout.build_dir)."""
from __future__ import annotations

from pathlib import Path

from pipsim.kernel.sdk.layout import build_dir

ARCHES = ("arm", "x86")
#: the images experiments run, per architecture
IMAGES = ("bench",)


def image(arch: str, name: str) -> Path:
    return build_dir() / arch / f"{name}.elf"


def required_images() -> list[Path]:
    return [image(arch, name) for arch in ARCHES for name in IMAGES]
