"""Where the experiments find the firmware images (firmware/build/{arm,x86}/NAME.elf).

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
