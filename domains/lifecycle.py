"""The partitions the runtime runs, and how they come and go: ``Lifecycle``.

It owns what runs where: the ipc ``topology`` (every partition's mailbox and endpoint), the
channel ``policy``, the ``relay`` over them, each partition's parent and domain, the Python
``components`` (and, of those, each domain's registered manager), the ``firmware``
partitions.  At boot (``start_image``) every partition of the image gets a mailbox and its
component or firmware turn; after boot it changes only through ``adopt`` / ``forget`` (a
domain the owner's Configuration Manager creates and deletes, object 26261, with its
firmware application) and ``restart`` (a halted firmware partition).  Each change is made
with the system calls of the partitions concerned, is registered in the topology, the
policy and the machine (and, if the image was booted measured, in its measurements:
docs/attestation.md), and ends with a new relay for the changed tree.

The runtime (``pipsim.domains.runtime``) schedules and contains what is registered here; it gives
the lifecycle one function, ``launch``, that starts a component as a partition (with the
runtime's metered API, mailbox and host services in its ``Context``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pipsim.ipc import Policy, Relay, Topology
from pipsim.partitions.boot import measure_partition, spawn_firmware, verify_image
from pipsim.partitions.fields import expand
from pipsim.partitions.manifest import firmware
from pipsim.partitions.plan import child_plan, mailbox_vas
from pipsim.partitions.spec import ManifestError
from pipsim.kernel import Partition, layout
from pipsim.kernel.abi import IPC_MAILBOX_PAGES as MAILBOX_PAGES
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.machine.spawn import python_parent_vidt
from pipsim.kernel.wrappers import NoFreePages, PageAllocator, free_pages
from pipsim.trust.image import ImageRefused, Package
from pipsim.trust.measure import elf_code, python_code
from pipsim.trust.rot import SealError

from .firmware import FirmwarePartition
from .host import Manager

MANAGER_METHODS = ("receive_frame", "take_answers", "paths", "export_key")


@dataclass(frozen=True)
class Installed:
    """An updated firmware partition's image: its verified package (its ELF and signature
    file's bytes, kept by the host as a device keeps its firmware slot) and its code as
    measured."""

    package: Package
    code: tuple[str, bytes]


@dataclass(frozen=True)
class Updated:
    """What an update did: the image's signed name, the version it replaced and the one
    that runs now (the same: rolled back, ``failure`` says why the new one did not start)."""

    name: str
    previous: int
    version: int
    failure: str | None


def derived_config(image, name: str) -> dict:
    """What the image says about a partition: its parent and children, who may send it
    what (channel operations), and its domain's description for the Configuration Manager."""
    manifest, spec = image.manifest, image.partitions[name].spec
    domain = spec.domain or name
    mine = {p.name for p in manifest.partitions if (p.domain or p.name) == domain}
    return {
        "device": manifest.name,
        "parent": spec.parent if name != "root" else None,
        "children": [c.name for c in manifest.children(name)],
        "clients": {c.from_: list(c.operations) for c in manifest.channels if c.to == name},
        "links": sorted(link.device for link in manifest.links if link.domain == domain),
        "description": {
            "partitions": {p.name: {"parent": p.parent, "pages": p.pages,
                                    "runs": p.runs.target if p.runs else None}
                           for p in manifest.partitions if p.name in mine and p.name != "root"},
            "channels": [[c.from_, c.to] for c in manifest.channels
                         if c.from_ in mine or c.to in mine],
            "domains": {p.domain or p.name: {
                "identity": next((k.kid for k in manifest.keys if k.holder == p.name), None),
                "pages": p.pages}
                for p in manifest.partitions
                if p.parent in mine and (p.domain or p.name) != domain}},
    }


