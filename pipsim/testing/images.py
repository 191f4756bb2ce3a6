"""Device images and machines for tests: a manifest booted (``booted_image``), a firmware
image loaded on a machine (``machine``); a missing manifest or image, or an unknown
architecture, is refused before anything boots."""
from __future__ import annotations

import os
from pathlib import Path

from .kernels import KitError


def booted_image(manifest, base: str | os.PathLike = ".", arch: str | None = None,
                 policy: str | None = None):
    """Boot a manifest: a TOML file's path, a parsed manifest (a dict; relative paths from
    ``base``) or a pipsim.partitions.Manifest; ``arch`` and ``policy`` replace the image's.
    Returns the pipsim.partitions.DeviceImage."""
    from pipsim.partitions import Manifest, boot, load, parse
    if isinstance(manifest, (str, os.PathLike)):
        path = Path(manifest)
        if not path.is_file():
            raise KitError(f"no manifest at {path}")
        manifest = load(path, arch=arch, policy=policy)
    elif isinstance(manifest, dict):
        manifest = parse(manifest, base, arch=arch, policy=policy)
    elif not isinstance(manifest, Manifest):
        raise KitError(f"a manifest is a path, a dict or a Manifest, not "
                       f"{type(manifest).__name__}")
    elif arch or policy:
        raise KitError("arch and policy replace a manifest's when it is read: give a path or "
                       "a dict")
    return boot(manifest)


def image_path(image: str | os.PathLike, arch: str) -> Path:
    """A firmware image: a path, or the name of one the firmware build made (``hello`` is
    firmware/build/ARCH/hello.elf, or under $PIPSIM_FIRMWARE_BUILD)."""
    from pipsim.experiments import firmware
    if arch not in firmware.ARCHES:
        raise KitError(f"unknown architecture {arch!r}: expected one of "
                       f"{', '.join(firmware.ARCHES)}")
    given = Path(image)
    path = given if given.suffix or len(given.parts) > 1 else firmware.image(arch, str(image))
    if not path.is_file():
        raise KitError(f"no firmware image {str(image)!r} for {arch} (looked at {path}): "
                       f"build it with `make firmware`, or set PIPSIM_FIRMWARE_BUILD")
    return path


def machine(image: str | os.PathLike, arch: str = "arm", **options):
    """A pipsim.kernel.machine.Machine of ``arch`` with ``image`` (a path or a firmware
    sample's name, see image_path) loaded as its root; ``options`` go to the Machine
    (pages, devices, policy, mode)."""
    path = image_path(image, arch)
    from pipsim.kernel.machine import Machine
    made = Machine(arch, **options)
    made.load(str(path))
    return made
