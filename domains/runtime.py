"""The ODSI runtime on a booted device image: mailboxes, relay, components, scheduling.

``Runtime(image)`` gives every partition a mailbox in the first two pairs of
consecutive free pages it has (each formatted as that partition), builds the relay with
the image's channels as the policy, and starts each partition's Python component with
its ``Context`` (the manifest's ``config`` for it, plus what ``derived_config`` reads
from the image); firmware partitions (on arch arm / x86) are run by their parents
(``domains.firmware``).  A round polls every running component, gives every firmware
partition a turn, then makes one relay pass.  Frames from the network go to a domain's
manager (``submit``); its answers come back from ``collect``.  Faults are contained and
reported to the parent component (``Component.on_child_fault``): a component's MemoryFault
stops its domain, a faulting or runaway firmware partition is halted.
"""
from __future__ import annotations

from ipc import Policy, Relay, Topology
from pipkernel import MemoryFault
from pipkernel.abi import PAGE_SIZE

from tokens.keys import algorithm

from .commands import STATUS, Response
from .component import Context
from .firmware import FirmwarePartition
from .lifecycle import Lifecycle


def free_pages(api, pages) -> list[int]:
    """Own pages the partition can still use: accessible, given to no child."""
    return [va for va in pages if api.translate(va, "w") is not None
            and not api.mapped_in_child(va)]


def _mailbox_pages(free: list[int]) -> tuple[int, int]:
    pairs = [va for va in free if va + PAGE_SIZE in free]
    first = pairs[0]
    second = next(va for va in pairs if va >= first + 2 * PAGE_SIZE)
    return first, second


def derived_config(image, name: str) -> dict:
    """What the image says about a partition: its parent and children, who may send it
    what (channel operations), and its domain's description for the Configuration Manager."""
    manifest, spec = image.manifest, image.partitions[name].spec
    domain = spec.domain or name
    mine = {p.name for p in manifest.partitions if (p.domain or p.name) == domain}
    return {
        "parent": spec.parent if name != "root" else None,
        "children": [c.name for c in manifest.children(name)],
        "clients": {c.from_: list(c.operations) for c in manifest.channels if c.to == name},
        "description": {
            "partitions": {p.name: {"parent": p.parent, "pages": p.pages,
                                    "runs": p.runs.target if p.runs else None}
                           for p in manifest.partitions if p.name in mine and p.name != "root"},
            "channels": [[c.from_, c.to] for c in manifest.channels
                         if c.from_ in mine or c.to in mine],
            "domains": {p.domain or p.name: {"pages": p.pages} for p in manifest.partitions
                        if p.parent in mine and (p.domain or p.name) != domain}},
    }


