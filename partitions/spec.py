"""The data model of a device image: frozen specs, built once by `pipsim.partitions.rules` from a
validated manifest (docs/manifests.md).  Tree queries only; where pages go is the image's
`plan` (pipsim.partitions.plan)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.types import Geometry

if TYPE_CHECKING:
    from .plan import ImagePlan

ROOT = "root"


class ManifestError(PipsimError, ValueError):
    """A manifest that cannot boot; `errors` holds one "field: reason" line per problem."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Runs:
    """What runs in a partition: a Python component ("module:Class") or a firmware ELF."""

    kind: str                  # "python" | "firmware"
    target: str                # "module:Class", or the ELF's resolved path
    segments: tuple[tuple[int, int], ...] = ()   # firmware: its loadable VA ranges

    @property
    def firmware(self) -> bool:
        """It runs a firmware ELF (not a Python component)."""
        return self.kind == "firmware"

    @property
    def image_pages(self) -> list[int]:
        """The VAs of the pages a firmware image occupies."""
        return sorted({va for start, end in self.segments
                       for va in range(start & ~(PAGE_SIZE - 1), end, PAGE_SIZE)})

    @property
    def image_end(self) -> int:
        """The first page-aligned VA past the image (0 without one)."""
        return -(-max((end for _, end in self.segments), default=0) // PAGE_SIZE) * PAGE_SIZE


@dataclass(frozen=True)
class PartitionSpec:
    """One partition of a manifest: its name, parent, pages, what runs in it, its domain and
    its component's configuration."""

    name: str
    parent: str | None         # None for the root
    pages: int | None          # its own usable pages (None for the root: its plan says)
    runs: Runs | None = None
    domain: str | None = None
    config: dict | None = field(default=None, hash=False)   # its Python component's

    @property
    def runs_firmware(self) -> bool:
        """It runs a firmware ELF."""
        return self.runs is not None and self.runs.firmware

    @property
    def runs_python(self) -> bool:
        """It runs a Python component."""
        return self.runs is not None and not self.runs.firmware


@dataclass(frozen=True)
class DeviceSpec:
    """A device of the image (its registers page), of a kind, owned by a partition."""

    name: str
    kind: str
    owner: str


@dataclass(frozen=True)
class ChannelSpec:
    """A channel the policy allows: from one partition to another, its messages' maximum size
    (None: any) and the operations they may carry."""

    from_: str
    to: str
    max_size: int | None
    operations: tuple[str, ...]


@dataclass(frozen=True)
class LinkSpec:
    """A small device of the house the domain ``domain`` reaches (paper §VII, Figs. 10–11):
    its manager may forward commands to it through the runtime, no other domain may."""

    domain: str
    device: str


@dataclass(frozen=True)
class KeySpec:
    """A key a partition holds: given as a COSE_Key file or generated at boot, for its uses."""

    kid: str
    alg: str
    holder: str
    cose_key: Path | None      # resolved path, or None with generate
    generate: bool
    use: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A validated device image. `partitions` lists the root first, then parents before
    their children (manifest order otherwise); `plan` is where every page goes."""

    name: str
    arch: str
    geometry: Geometry
    partitions: tuple[PartitionSpec, ...]
    plan: "ImagePlan" = field(compare=False)
    devices: tuple[DeviceSpec, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    source: Path | None = field(default=None, compare=False)
    policy: str = "pip"        # the kernel's (docs/kernel.md §9)
    links: tuple[LinkSpec, ...] = ()     # the house's small devices its domains reach
    mode: str = "exact"        # how the machine's time runs (docs/abi.md "Run modes")
    trust: Path | None = None  # the trust policy its firmware images must check against

    @property
    def root(self) -> PartitionSpec:
        """The root partition's spec."""
        return self.partitions[0]

    @property
    def emulated(self) -> bool:
        """Its partitions run on an emulated CPU (arch arm or x86; not "python")."""
        return self.arch != "python"

    def partition(self, name: str) -> PartitionSpec:
        """The spec of partition `name` (StopIteration if there is none)."""
        return next(p for p in self.partitions if p.name == name)

    def children(self, name: str) -> list[PartitionSpec]:
        """The specs of `name`'s children, in manifest order."""
        return [p for p in self.partitions if p.parent == name]

    def ancestry(self, name: str) -> list[str]:
        """Names from the root down to `name`."""
        chain = [name]
        while (parent := self.partition(chain[-1]).parent) is not None:     # the root's: None
            chain.append(parent)
        return chain[::-1]