class Lifecycle:
    def __init__(self, image, launch):
        """``launch(name, component, api, free, devices, config, keys)``: a started
        component (``component`` is its class) running as the partition ``name``."""
        self.image, self.kernel, self.launch = image, image.kernel, launch
        self.topology = Topology(self.kernel)
        self.policy = Policy((c.from_, c.to, c.max_size) for c in image.channels)
        self.parent_of = {name: booted.spec.parent if booted.desc is not None else None
                          for name, booted in image.partitions.items()}
        self.domain_of = {name: booted.spec.domain or name
                          for name, booted in image.partitions.items()}
        self.components, self.managers, self.firmware = {}, {}, {}
        self.installed: dict[str, Installed] = {}      # firmware partitions updated
        self.relay: Relay | None = None
        self.measurements = image.measurements          # None: not measured

    def start_image(self) -> None:
        """Every partition of the image gets its mailbox; the relay starts; each Python
        partition's component starts (with the image's keys it holds), each firmware
        partition is scheduled."""
        image = self.image
        for name, booted in image.partitions.items():
            self._mailbox(name, booted.partition, booted.plan.mailbox)
        free = {name: free_pages(booted.api, booted.plan.pool)
                for name, booted in image.partitions.items()}
        self.relay = Relay(self.topology, self.policy)
        for name, booted in image.partitions.items():
            if booted.spec.runs is not None and booted.spec.runs.kind == "python":
                self.components[name] = self.launch(
                    name, image.component(name), booted.api, free[name], dict(booted.devices),
                    {**derived_config(image, name), **(booted.spec.config or {})},
                    tuple(key for key in image.keys if key.holder == name))
        self.firmware.update({
            name: FirmwarePartition(image.machine, name,
                                    image.partitions[booted.spec.parent].api, booted.desc,
                                    booted.partition, self.topology.mailbox(name))
            for name, booted in image.partitions.items()
            if booted.spec.runs is not None and booted.spec.runs.kind == "firmware"})

    def register_manager(self, name: str, manager) -> None:
        """The component of ``name`` is its domain's manager (``pipsim.domains.host.Manager``)."""
        if not isinstance(manager, Manager):
            missing = [m for m in MANAGER_METHODS if not callable(getattr(manager, m, None))]
            raise TypeError(f"{name}: {type(manager).__name__} cannot be a domain's manager: "
                            f"it has no {', '.join(missing) or 'name or domain'}")
        if manager.name != name:
            raise PermissionError(f"{name} cannot register {manager.name} as a manager")
        domain = self.domain_of[name]
        if domain in self.managers:
            raise ValueError(f"{name}: domain {domain} has a manager already "
                             f"({self.managers[domain].name})")
        self.managers[domain] = manager

    def _mailbox(self, name: str, partition, mine, again: bool = False) -> None:
        """Register the partition's mailbox at its planned VAs ``mine`` (outbox pair, inbox
        pair: pipsim.partitions.plan), formatted as that partition (again: in place of the partition
        that had its name, keeping its endpoint id)."""
        if len(mine) != MAILBOX_PAGES:
            raise NoFreePages(f"{name}: no two pairs of consecutive pages for its mailbox")
        outbox, inbox = mine[0], mine[2]
        parent, parent_pages = self.parent_of[name], None
        if parent is not None:
            parent_vas = {m.pa: va for va, m in
                          self.kernel.mappings(self.topology.node(parent).partition).items()}
            maps = self.kernel.mappings(partition)
            parent_pages = [parent_vas[maps[va].pa] for va in mine]
        if again:
            self.topology.replace(name, partition, outbox, inbox, parent_pages)
        else:
            self.topology.add(name, partition, outbox, inbox, parent, parent_pages)
        self.topology.format(name)

    def adopt(self, name: str, parent_api, desc: int, pages, component, config: dict,
              app: tuple[str, str] | None = None, keys=()) -> None:
        """Run ``component`` (a class) as the new child ``desc`` of parent_api's partition,
        with its own pages ``pages``, as its own domain: a mailbox, then the component.
        ``app`` = (its name, a firmware image path as in the image's manifest, "{arch}"
        allowed): the new partition first spawns that image as its child (its image, a
        mailbox), scheduled like the drivers, with a channel both ways; the parent must have
        mapped the new partition a VIDT page.  Atomic: if anything cannot be done
        (NoFreePages or StoreError: too few pages; ManifestError: a bad image; ...), nothing
        stays registered (a manager retired then never had a frame)."""
        parent = next(n for n in self.topology.endpoints
                      if self.topology.node(n).partition == parent_api.partition)
        partition = Partition(self.kernel.mappings(parent_api.partition)[desc].pa // PAGE_SIZE)
        api = self.kernel.as_partition(partition)
        self.parent_of[name], self.domain_of[name] = parent, name
        try:
            if self.measurements is not None:
                self.measurements.created(name, parent, python_code(component), {
                    "name": name, "parent": parent, "pages": len(pages), "config": config,
                    "app": list(app) if app else None, "keys": list(keys)})
            mailbox = mailbox_vas(pages)
            self._mailbox(name, partition, mailbox)
            free = free_pages(api, [va for va in pages if va not in mailbox])
            if app is not None:
                free = self._spawn_app(name, partition, api, free, *app)
            self.components[name] = self.launch(
                name, component, api, free, {},
                {"device": self.image.manifest.name, "parent": parent,
                 "children": [app[0]] if app else [], "clients": {}, **config},
                tuple(keys))
        except BaseException:             # a Runaway too: the runtime's own, unmetered, undo
            self._measure_deleted(name)
            self._delete_children(partition)
            self._unregister(name)
            raise
        self.relay = Relay(self.topology, self.policy)

    def _spawn_app(self, name: str, partition, api, free: list[int], app: str, image: str):
        """``name`` spawns the firmware ``image`` as its child ``app`` from its last free
        pages; the free pages left."""
        machine, manifest = self.image.machine, self.image.manifest
        if machine is None:
            raise ManifestError(f"{image}: firmware needs an arm or x86 image")
        package = Package.read(self._image_path(image))       # what is checked runs
        verify_image(manifest, package)
        runs = firmware(self._image_path(image), manifest.arch)
        g = self.kernel.geometry
        plan = child_plan(g, app, MAILBOX_PAGES, runs)
        need = plan.cost + layout.build_spare(g)
        if need > len(free):
            raise NoFreePages(f"{name}: {need} pages for its application, {len(free)} free")
        if self.measurements is not None:
            self.measurements.created(app, name, elf_code(package.label, package.elf), {
                "name": app, "parent": name, "runs": ["firmware", package.label]})
        machine.add_python_partition(partition)
        python_parent_vidt(api, g.vidt_va)
        desc = spawn_firmware(machine, api, PageAllocator(free[-need:]), package.elf, plan)
        child = Partition(self.kernel.mappings(partition)[desc].pa // PAGE_SIZE)
        self.parent_of[app], self.domain_of[app] = name, name
        self._mailbox(app, child, plan.mailbox)
        self.policy.allow(name, app, both=True)
        self.firmware[app] = FirmwarePartition(machine, app, api, desc, child,
                                               self.topology.mailbox(app))
        return free[:-need]

    def _measure_deleted(self, name: str) -> None:
        """A partition made here is gone, or was never made whole: if the image is measured
        and the partition was, its measurements say so."""
        if self.measurements is not None and name in self.measurements:
            self.measurements.deleted(name)

    def _image_path(self, image: str) -> Path:
        """A firmware image path as in the image's manifest ("{arch}", "{firmware}" allowed),
        resolved."""
        manifest = self.image.manifest
        return Path(manifest.source).parent / expand(image, manifest.arch)

    def check_image(self, image: str) -> None:
        """A firmware image a created domain would run checks against the image's trust
        policy (``pipsim.partitions.boot.verify_image``); ImageRefused or PolicyError otherwise."""
        verify_image(self.image.manifest, self._image_path(image))

    def seal(self, name: str, data: bytes) -> bytes | None:
        """``data`` sealed by the image's root of trust to this device and to ``name``'s
        register (its code and configuration as measured when it was made); None if the
        image was not booted measured into a root of trust: nothing to bind it to."""
        root = self._root()
        return None if root is None else root.seal(data, self.measurements.register(name))

    def unseal(self, name: str, blob: bytes) -> bytes:
        """What ``seal`` bound for ``name``; trust.SealError unless ``name``'s register is
        the same now (and the device, and the blob whole)."""
        root = self._root()
        if root is None:
            raise SealError(f"{self.image.manifest.name} was not booted measured into a root "
                            "of trust: nothing unseals")
        return root.unseal(blob, self.measurements.register(name))

    def _root(self):
        """The root of trust the image was booted measured into, or None."""
        return None if self.measurements is None else self.measurements.root

    def restart(self, name: str) -> None:
        """Start a halted firmware partition of the image afresh: it is deleted bottom-up
        (``_reclaim``) and its parent spawns its image again (its manifest's, or the one an
        update installed) in those pages, with its devices; it gets a fresh mailbox (same
        endpoint id), open again: requests reach it.
        ValueError if it is not a halted firmware partition;
        RuntimeError if its image cannot run again: then what the respawn made is deleted
        too and the partition is gone (its endpoint with it)."""
        old = self.firmware.get(name)
        if old is None or name not in self.image.partitions or not old.halted:
            raise ValueError(f"{name} is not a halted firmware partition of the image")
        pages = self._reclaim(name)
        try:
            self._spawn(name, pages, self.installed.get(name) or self._shipped(name))
        except BaseException as error:      # whatever stopped it, undo it: the domain goes on
            self._gone(name, error)
        self.firmware[name].turns = old.turns

    def update(self, name: str, package: Package) -> Updated:
        """Fig. 9: replace the firmware partition ``name`` of the image with a newer signed
        version of its image (docs/trust.md "Updating a driver").  The image it runs is read
        once and verified again (its manifest's file, or the bytes an update installed);
        ``package`` is verified against the image's trust policy (image.trust) as that
        image's successor: same signed name, a version above the installed one, the
        permissions of its devices.  Then it is deleted bottom-up (``_reclaim``) and its
        parent spawns the package's bytes (the very bytes verified) in its pages, with its
        devices and its endpoint id, measured; if the new image does not start
        (``FirmwarePartition.start``), it is deleted and the previous image, verified above,
        is spawned again the same way (rolled back).
        ImageRefused (nothing changed) if the package does not check; ValueError if ``name``
        is not a firmware partition of the image or the image has no trust policy;
        RuntimeError if not even the previous image can be spawned (the partition is gone)."""
        old = self.firmware.get(name)
        manifest = self.image.manifest
        if old is None or name not in self.image.partitions:
            raise ValueError(f"{name} is not a firmware partition of the image")
        if manifest.trust is None:
            raise ValueError(f"{manifest.name} has no trust policy (image.trust): its firmware "
                             "is not updated")
        devices = self.image.partitions[name].devices
        current = self.installed.get(name) or self._shipped(name)
        running = verify_image(manifest, current.package, devices).metadata
        new = verify_image(manifest, package, devices, name=running.name,
                           minimum_version=running.version).metadata
        if new.version == running.version:
            raise ImageRefused("rollback", f"{new.name} version {new.version} is the installed "
                               "one: an update must be newer")
        candidate = Installed(package, elf_code(f"{new.name} v{new.version}", package.elf))
        pages = self._reclaim(name)
        try:
            self._spawn(name, pages, candidate)
            failure = self._start(name, old.turns)
            if failure is not None:
                self._reclaim(name)            # all of ``pages`` are its parent's again
        except Exception as error:             # _spawn left nothing of it
            failure = f"{type(error).__name__}: {error}"
        if failure is None:
            self.installed[name] = candidate
            return Updated(new.name, running.version, new.version, None)
        try:
            self._spawn(name, pages, current)
        except BaseException as error:
            self._gone(name, error)
        again = self._start(name, old.turns)
        if again is not None:
            self.firmware[name].halt(again)
            failure += f"; the previous version did not start either: {again}"
        return Updated(new.name, running.version, running.version, failure)

    def _shipped(self, name: str) -> Installed:
        """The image a firmware partition's manifest names, as boot read, verified and
        measured it (its files are not read again)."""
        package = self.image.partitions[name].package
        return Installed(package, elf_code(package.label, package.elf))

    def _start(self, name: str, turns: int) -> str | None:
        """A firmware partition just spawned has its first turn (its turns count going on
        from ``turns``); None, or why it did not start."""
        self.firmware[name].turns = turns
        return self.firmware[name].start()

    def _reclaim(self, name: str) -> list[int]:
        """Delete the firmware partition ``name`` bottom-up (``_delete_tree``: whatever it
        made of its own goes first, so every page it had comes back to its parent), its
        deletion measured; the pages it had (its parent's VAs), its devices aside.  Its
        registration (endpoint id, channels) stays for ``_spawn``."""
        parent = self.image.partitions[self.parent_of[name]]
        child = self.topology.node(name).partition
        va_of = {m.pa: va for va, m in self.kernel.mappings(parent.partition).items()}
        devices = set(parent.devices.values())
        pages = [va_of[m.pa] for m in self.kernel.mappings(child).values()
                 if va_of[m.pa] not in devices]
        pages += [va_of[page * PAGE_SIZE] for page in self.kernel.config_pages(child)]
        if not self._delete_tree(child):
            raise RuntimeError(f"{name}: deletePartition: {self.kernel.last_error}")
        self._measure_deleted(name)
        return pages

    def _spawn(self, name: str, pages: list[int], image: Installed) -> None:
        """The parent of the firmware partition ``name`` spawns ``image`` in ``pages`` with
        its devices, measured; it gets a fresh mailbox with its endpoint id.  If that fails, what it made is deleted (its measurement too) and the
        error raised."""
        booted, parent = self.image.partitions[name], self.image.partitions[self.parent_of[name]]
        others = set(self.kernel.children(parent.partition))
        try:
            if self.measurements is not None:
                measure_partition(self.measurements, self.image.manifest, booted.spec,
                                  image.code)
            desc = spawn_firmware(self.image.machine, parent.api, PageAllocator(pages),
                                  image.package.elf, booted.plan,
                                  [parent.devices[d] for d in booted.devices])
            partition = Partition(self.kernel.mappings(parent.partition)[desc].pa // PAGE_SIZE)
            self._mailbox(name, partition, booted.plan.mailbox, again=True)
        except BaseException:
            for made in set(self.kernel.children(parent.partition)) - others:
                self._delete_tree(made)
            self._measure_deleted(name)
            raise
        booted.partition, booted.api, booted.desc = (partition, self.kernel.as_partition(partition),
                                                     desc)
        self.firmware[name] = FirmwarePartition(self.image.machine, name, parent.api, desc,
                                                partition, self.topology.mailbox(name))
        self.relay = Relay(self.topology, self.policy)

    def _gone(self, name: str, error: BaseException) -> NoReturn:
        """A firmware partition that could not be spawned again is gone: unregistered (its
        endpoint with it); RuntimeError (a Runaway, which ends the activation that asked, is
        raised as it is)."""
        self._unregister(name)               # a firmware partition: no manager retired
        self.relay = Relay(self.topology, self.policy)
        if not isinstance(error, Exception):
            raise error
        raise RuntimeError(f"{name} cannot run again ({type(error).__name__}: {error}); "
                           "its partition is deleted") from None

    def forget(self, name: str) -> list[Manager]:
        """Stop running a partition adopted earlier, before its parent deletes it: its
        children are deleted first, bottom-up (``_delete_tree``).  The managers it retired
        (their domains answer nothing more)."""
        self._measure_deleted(name)
        self._delete_children(self.topology.node(name).partition)
        retired = self._unregister(name)
        self.relay = Relay(self.topology, self.policy)
        return retired

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

    def _unregister(self, name: str) -> list[Manager]:
        """Forget ``name`` and its descendants: components, managers, endpoints, channels;
        the managers retired."""
        retired = []
        for child in [n for n, p in self.parent_of.items() if p == name]:
            retired += self._unregister(child)
        self.firmware.pop(name, None)
        self.components.pop(name, None)
        manager = self.managers.get(self.domain_of[name])
        if manager is not None and manager.name == name:
            retired.append(self.managers.pop(self.domain_of[name]))
        if name in self.topology.endpoints:
            if self.image.machine is not None:
                self.image.machine.remove_python_partition(self.topology.node(name).partition)
            self.topology.remove(name)
        self.policy.revoke(name)
        del self.parent_of[name], self.domain_of[name]
        return retired
