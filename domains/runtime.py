"""The ODSI runtime on a booted device image: mailboxes, relay, components, scheduling.

``Runtime(image)`` gives every partition a mailbox in the first two pairs of
consecutive free pages it has (each formatted as that partition), builds the relay with
the image's channels as the policy, and starts each partition's Python component with
its ``Context`` (the manifest's ``config`` for it, plus what ``derived_config`` reads
from the image); firmware partitions (on arch arm / x86) are run by their parents
(``domains.firmware``).  A round polls every running component, gives every firmware
partition a turn, then makes one relay pass.  Frames from the network go to a domain's
manager (``submit``); its answers come back from ``collect``, one per frame.

Containment: anything a component's activation raises (a MemoryFault, any exception, a
``Runaway`` past its budget of kernel calls) stops its domain; a firmware partition that
faults or runs away is halted; a mailbox the relay cannot use stops its partition's domain
(halts a firmware partition).  Each is reported to the parent component
(``Component.on_child_fault``).  The endpoints of whatever does not run are closed (the
relay refuses what is sent to them), components with a channel to one are told
(``on_unreachable``), and the network commands a stopped domain had not answered are
answered for it.
"""
from __future__ import annotations

from collections import Counter

from ipc import Policy, Relay, Topology
from ipc.relay import ACTIVITY
from pipkernel.abi import PAGE_SIZE

from tokens.keys import algorithm

