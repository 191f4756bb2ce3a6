"""Boot a validated manifest into a running kernel, only through the system calls.

The manifest's plan (pipsim.partitions.plan) says where every page goes; boot carries it out top-down:
each parent creates its children from its pool (`k.as_partition(parent)` and
`pipsim.kernel.wrappers`), maps their pages (a firmware child: its image first,
`pipsim.kernel.machine.spawn`, then its pages after it) and relays device pages down to their
owners with addVAddr (docs/manifests.md "Boot").  Given a measurement log
(pipsim.trust.measure.Measurements), each partition is measured as it is created, top-down
(docs/attestation.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from pipsim.kernel import Kernel, Partition, PartitionAPI, layout
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.machine.spawn import python_parent_vidt, spawn_child
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page, map_range

from pipsim.trust import image as signed
from pipsim.trust import measure, permissions
from pipsim.trust.policy import PolicyError
from pipsim.trust.policy import load as load_policy

from .manifest import load
from .plan import PartitionPlan
from .rules import component_class
from .spec import ROOT, ChannelSpec, KeySpec, Manifest, ManifestError, PartitionSpec

if TYPE_CHECKING:                     # imported when a machine is made: arch python needs none
    from pipsim.kernel.machine import Machine
    from pipsim.kernel.machine.devices import Registers


@dataclass
class BootedPartition:
    """One partition of a booted image: its spec, its plan, and its handle in the kernel."""

    spec: PartitionSpec
    plan: PartitionPlan
    partition: Partition
    api: PartitionAPI
    desc: int | None                      # its descriptor's VA in its parent (None: the root)
    package: signed.Package | None = None  # a firmware partition's image, as read at boot

    @property
    def pages(self) -> tuple[int, ...]:
        """VAs of its own pages (the root: its pool), mailbox included."""
        return self.plan.pages

    @property
    def devices(self) -> dict[str, int]:
        """Device name -> its VA here."""
        return self.plan.devices


@dataclass
class DeviceImage:
    """A booted device image: the kernel, the machine (arm / x86) and every partition."""

    manifest: Manifest
    kernel: Kernel
    machine: Machine | None               # None for arch python
    partitions: dict[str, BootedPartition]
    devices: dict[str, Registers | None]  # device name -> its registers (None for arch python)
    measurements: measure.Measurements | None = None    # if booted measured

    @property
    def channels(self) -> tuple[ChannelSpec, ...]:
        """The manifest's channels."""
        return self.manifest.channels

    @property
    def keys(self) -> tuple[KeySpec, ...]:
        """The manifest's keys."""
        return self.manifest.keys

    @property
    def names(self) -> dict[Partition, str]:
        """Partition handle -> name (for pipsim.kernel.show.render_tree)."""
        return {b.partition: name for name, b in self.partitions.items()}

    def check_invariants(self) -> list[str]:
        """The kernel's violated invariants (none: [])."""
        return self.kernel.check_invariants()

    def component(self, name: str) -> type:
        """The class a partition's Python component names, imported now."""
        runs = self.partitions[name].spec.runs
        if runs is None or runs.firmware:
            raise ValueError(f'partition "{name}" runs no Python component')
        try:
            return component_class(runs.target)
        except ManifestError as error:
            raise ManifestError(f'partition "{name}": {error}') from None


def _start(manifest: Manifest, root_image: signed.Package | None
           ) -> tuple[Kernel, Machine | None, dict[str, Registers | None]]:
    """The kernel and, for arm / x86, the machine with the root's firmware ``root_image``
    loaded and the devices where the plan puts them; device name -> its model (None
    without a machine)."""
    if not manifest.emulated:
        g = manifest.geometry
        kernel = Kernel(g.pages, g.table_size, g.levels, policy=manifest.policy)
        return kernel, None, {d.name: None for d in manifest.devices}
    from pipsim.kernel.machine import Machine
    from pipsim.kernel.machine.devices import Registers
    from pipsim.kernel.machine.loader import ImageError
    runs = manifest.root.runs
    machine = Machine(manifest.arch, manifest.geometry.pages,
                      devices=[Registers(d.name) for d in manifest.devices],
                      python_root=manifest.root.runs_python, policy=manifest.policy,
                      mode=manifest.mode)
    if runs is not None and runs.firmware:
        assert root_image is not None                 # _read_firmware read it
        try:
            machine.load(root_image.elf)
        except ImageError as error:
            raise ManifestError(f"root.runs.firmware: {runs.target}: {error}") from None
    return machine.kernel, machine, {name: machine.devices[name][1] for name in machine.devices}


