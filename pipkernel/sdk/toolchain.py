"""Which compiler builds pipsim images (docs/sdk.md "Toolchains"): Debian's GCC
(arm-none-eabi-gcc, the host's gcc -m32 with a 32-bit libgcc) or zig's clang and lld (the
``ziglang`` wheel, ``pip install 'pipsim[zig]'``), and the programs each brings.

``PIPSIM_TOOLCHAIN`` = ``gcc`` or ``zig`` chooses; unset, GCC when both its compilers are
there, else zig when the ``ziglang`` package is installed.  pipsim.kernel.sdk.flags owns the
flags each is called with.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import pathlib
import shutil
import subprocess

from .layout import SdkError

TOOLCHAINS = ("gcc", "zig")
#: GCC's compiler and archiver per architecture (x86: the host's, in 32 bits)
GCC = {"arm": ("arm-none-eabi-gcc", "arm-none-eabi-ar"), "x86": ("gcc", "ar")}


@functools.cache
def gcc_present() -> bool:
    """arm-none-eabi-gcc on PATH, and the host gcc with a 32-bit libgcc (lib32gcc-12-dev)."""
    if not all(shutil.which(GCC[arch][0]) for arch in GCC):
        return False
    try:
        libgcc = subprocess.run(["gcc", "-m32", "-print-libgcc-file-name"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return "/32/" in libgcc and os.path.isfile(libgcc)


def zig_home() -> pathlib.Path | None:
    """The ziglang package's folder (its ``zig`` program and ``lib/``), None if not installed."""
    spec = importlib.util.find_spec("ziglang")
    return pathlib.Path(spec.origin).parent if spec and spec.origin else None


def zig() -> str:
    """The zig program of the ziglang package; SdkError if it is not installed."""
    home = zig_home()
    if home is None or not (home / "zig").is_file():
        raise SdkError("the zig toolchain needs the ziglang package: pip install 'pipsim[zig]'")
    return str(home / "zig")


def chosen() -> str:
    """The toolchain in use: $PIPSIM_TOOLCHAIN, else gcc if present, else zig if installed;
    SdkError naming what to install when there is none."""
    asked = os.environ.get("PIPSIM_TOOLCHAIN", "")
    if asked:
        if asked not in TOOLCHAINS:
            raise SdkError(f"PIPSIM_TOOLCHAIN must be one of {', '.join(TOOLCHAINS)}, "
                           f"not {asked!r}")
        return asked
    if gcc_present():
        return "gcc"
    if zig_home() is not None:
        return "zig"
    raise SdkError("no firmware toolchain: pip install 'pipsim[zig]' (zig's clang), or, as "
                   "root, firmware/setup-toolchain.sh (Debian's gcc-arm-none-eabi, lib32gcc)")


def programs(arch: str, toolchain: str) -> dict[str, list[str]]:
    """{"cc", "ar", "ranlib"}: the command of each for arch."""
    if toolchain == "zig":
        return {name: [zig(), name] for name in ("cc", "ar", "ranlib")}
    cc, ar = GCC[arch]
    return {"cc": [cc], "ar": [ar], "ranlib": [ar, "s"]}
