"""Boot a validated manifest into a running kernel, only through the system calls.

Each parent, top-down, creates its children with its own pages (`k.as_partition(parent)` and
`pipkernel.wrappers`), maps their pages from `memory.CHILD_VA_START` up (a firmware child: its
image first, `pipkernel.machine.spawn`, then its pages after it) and relays device pages down to
their owners with addVAddr (docs/manifests.md "Boot").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipkernel import Kernel, Partition, PartitionAPI
from pipkernel.abi import PAGE_SIZE
from pipkernel.machine.spawn import python_parent_vidt, spawn_child
from pipkernel.wrappers import PageAllocator, create_child, map_page, map_range

from . import memory
from .manifest import (ROOT, ChannelSpec, KeySpec, Manifest, ManifestError, PartitionSpec,
                       Runs, component_class, load)


@dataclass
class BootedPartition:
    """One partition of a booted image, with what it sees in its own address space."""

    spec: PartitionSpec
    partition: Partition
    api: PartitionAPI
    desc: int | None                      # its descriptor's VA in its parent (None: the root)
    pages: tuple[int, ...]                # VAs of its own pages (the root: its pool)
    devices: dict[str, int] = field(default_factory=dict)   # device name -> VA here


@dataclass
class DeviceImage:
    """A booted device image: the kernel, the machine (arm / x86) and every partition."""

    manifest: Manifest
    kernel: Kernel
    machine: object | None                # pipkernel.machine.Machine, None for arch python
    partitions: dict[str, BootedPartition]
    devices: dict[str, object]            # device name -> its Registers (None for arch python)

    @property
    def channels(self) -> tuple[ChannelSpec, ...]:
        return self.manifest.channels

    @property
    def keys(self) -> tuple[KeySpec, ...]:
        return self.manifest.keys

    @property
    def names(self) -> dict[Partition, str]:
        """Partition handle -> name (for pipkernel.show.render_tree)."""
        return {b.partition: name for name, b in self.partitions.items()}

    def check_invariants(self) -> list[str]:
        return self.kernel.check_invariants()

    def component(self, name: str):
        """The class a partition's Python component names, imported now."""
        runs = self.partitions[name].spec.runs
        if runs is None or runs.kind != "python":
            raise ValueError(f'partition "{name}" runs no Python component')
        try:
            return component_class(runs.target)
        except ManifestError as error:
            raise ManifestError(f'partition "{name}": {error}') from None


def _start(manifest: Manifest):
    """The kernel (and machine) with the root's firmware loaded; device name -> (VA, device)."""
    if not manifest.machine:
        kernel = Kernel(*(getattr(manifest.geometry, f) for f in ("pages", "table_size", "levels")),
                        policy=manifest.policy)
        linear = sorted(va for va in kernel.mappings(kernel.root) if va != kernel.geometry.vidt_va)
        _, vas = memory.root_layout(linear, False, len(manifest.devices))
        return kernel, None, {d.name: (va, None) for d, va in zip(manifest.devices, vas)}
    from pipkernel.machine import Machine
    from pipkernel.machine.devices import Registers
    from pipkernel.machine.loader import ImageError
    runs = manifest.root.runs
    machine = Machine(manifest.arch, manifest.geometry.pages,
                      devices=[Registers(d.name) for d in manifest.devices],
                      python_root=bool(runs and runs.kind == "python"), policy=manifest.policy)
    if runs and runs.kind == "firmware":
        try:
            machine.load(runs.target)
        except ImageError as error:
            raise ManifestError(f"root.runs.firmware: {error}") from None
    return machine.kernel, machine, {name: machine.devices[name] for name in machine.devices}


def boot(manifest: Manifest | str) -> DeviceImage:
    """Boot a manifest (or a manifest file's path) and return the device image."""
    if not isinstance(manifest, Manifest):
        manifest = load(manifest)
    kernel, machine, devices = _start(manifest)
    linear = sorted(va for va in kernel.mappings(kernel.root) if va != kernel.geometry.vidt_va)
    pool, _ = memory.root_layout(linear, manifest.machine, len(devices),
                                 manifest.firmware_reserve())
    root = BootedPartition(manifest.root, kernel.root, kernel.as_partition(kernel.root), None,
                           tuple(pool), {name: va for name, (va, _) in devices.items()})
    booted = {ROOT: root}
    allocators = {ROOT: PageAllocator(pool)}
    if manifest.schedules_firmware(ROOT):
        python_parent_vidt(root.api, kernel.geometry.vidt_va)
    for spec in manifest.partitions[1:]:
        parent = booted[spec.parent]
        booted[spec.name] = _create(manifest, machine, parent, allocators[spec.parent], spec)
        allocators[spec.name] = PageAllocator(booted[spec.name].pages)
        if machine is not None and spec.runs and spec.runs.kind == "python":
            machine.add_python_partition(booted[spec.name].partition)
    return DeviceImage(manifest, kernel, machine, booted,
                       {name: device for name, (_, device) in devices.items()})


def spawn_firmware(machine, api, alloc: PageAllocator, runs: Runs, pages: int,
                   devices=()) -> int:
    """api's partition makes a firmware child: its image (`spawn_child`), then `pages` pages
    from its image's end up, then the device pages `devices` (api's VAs); its descriptor.
    The contract of its main (docs/manifests.md): main(first page's VA, first device's VA or 0)."""
    g = api.kernel.geometry
    vas = memory.child_vas(g, pages + len(devices), runs.image_end)
    desc = spawn_child(machine, api, alloc, runs.target,
                       args=(runs.image_end, vas[pages] if devices else 0))
    for lo, hi in memory.child_ranges(g, pages, runs.image_end):
        map_range(api, alloc, desc, lo, (hi - lo) // PAGE_SIZE)
    for device, va in zip(devices, vas[pages:]):
        map_page(api, alloc, desc, device, va)
    return desc


def _create(manifest: Manifest, machine, parent: BootedPartition, alloc: PageAllocator,
            spec: PartitionSpec) -> BootedPartition:
    """The parent creates `spec` (a firmware child: with its image), maps its pages, then
    relays its devices to it; a Python parent of firmware gets a VIDT to come back to."""
    api, kernel = parent.api, parent.api.kernel
    g, start = kernel.geometry, manifest.data_start(spec.name)
    relayed = manifest.relayed_devices(spec.name)
    vas = memory.child_vas(g, spec.pages + len(relayed), start)
    if manifest.runs_firmware(spec.name):
        desc = spawn_firmware(machine, api, alloc, spec.runs, spec.pages,
                              [parent.devices[d.name] for d in relayed])
    else:
        desc = create_child(api, alloc)
        # on a machine, R W X: a Python partition runs no code itself, and the firmware below
        # it (drivers, created domains' applications) gets its code pages from it; under the
        # hardened policy it can lend only the rights it holds (docs/kernel.md §9 (b))
        for lo, hi in memory.child_ranges(g, spec.pages, start):
            map_range(api, alloc, desc, lo, (hi - lo) // PAGE_SIZE, e=manifest.machine)
        for device, va in zip(relayed, vas[spec.pages:]):
            map_page(api, alloc, desc, parent.devices[device.name], va)
    handle = Partition(kernel.mappings(parent.partition)[desc].pa // PAGE_SIZE)
    child = kernel.as_partition(handle)
    if manifest.schedules_firmware(spec.name):
        map_page(api, alloc, desc, alloc.alloc(), g.vidt_va)
        python_parent_vidt(child, g.vidt_va)
    return BootedPartition(spec, handle, child, desc, tuple(vas[:spec.pages]),
                           {d.name: va for d, va in zip(relayed, vas[spec.pages:])})