def verify_image(manifest: Manifest, path: str | os.PathLike | signed.Package,
                 devices: Iterable[str] = (), **checks: Any) -> signed.Verified | None:
    """Check a firmware image (a path, or a ``pipsim.trust.image.Package`` in memory) against the
    manifest's trust policy (image.trust; None without one): its signature, digest and arch,
    and that it requests the permission of each device in ``devices`` (docs/trust.md);
    ``checks``: ``pipsim.trust.image.verify``'s name and minimum_version.  ImageRefused or
    PolicyError otherwise."""
    if manifest.trust is None:
        return None
    verified = signed.verify(path, load_policy(manifest.trust), arch=manifest.arch, **checks)
    signed.require(verified, map(permissions.device, devices))
    return verified


def _read_firmware(manifest: Manifest) -> dict[str, signed.Package]:
    """Every firmware image of the manifest, read once (its ELF and its signature file) and,
    with a trust policy, checked (verify_image) before anything boots: the bytes verified are
    the bytes measured and loaded."""
    packages = {}
    for spec in manifest.partitions:
        if spec.runs is not None and spec.runs.firmware:
            where = "root" if spec.name == ROOT else f'partition "{spec.name}"'
            try:
                packages[spec.name] = signed.Package.read(spec.runs.target)
                verify_image(manifest, packages[spec.name],
                             [d.name for d in manifest.devices if d.owner == spec.name])
            except (signed.ImageRefused, PolicyError) as error:
                raise ManifestError(f"{where}: runs.firmware refused by image.trust: "
                                    f"{error}") from None
    return packages


def measure_partition(measurements: measure.Measurements, manifest: Manifest, spec: PartitionSpec,
                      code: tuple[str, bytes] | None = None) -> None:
    """Record in ``measurements`` (pipsim.trust.measure.Measurements) that a partition of the
    manifest is made (at boot, at a restart, at an update): its code (``code``, a firmware
    partition's: the image it loads, as pipsim.trust.measure.elf_code measures it), then its entry
    as configured."""
    if code is None:
        if spec.runs is None:
            code = "nothing", measure.sha256(b"")
        elif spec.runs.firmware:
            raise ValueError(f"{spec.name}: a firmware partition is measured from the bytes "
                             "it loads (code)")
        else:
            code = measure.python_code(component_class(spec.runs.target))
    measurements.created(spec.name, spec.parent, code, _measured_entry(manifest, spec))


def _measured_entry(manifest: Manifest, spec: PartitionSpec) -> dict:
    """A partition's configuration as measured: its entry (its ELF by file name: the bytes
    are its code), its devices, the keys it holds, the channels it is an end of."""
    runs = None
    if spec.runs is not None:
        runs = [spec.runs.kind, Path(spec.runs.target).name if spec.runs.firmware
                else spec.runs.target]
    return {"name": spec.name, "parent": spec.parent, "pages": spec.pages,
            "domain": spec.domain, "runs": runs, "config": spec.config,
            "devices": sorted(manifest.plan[spec.name].devices),
            "keys": sorted([k.kid, k.alg] for k in manifest.keys if k.holder == spec.name),
            "channels": sorted([c.from_, c.to, c.max_size, list(c.operations)]
                               for c in manifest.channels if spec.name in (c.from_, c.to))}


