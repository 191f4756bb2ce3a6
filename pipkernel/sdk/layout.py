"""Where the SDK's and the firmware's files are: headers, the linker script, libpip.a and the
start files (built by ``make -C firmware sdk``), the C library (newlib), the images.

The SDK is the firmware directory next to the package (the source tree's in an editable
install, the one the wheel ships otherwise: pipsim/firmware), or the directory named by
``PIPSIM_SDK``; its builds are in its ``build`` folder, or in ``PIPSIM_FIRMWARE_BUILD``.
"""
from __future__ import annotations

import os
import pathlib

from ..errors import PipsimError

ARCHES = ("arm", "x86")
STATES = ("t32", "a32")         # ARM: Thumb-2 (default) or ARM state
KINDS = ("root", "child")


class SdkError(PipsimError, ValueError):
    """The SDK cannot do what was asked (missing files, a bad option), with the reason."""


def root() -> pathlib.Path:
    """The SDK's directory (the firmware directory)."""
    env = os.environ.get("PIPSIM_SDK")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "firmware"


def build_dir(base: pathlib.Path | None = None) -> pathlib.Path:
    """The firmware build: {arm,x86}/NAME.elf, trust/, libc/ (base: an SDK's own build)."""
    env = None if base else os.environ.get("PIPSIM_FIRMWARE_BUILD")
    return pathlib.Path(env) if env else (base or root()) / "build"


def include_dir(base: pathlib.Path | None = None) -> pathlib.Path:
    return (base or root()) / "include"


def linker_script(base: pathlib.Path | None = None) -> pathlib.Path:
    return (base or root()) / "ld" / "image.ld"


def lib_dir(arch: str, base: pathlib.Path | None = None) -> pathlib.Path:
    """libpip.a and the start files of one architecture."""
    return build_dir(base) / arch / "lib"


def libc_dir(arch: str, base: pathlib.Path | None = None) -> pathlib.Path:
    """newlib for one architecture: include/, lib/libc.a, lib/libm.a."""
    return build_dir(base) / "libc" / arch


def start_file_name(kind: str, state: str = "t32") -> str:
    """The start file of an image kind (crt0-root.o, crt0-child-a32.o: ARM state)."""
    return f"crt0-{kind}{'-a32' if state == 'a32' else ''}.o"