class Runtime(Lifecycle):
    def __init__(self, image):
        self.image, self.kernel = image, image.kernel
        self.topology = Topology(self.kernel)
        self.policy = Policy((c.from_, c.to, c.max_size) for c in image.channels)
        self.parent_of = {name: booted.spec.parent if booted.desc is not None else None
                          for name, booted in image.partitions.items()}
        self.domain_of = {name: booted.spec.domain or name
                          for name, booted in image.partitions.items()}
        free = {name: self._mailbox(name, booted.partition, booted.api, booted.pages)
                for name, booted in image.partitions.items()}
        self.relay = Relay(self.topology, self.policy)
        self.components, self.managers, self.faults = {}, {}, []
        for name, booted in image.partitions.items():
            if booted.spec.runs is not None and booted.spec.runs.kind == "python":
                self._start(name, image.component(name), booted.api, free[name],
                            dict(booted.devices),
                            {**derived_config(image, name), **(booted.spec.config or {})})
        for key in image.keys:             # provisioning: each key into its holder's vault
            self.components[key.holder].vault.generate(key.kid, algorithm(key.alg), key.use)
        self.firmware = {
            name: FirmwarePartition(image.machine, name,
                                    image.partitions[booted.spec.parent].api, booted.desc,
                                    booted.partition, self.topology.mailbox(name))
            for name, booted in image.partitions.items()
            if booted.spec.runs is not None and booted.spec.runs.kind == "firmware"}
        self.owner = self.components.get("root")

    def _mailbox(self, name: str, partition, api, pages, again: bool = False) -> list[int]:
        """Give the partition its mailbox in its first two pairs of consecutive free pages
        (formatted as that partition) and register it (again: in place of the partition
        that had its name, keeping its endpoint id); its free pages left."""
        pages = free_pages(api, pages)
        outbox, inbox = _mailbox_pages(pages)
        mine = [outbox, outbox + PAGE_SIZE, inbox, inbox + PAGE_SIZE]
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
        return [va for va in pages if va not in mine]

    def _start(self, name: str, component, api, free, devices, config):
        ctx = Context(name, self.domain_of[name], api, free, self.topology.mailbox(name),
                      devices, config, self)
        self.components[name] = started = component(ctx)
        if hasattr(started, "receive_frame"):
            self.managers[started.domain] = started
        return started

    def running(self, name: str) -> bool:
        """The owner's Configuration Manager's flag for the partition's domain."""
        return self.owner is None or self.owner.configuration.running(self.domain_of[name])

    def submit(self, domain: str, frame: bytes) -> Response | None:
        """Deliver a frame to a domain's Internal Communicator; a refusal if it cannot be."""
        manager = self.managers.get(domain)
        if manager is None:
            return Response(None, STATUS["unknown_path"], "no_such_domain", domain)
        if not self.running(manager.name):
            return Response(None, STATUS["stopped"], "stopped", f"domain {domain} is stopped")
        self.run_as(manager.name, lambda c: c.receive_frame(frame))
        return None

    def run_as(self, name: str, action):
        """Run ``action(component)`` as the partition ``name``, containing its faults."""
        try:
            return action(self.components[name])
        except MemoryFault as fault:
            if self.owner is not None:
                self.owner.configuration.stop(self.domain_of[name])
            self._report(name, f"{fault}", f"domain {self.domain_of[name]} stopped")
            return fault

    def _report(self, name: str, what: str, outcome: str) -> None:
        parent = self.parent_of[name]
        self.faults.append(f"{name}: {what}; reported to {parent}, {outcome}")
        if parent in self.components and self.running(parent):
            self.run_as(parent, lambda c: c.on_child_fault(name, what))

    def _stopped(self) -> set[str]:
        return self.owner.configuration.stopped() if self.owner is not None else set()

    def step(self) -> int:
        """One round: every running component polls, every running firmware partition has a
        turn, then one relay pass; how many messages that pass moved (delivered, forwarded or
        refused).  Components and firmware act only on what arrived, so a round whose pass
        moved nothing leaves nothing to do.  Running flags change only while a component
        handles messages or a fault is reported: they are read again only then."""
        stopped = self._stopped()
        for name in list(self.components):   # a command may create or delete a domain
            if name in self.components and self.domain_of[name] not in stopped:
                done = self.run_as(name, lambda c: c.poll())
                if not isinstance(done, int) or done:
                    stopped = self._stopped()
        for name in list(self.firmware):
            firmware = self.firmware.get(name)
            if firmware and self.domain_of[name] not in stopped and (problem := firmware.turn()):
                self._report(name, problem, "halted")
                stopped = self._stopped()
        moved = self.relay.step()
        return moved["delivered"] + moved["forwarded"] + moved["refused"]

    def run(self, max_rounds: int = 100) -> int:
        """Rounds until nothing moves; how many were run."""
        for rounds in range(1, max_rounds + 1):
            if not self.step():
                return rounds
        return max_rounds

    def collect(self) -> list[Response]:
        """Every response the domains sent to the network since the last call."""
        out = []
        for manager in self.managers.values():
            out += manager.outgoing
            manager.outgoing = []
        return out