def boot(manifest: Manifest | str | os.PathLike,
         measurements: measure.Measurements | None = None) -> DeviceImage:
    """Boot a manifest (or a manifest file's path) and return the device image; with a
    trust policy (image.trust), only once every firmware image checks against it;
    ``measurements``: a pipsim.trust.measure.Measurements that records each partition made."""
    if not isinstance(manifest, Manifest):
        manifest = load(manifest)
    packages = _read_firmware(manifest)
    plan = manifest.plan
    if measurements is not None:                  # measured before it is loaded, each of them
        measure_partition(measurements, manifest, manifest.root, _code(packages.get(ROOT)))
    kernel, machine, devices = _start(manifest, packages.get(ROOT))
    root = BootedPartition(manifest.root, plan[ROOT], kernel.root,
                           kernel.as_partition(kernel.root), None, packages.get(ROOT))
    booted = {ROOT: root}
    allocators = {ROOT: PageAllocator(plan[ROOT].pool)}
    if any(c.runs_firmware for c in manifest.children(ROOT)):
        python_parent_vidt(root.api, kernel.geometry.vidt_va)
    for spec in manifest.partitions[1:]:
        assert spec.parent is not None                # only the root's is None
        parent = booted[spec.parent]
        if measurements is not None:
            measure_partition(measurements, manifest, spec, _code(packages.get(spec.name)))
        booted[spec.name] = _create(manifest, machine, parent, allocators[spec.parent], spec,
                                    packages.get(spec.name))
        allocators[spec.name] = PageAllocator(plan[spec.name].pool)
        if machine is not None and spec.runs_python:
            machine.add_python_partition(booted[spec.name].partition)
    return DeviceImage(manifest, kernel, machine, booted, devices, measurements)


def map_pages(api: PartitionAPI, alloc: PageAllocator, desc: int, vas: Iterable[int],
              e: bool = False) -> None:
    """Map fresh pages of api's partition at the child's VAs `vas`, run by consecutive run."""
    for start, count in layout.runs(vas):
        map_range(api, alloc, desc, start, count, e=e)


def spawn_firmware(machine: Machine, api: PartitionAPI, alloc: PageAllocator, image: bytes,
                   plan: PartitionPlan, devices: Iterable[int] = ()) -> int:
    """api's partition makes a firmware child as `plan` says: its ELF `image` (the bytes
    verified and measured: `spawn_child`), then its pages, then the device pages `devices`
    (api's VAs); its descriptor.  The contract of its main (docs/manifests.md): main(first
    page's VA, first device's VA or 0)."""
    device_vas = list(plan.devices.values())
    desc = spawn_child(machine, api, alloc, image,
                       args=(plan.pages[0], device_vas[0] if device_vas else 0))
    map_pages(api, alloc, desc, plan.pages)
    for src, va in zip(devices, device_vas):
        map_page(api, alloc, desc, src, va)
    return desc


def _code(package: signed.Package | None) -> tuple[str, bytes] | None:
    """A firmware image's code as measured (None: no firmware)."""
    return None if package is None else measure.elf_code(package.label, package.elf)


def _create(manifest: Manifest, machine: Machine | None, parent: BootedPartition,
            alloc: PageAllocator,
            spec: PartitionSpec, package: signed.Package | None) -> BootedPartition:
    """The parent creates `spec` (a firmware child: with its image ``package``), maps its
    pages, then relays its devices to it; a Python parent of firmware gets a VIDT to come
    back to."""
    api, kernel, plan = parent.api, parent.api.kernel, manifest.plan[spec.name]
    sources = [parent.devices[name] for name in plan.devices]
    if spec.runs_firmware:
        assert machine is not None and package is not None   # firmware runs on a machine
        desc = spawn_firmware(machine, api, alloc, package.elf, plan, sources)
    else:
        desc = create_child(api, alloc)
        # on a machine, R W X: a Python partition runs no code itself, and the firmware below
        # it (drivers, created domains' applications) gets its code pages from it; under the
        # hardened policy it can lend only the rights it holds (docs/kernel.md §9 (b))
        map_pages(api, alloc, desc, plan.pages, e=manifest.emulated)
        for src, va in zip(sources, plan.devices.values()):
            map_page(api, alloc, desc, src, va)
    handle = Partition(kernel.mappings(parent.partition)[desc].pa // PAGE_SIZE)
    child = kernel.as_partition(handle)
    if plan.vidt and not spec.runs_firmware:
        map_page(api, alloc, desc, alloc.alloc(), kernel.geometry.vidt_va)
        python_parent_vidt(child, kernel.geometry.vidt_va)
    return BootedPartition(spec, plan, handle, child, desc, package)
