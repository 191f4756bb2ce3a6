"""Device-image manifests: TOML in, a validated frozen `Manifest` (with its layout plan) out
(docs/manifests.md).

`load(path)` / `parse(data, base)` check the whole manifest before anything boots and raise
one `ManifestError` listing every problem found, each naming its field
(`partition[3].parent: "sensr" is not a partition (did you mean "sensor"?)`).  The typed field
reader is `pipsim.partitions.fields`, the rules `pipsim.partitions.rules`, the data model `pipsim.partitions.spec`.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .rules import Rules
from .spec import Manifest, ManifestError, Runs


def load(path: str | os.PathLike, arch: str | None = None, policy: str | None = None,
         mode: str | None = None) -> Manifest:
    """Read and validate a manifest file; paths in it are relative to its folder.  `arch`
    replaces image.arch (a manifest whose firmware paths say "{arch}" runs on both), `policy`
    image.policy, `mode` image.mode."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML ({error})") from None
    return parse(data, path.parent, source=path, arch=arch, policy=policy, mode=mode)


def parse(data: Any, base: str | os.PathLike = ".", source: Path | None = None,
          arch: str | None = None,
          policy: str | None = None, mode: str | None = None) -> Manifest:
    """Validate a manifest already read from TOML (a dict); `base` anchors relative paths;
    `arch`, `policy` and `mode`, when given, replace the image's."""
    given = {key: value for key, value in (("arch", arch), ("policy", policy), ("mode", mode))
             if value is not None}
    if given and isinstance(data, dict) and isinstance(data.get("image"), dict):
        data = {**data, "image": {**data["image"], **given}}
    return Rules(Path(base)).manifest(data, source)


def firmware(path: str | os.PathLike, arch: str) -> Runs:
    """What runs a firmware image at `path` (an ELF for arch, with __stack_top), checked as a
    manifest's runs.firmware is; ManifestError otherwise."""
    rules = Rules(Path("."))
    runs = rules.runs("firmware", {"runs": {"firmware": str(path)}}, arch)
    if runs is not None:
        rules.stack_top("firmware", runs.target)
    rules.fail_if_errors()
    assert runs is not None                   # fail_if_errors raised otherwise
    return runs
