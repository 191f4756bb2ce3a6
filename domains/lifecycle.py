"""Partitions that come and go after boot, for the runtime (``domains.runtime.Runtime``):
domains the owner's Configuration Manager creates and deletes (object 26261, with their
firmware application), and firmware partitions restarted after a fault.  Each change is
made with the system calls of the partitions concerned, is registered in the topology, the
channel policy and the machine, and ends with a new relay for the changed tree.
"""
from __future__ import annotations

from pathlib import Path

from ipc import Relay
from ipc.mailbox import MAILBOX_PAGES
from partitions.boot import spawn_firmware
from partitions.manifest import firmware
from partitions.plan import child_plan
from partitions.spec import ManifestError
from pipkernel import Partition, layout
from pipkernel.abi import PAGE_SIZE
from pipkernel.machine.spawn import python_parent_vidt
from pipkernel.wrappers import PageAllocator

from .firmware import FirmwarePartition


class Lifecycle:
    """Runtime methods (the runtime's topology, policy, components, firmware, parent_of,
    domain_of, _mailbox, _start and _close_exchanges are theirs)."""

    def adopt(self, name: str, parent_api, desc: int, pages, component, config: dict,
              app: tuple[str, str] | None = None):
        """Run ``component`` (a class) as the new child ``desc`` of parent_api's partition,
        with its own pages ``pages``, as its own domain: a mailbox, then the component.
        ``app`` = (its name, a firmware image path as in the image's manifest, "{arch}"
        allowed): the new partition first spawns that image as its child (its image, a
        mailbox), scheduled like the drivers, with a channel both ways; the parent must have
        mapped the new partition a VIDT page.  Atomic: if anything cannot be done
        (MemoryError or StoreError: too few pages; ManifestError: a bad image), nothing stays
        registered."""
        parent = next(n for n in self.topology.endpoints
                      if self.topology.node(n).partition == parent_api.partition)
        partition = Partition(self.kernel.mappings(parent_api.partition)[desc].pa // PAGE_SIZE)
        api = self.kernel.as_partition(partition)
        self.parent_of[name], self.domain_of[name] = parent, name
        try:
            free = self._mailbox(name, partition, api, pages)
            if app is not None:
                free = self._spawn_app(name, partition, api, free, *app)
            started = self._start(name, component, api, free, {},
                                  {"parent": parent, "children": [app[0]] if app else [],
                                   "clients": {}, **config})
        except BaseException:             # a Runaway too: the runtime's own, unmetered, undo
            self._delete_children(partition)
            self._unregister(name)
            raise
        self.relay = Relay(self.topology, self.policy)
        return started

    def _spawn_app(self, name: str, partition, api, free: list[int], app: str, image: str):
        """``name`` spawns the firmware ``image`` as its child ``app`` from its last free
        pages; the free pages left."""
        machine, manifest = self.image.machine, self.image.manifest
        if machine is None:
            raise ManifestError(f"{image}: firmware needs an arm or x86 image")
        runs = firmware(Path(manifest.source).parent / image.replace("{arch}", manifest.arch),
                        manifest.arch)
        g = self.kernel.geometry
        plan = child_plan(g, app, MAILBOX_PAGES, runs)
        need = plan.cost + layout.build_spare(g)
        if need > len(free):
            raise MemoryError(f"{name}: {need} pages for its application, {len(free)} free")
        machine.add_python_partition(partition)
        python_parent_vidt(api, g.vidt_va)
        desc = spawn_firmware(machine, api, PageAllocator(free[-need:]), runs, plan)
        child = Partition(self.kernel.mappings(partition)[desc].pa // PAGE_SIZE)
        self.parent_of[app], self.domain_of[app] = name, name
        self._mailbox(app, child, self.kernel.as_partition(child),
                      plan.pages)
        self.policy.allow(name, app, both=True)
        self.firmware[app] = FirmwarePartition(machine, app, api, desc, child,
                                               self.topology.mailbox(app))
        return free[:-need]

    def restart(self, name: str) -> None:
        """Start a halted firmware partition of the image afresh: it is deleted bottom-up
        (``_delete_tree``: whatever it made of its own goes first, so every page it had comes
        back to its parent) and its parent spawns its image again in those pages, with its
        devices; it gets a fresh mailbox (same endpoint id), open again: requests reach it.
        ValueError if it is not a halted firmware partition;
        RuntimeError if its image cannot run again: then what the respawn made is deleted
        too and the partition is gone (its endpoint with it)."""
        old = self.firmware.get(name)
        if old is None or name not in self.image.partitions or not old.halted:
            raise ValueError(f"{name} is not a halted firmware partition of the image")
        booted, parent = self.image.partitions[name], self.image.partitions[self.parent_of[name]]
        api, child = parent.api, self.topology.node(name).partition
        va_of = {m.pa: va for va, m in self.kernel.mappings(parent.partition).items()}
        devices = set(parent.devices.values())
        pages = [va_of[m.pa] for m in self.kernel.mappings(child).values()
                 if va_of[m.pa] not in devices]
        pages += [va_of[page * PAGE_SIZE] for page in self.kernel.config_pages(child)]
        if not self._delete_tree(child):
            raise RuntimeError(f"{name}: deletePartition: {self.kernel.last_error}")
        others = set(self.kernel.children(parent.partition))
        try:
            desc = spawn_firmware(self.image.machine, api, PageAllocator(pages), booted.spec.runs,
                                  booted.plan, [parent.devices[d] for d in booted.devices])
            partition = Partition(self.kernel.mappings(parent.partition)[desc].pa // PAGE_SIZE)
            self._mailbox(name, partition, self.kernel.as_partition(partition), booted.pages,
                          again=True)
        except BaseException as error:      # whatever stopped it, undo it: the domain goes on
            for made in set(self.kernel.children(parent.partition)) - others:
                self._delete_tree(made)
            self._unregister(name)
            self.relay = Relay(self.topology, self.policy)
            if not isinstance(error, Exception):
                raise                        # a Runaway ends the activation that asked
            raise RuntimeError(f"{name} cannot run again ({type(error).__name__}: {error}); "
                               "its partition is deleted") from None
        booted.partition, booted.api, booted.desc = (partition, self.kernel.as_partition(partition),
                                                     desc)
        self.firmware[name] = FirmwarePartition(self.image.machine, name, api, desc, partition,
                                                self.topology.mailbox(name))
        self.firmware[name].turns = old.turns
        self.relay = Relay(self.topology, self.policy)

    def forget(self, name: str) -> None:
        """Stop running a partition adopted earlier, before its parent deletes it: its
        children are deleted first, bottom-up (``_delete_tree``)."""
        self._delete_children(self.topology.node(name).partition)
        self._unregister(name)
        self.relay = Relay(self.topology, self.policy)

    def _delete_children(self, partition) -> None:
        for child in self.kernel.children(partition):
            self._delete_tree(child)

    def _delete_tree(self, partition) -> bool:
        """Delete a partition bottom-up: its descendants first, each by its parent (Pip gives
        a deleted partition's pages back to its parent, not its descendants' kernel pages:
        docs/kernel.md §5); whether its parent's deletePartition succeeded."""
        self._delete_children(partition)
        parent = self.kernel.parent(partition)
        desc = next(va for va, m in self.kernel.mappings(parent).items()
                    if m.pa == partition.pd * PAGE_SIZE)
        return self.kernel.as_partition(parent).delete_partition(desc)

    def _unregister(self, name: str) -> None:
        for child in [n for n, p in self.parent_of.items() if p == name]:
            self._unregister(child)
        self.firmware.pop(name, None)
        component = self.components.pop(name, None)
        if component is not None and self.managers.get(component.domain) is component:
            self._close_exchanges(component.domain, f"domain {component.domain} is deleted")
            del self.managers[component.domain]
        if name in self.topology.endpoints:
            if self.image.machine is not None:
                self.image.machine.remove_python_partition(self.topology.node(name).partition)
            self.topology.remove(name)
        self.policy.revoke(name)
        del self.parent_of[name], self.domain_of[name]