from .commands import STATUS, Response, request_id
from .component import Context
from .containment import CALL_BUDGET, Budget, MeteredAPI, Runaway, describe
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
    def __init__(self, image, budget: int = CALL_BUDGET):
        """``budget``: the kernel calls one activation of a component may make."""
        self.image, self.kernel, self.budget = image, image.kernel, budget
        self._meter = Budget()
        self._open: dict[str, Counter] = {}      # domain -> command id -> frames unanswered
        self._answers: list[Response] = []       # answered for a domain that stopped
        self._down: frozenset[str] = frozenset()  # stopped domains, as last seen
        self._halted: frozenset[str] = frozenset()  # halted firmware partitions, as last seen
        self._closed: set[str] = set()            # closed endpoints, as last seen
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
        self._sync()

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
        api = MeteredAPI(api, self._meter)
        ctx = Context(name, self.domain_of[name], api, free, self.topology.mailbox(name, api),
                      devices, config, self)
        self.components[name] = started = component(ctx)
        if hasattr(started, "receive_frame"):
            self.managers[started.domain] = started
        return started

    def running(self, name: str) -> bool:
        """The owner's Configuration Manager's flag for the partition's domain."""
        return self.owner is None or self.owner.configuration.running(self.domain_of[name])

    def submit(self, domain: str, frame: bytes) -> Response | None:
        """Deliver a frame to a domain's Internal Communicator; a refusal (naming the frame's
        command id, if it has one) if it cannot be.  Otherwise ``collect`` gives its answer,
        once, whatever happens to the domain."""
        rid, manager = request_id(frame), self.managers.get(domain)
        if manager is None:
            return Response(rid, STATUS["unknown_path"], "no_such_domain", domain)
        if not self.running(manager.name):
            return Response(rid, STATUS["stopped"], "stopped", f"domain {domain} is stopped")
        self._open.setdefault(domain, Counter())[rid] += 1
        self.run_as(manager.name, lambda c: c.receive_frame(frame))
        return None

    def collect(self) -> list[Response]:
        """The answers to the frames submitted since the last call, each once: the domains'
        own, and those given for a domain that stopped (a later answer of its own to the
        same frame is dropped)."""
        out, self._answers = self._answers, []
        for domain in list(self.managers):
            out += self._settle(domain)
        return out

    def _settle(self, domain: str) -> list[Response]:
        """Take the manager's answers that answer a frame still open."""
        manager, opened = self.managers[domain], self._open.get(domain, Counter())
        answers, manager.outgoing = manager.outgoing, []
        settled = []
        for answer in answers:
            if opened[answer.id] > 0:
                opened[answer.id] -= 1
                settled.append(answer)
        return settled

    def _close_exchanges(self, domain: str, why: str) -> None:
        """The domain answers nothing more: what it answered is taken, the rest is answered
        for it (status 503)."""
        self._answers += self._settle(domain)
        for rid, count in self._open.pop(domain, Counter()).items():
            self._answers += [Response(rid, STATUS["stopped"], "stopped", why)] * count

    def run_as(self, name: str, action):
        """Run ``action(component)`` as the partition ``name``, with a fresh budget of kernel
        calls; what it returns, or what it raised, contained (``_fault``)."""
        component = self.components[name]
        saved = self._meter.arm(self.budget)
        try:
            return action(component)
        except (Exception, Runaway) as error:
            failure = error
        finally:
            self._meter.restore(saved)
        self._fault(name, describe(failure))
        return failure

    def _fault(self, name: str, what: str) -> None:
        """Contain a fault of a partition: a firmware partition is halted, any other stops
        its domain; it is reported to its parent, and the endpoints follow (``_sync``)."""
        firmware = self.firmware.get(name)
        if firmware is not None:
            firmware.halt(what)
            outcome = "halted"
        else:
            if self.owner is not None:
                self.owner.configuration.stop(self.domain_of[name])
            outcome = f"domain {self.domain_of[name]} stopped"
        self._report(name, what, outcome)
        self._sync()

    def _report(self, name: str, what: str, outcome: str) -> None:
        parent = self.parent_of[name]
        self.faults.append(f"{name}: {what}; reported to {parent}, {outcome}")
        if parent in self.components and self.running(parent):
            self.run_as(parent, lambda c: c.on_child_fault(name, what))

    def _stopped(self) -> set[str]:
        return self.owner.configuration.stopped() if self.owner is not None else set()

    def _sync(self) -> None:
        """Close the endpoints that take nothing now (a stopped domain's partitions, a halted
        firmware partition; a broken mailbox stays closed) and reopen the others.  For each
        domain that stopped, its open commands are answered; components with a channel to an
        endpoint that closed are told (``on_unreachable``); each component of a domain that
        runs again is told (``on_start``).  Nothing to do unless a domain stopped or started
        or a firmware partition halted or restarted since the last time."""
        stopped = frozenset(self._stopped())
        halted = frozenset(name for name, f in self.firmware.items() if f.halted)
        if (stopped, halted) == (self._down, self._halted):
            return
        stopping, starting, self._down = stopped - self._down, self._down - stopped, stopped
        self._halted = halted
        for name, domain in self.domain_of.items():
            firmware = self.firmware.get(name)
            why = (f"domain {domain} is stopped" if domain in stopped
                   else firmware.halted if firmware is not None else None)
            if why:
                self.topology.close(name, why)
            else:
                self.topology.reopen(name)
        closed = [name for name in self.domain_of if self.topology.node(name).closed]
        closing, self._closed = [n for n in closed if n not in self._closed], set(closed)
        for domain in sorted(stopping & set(self.managers)):
            self._close_exchanges(domain, f"domain {domain} is stopped")
        for name in closing:
            for peer in [p for p in self.components if (p, name) in self.policy]:
                if peer in self.components and self.domain_of[peer] not in self._down:
                    self.run_as(peer, lambda c: c.on_unreachable(name))
        for name in [n for n in self.components if self.domain_of[n] in starting]:
            if name in self.components and self.domain_of[name] not in self._down:
                self.run_as(name, lambda c: c.on_start())

    def step(self) -> int:
        """One round: every running component polls, every running firmware partition has a
        turn, then one relay pass; how much that pass did (messages delivered, forwarded,
        refused or dropped, mailboxes found broken).  Components and firmware act only on
        what arrived, so a round whose pass did nothing leaves nothing to do.  Running flags
        change only while a component handles messages or a fault is contained: the
        endpoints follow them then (``_sync``)."""
        self._sync()
        for name in list(self.components):   # a command may create or delete a domain
            if name in self.components and self.domain_of[name] not in self._down:
                done = self.run_as(name, lambda c: c.poll())
                if not isinstance(done, int) or done:
                    self._sync()
        for name in list(self.firmware):
            firmware = self.firmware.get(name)
            if firmware and self.domain_of[name] not in self._down and (problem := firmware.turn()):
                self._fault(name, problem)
        relay = self.relay
        moved = relay.step()
        while relay.faults:
            name, why = relay.faults.pop(0)
            self._fault(name, f"its mailbox is out of reach: {why}")
        return sum(moved[what] for what in ACTIVITY)

    def run(self, max_rounds: int = 100) -> int:
        """Rounds until nothing moves; how many were run."""
        for rounds in range(1, max_rounds + 1):
            if not self.step():
                return rounds
        return max_rounds
