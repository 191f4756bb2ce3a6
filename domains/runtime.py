"""The ODSI runtime on a booted device image: scheduling, containment, the network.

``Runtime(image)`` registers the image's partitions with its ``Lifecycle``
(``pipsim.domains.lifecycle``: mailboxes, relay, components, firmware) and schedules them.  Each
component starts with its ``Context``: its metered API, mailbox, the manifest's ``config``
for it plus what the image says (``derived_config``), and its host services
(``PartitionHost``, the runtime's ``pipsim.domains.host.HostServices`` bound to it).  A round
(``step``) polls every running component, gives every firmware partition a turn, then makes
one relay pass.  Frames from the network go to a domain's registered manager (``submit``:
``Manager.receive_frame``); its answers come back from ``collect``, one per frame.

Containment: every call into a component is one ``activation``: a fresh budget of kernel
calls, and anything it raises (a MemoryFault, any exception, a ``Runaway`` past its budget)
stops its domain; a firmware partition that faults or runs away is halted; a mailbox the
relay cannot use stops its partition's domain (halts a firmware partition).  Each is
reported to the parent component (``Component.on_child_fault``).  The endpoints of whatever
does not run are closed (the relay refuses what is sent to them), components with a channel
to one are told (``on_unreachable``), and the network commands a stopped domain had not
answered are answered for it.  The running flags are the runtime's (``HostServices.running``).
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, cast

from pipsim.ipc.policy import Policy
from pipsim.ipc.relay import ACTIVITY, Relay
from pipsim.ipc.topology import Topology
from pipsim.kernel import PartitionAPI
from pipsim.kernel.machine import trace

from pipsim.trust.attest import Attester
from pipsim.trust.image import Package

from .commands import STATUS, Refused, Response, decode, request_id
from .component import Component, Context
from .containment import CALL_BUDGET, Budget, MeteredAPI, Runaway, describe
from .firmware import FirmwarePartition
from .host import HostServices, Manager
from .lifecycle import Lifecycle, Updated
from .links import Links

if TYPE_CHECKING:
    from pipsim.partitions.boot import DeviceImage


@dataclass
class Outcome:
    """What an activation raised (and was contained), if anything."""

    failure: BaseException | None = None


class Runtime:
    """The ODSI runtime of a booted device image: it starts the image's partitions, schedules
    them (``step``, ``run``), contains their faults and carries the network's frames to the
    domains' managers (``submit``, ``collect``)."""

    def __init__(self, image: DeviceImage, budget: int = CALL_BUDGET):
        """``budget``: the kernel calls one activation of a component may make."""
        self.image, self.kernel, self.budget = image, image.kernel, budget
        self._meter = Budget()
        self._stopped: set[str] = set()          # domains whose running flag is off
        self._open: dict[str, Counter] = {}      # domain -> command id -> frames unanswered
        self._answers: list[Response] = []       # answered for a domain that stopped
        self._down: frozenset[str] = frozenset()  # stopped domains, as last seen
        self._halted: frozenset[str] = frozenset()  # halted firmware partitions, as last seen
        self._closed: set[str] = set()            # closed endpoints, as last seen
        self.faults: list[str] = []
        self.links = Links(image.manifest.links)     # the house's small devices (§VII)
        self.lifecycle = Lifecycle(image, self._launch)
        self.lifecycle.start_image()
        self._sync()
        measured = image.measurements
        self.attester = (Attester(image.manifest.name, measured)
                         if measured is not None and measured.root is not None else None)

    def attest(self, nonce: bytes) -> bytes:
        """Evidence for a verifier's nonce (pipsim.trust.attest; docs/attestation.md)."""
        if self.attester is None:
            raise ValueError(f"{self.image.manifest.name} was not booted measured into a root "
                             "of trust")
        return self.attester.attest(nonce)

    # ---- what the lifecycle registered, read here ----
    @property
    def components(self) -> dict[str, Component]:
        """The running Python components, by partition name."""
        return self.lifecycle.components

    @property
    def managers(self) -> dict[str, Manager]:
        """Each domain's registered manager, by domain."""
        return self.lifecycle.managers

    @property
    def firmware(self) -> dict[str, FirmwarePartition]:
        """The firmware partitions, by name."""
        return self.lifecycle.firmware

    @property
    def topology(self) -> Topology:
        """The image's IPC endpoints."""
        return self.lifecycle.topology

    @property
    def policy(self) -> Policy:
        """The image's channel policy."""
        return self.lifecycle.policy

    @property
    def relay(self) -> Relay:
        """The relay that moves the image's messages."""
        relay = self.lifecycle.relay
        assert relay is not None                 # made when the image started
        return relay

    def _launch(self, name: str, component: type, api: PartitionAPI, free: list[int],
                devices: dict[str, int], config: dict, keys: tuple) -> Component:
        """Start ``component`` as the partition ``name`` (the lifecycle's ``launch``)."""
        api = cast(PartitionAPI, MeteredAPI(api, self._meter))     # it stands for the API
        return component(Context(name, self.lifecycle.domain_of[name], api, free,
                                 self.topology.mailbox(name, api), PartitionHost(self, name),
                                 devices, config, keys))

    # ---- the network ----
    def submit(self, domain: str, frame: bytes) -> Response | None:
        """Deliver a frame to a domain's manager (``Manager.receive_frame``, one
        activation); a refusal (naming the frame's command id, if it has one) if it cannot
        be.  Otherwise ``collect`` gives its answer, once, whatever happens to the domain."""
        rid, manager = request_id(frame), self.managers.get(domain)
        if trace.listening():
            self._trace_command(domain, rid, frame)
        if manager is None:
            return self._traced(Response(rid, STATUS["unknown_path"], "no_such_domain", domain))
        if not self.running(manager.name):
            return self._traced(Response(rid, STATUS["stopped"], "stopped",
                                         f"domain {domain} is stopped"))
        self._open.setdefault(domain, Counter())[rid] += 1
        with self.activation(manager.name):
            manager.receive_frame(frame)
        return None

    def collect(self) -> list[Response]:
        """The answers to the frames submitted since the last call, each once: the domains'
        own, and those given for a domain that stopped (a later answer of its own to the
        same frame is dropped)."""
        out, self._answers = self._answers, []
        for manager in list(self.managers.values()):
            out += self._settle(manager)
        return [self._traced(response) for response in out]

    # ---- the trace (pipsim run --trace FILE: docs/debugging.md) ----
    def _trace_command(self, domain: str, rid: Any, frame: bytes) -> None:
        try:
            command = decode(frame)
            what = {"code": command.code, "path": command.resource, "device": command.device}
        except Refused as refused:
            what = {"malformed": refused.reason}
        self._emit("command", domain=domain, id=rid, **what)

    def _traced(self, response: Response) -> Response:
        """A command's answer, in the trace."""
        self._emit("answer", id=response.id, status=response.status, reason=response.reason)
        return response

    def _emit(self, event: str, **fields: Any) -> None:
        """An event at this image's machine's clock, named by the image (a session may run
        several devices, each with its clock)."""
        trace.emit(self.image.machine, event, image=self.image.manifest.name, **fields)

    def enrol(self, holder: str, kid: str) -> bytes:
        """Provisioning: the issuing copy of the key ``kid`` that ``holder`` (its domain's
        manager, or the application behind a small device's network port) generated at
        boot, for its off-device server (its ``export_key``); ValueError unless the image
        has ``holder`` generate ``kid``."""
        if not any(k.kid == kid and k.holder == holder and k.generate for k in self.image.keys):
            raise ValueError(f"the image has {holder} generate no key {kid!r}")
        export = getattr(self.components.get(holder), "export_key", None)
        if export is None:
            raise ValueError(f"{holder} holds no key vault")
        return export(kid)

    def _settle(self, manager: Manager) -> list[Response]:
        """Take the manager's answers that answer a frame still open."""
        opened, settled = self._open.get(manager.domain, Counter()), []
        for answer in manager.take_answers():
            if opened[answer.id] > 0:
                opened[answer.id] -= 1
                settled.append(answer)
        return settled

    def _close_exchanges(self, manager: Manager, why: str) -> None:
        """The manager's domain answers nothing more: what it answered is taken, the rest is
        answered for it (status 503)."""
        self._answers += self._settle(manager)
        for rid, count in self._open.pop(manager.domain, Counter()).items():
            self._answers += [Response(rid, STATUS["stopped"], "stopped", why)] * count

    # ---- containment ----
    @contextmanager
    def activation(self, name: str) -> Iterator[Outcome]:
        """One activation of the component ``name`` (the body calls it): a fresh budget of
        kernel calls; whatever the body raises but a KeyboardInterrupt or SystemExit is
        contained (``_fault``) and kept in the ``Outcome`` it yields, not raised."""
        outcome = Outcome()
        saved = self._meter.arm(self.budget)
        try:
            yield outcome
        except (Exception, Runaway) as error:
            outcome.failure = error
        finally:
            self._meter.restore(saved)
        if outcome.failure is not None:
            self._fault(name, describe(outcome.failure))

    def run_as(self, name: str, action: Callable[[Component], Any]) -> Any:
        """``action(component)`` as one activation of the partition ``name``'s component:
        what it returns, or what it raised (contained)."""
        component = self.components[name]
        with self.activation(name) as outcome:
            return action(component)
        return outcome.failure

    def running(self, name: str) -> bool:
        """Whether the partition's domain is scheduled (its running flag)."""
        return self.lifecycle.domain_of[name] not in self._stopped

    def stopped(self) -> set[str]:
        """The domains whose running flag is off."""
        return set(self._stopped)

    # ---- what HostServices asks, once PartitionHost has checked the caller ----
    def set_running(self, domain: str, running: bool) -> None:
        """A domain's running flag; its endpoints follow at the next ``_sync``."""
        (self._stopped.discard if running else self._stopped.add)(domain)

    def adopt(self, name: str, *args: Any) -> None:
        """``Lifecycle.adopt``; the new domain starts stopped (its creator starts it)."""
        self._stopped.add(name)
        try:
            self.lifecycle.adopt(name, *args)
        except BaseException:
            self._stopped.discard(name)
            raise

    def update(self, name: str, package: Package) -> Updated:
        """``Lifecycle.update``; once the partition is replaced, its parent's requests in
        flight to the one it replaced fail (``on_unreachable``), and the endpoints follow
        (one that did not start again is halted)."""
        updated = self.lifecycle.update(name, package)
        parent = self.lifecycle.parent_of[name]
        if parent in self.components and self.running(parent):
            with self.activation(parent):
                self.components[parent].on_unreachable(name)
        self._sync()
        return updated

    def forget(self, name: str) -> None:
        """``Lifecycle.forget``; the open commands of the managers it retired are answered."""
        for manager in self.lifecycle.forget(name):
            self._close_exchanges(manager, f"domain {manager.domain} is deleted")
        self._stopped.discard(name)

    def _fault(self, name: str, what: str) -> None:
        """Contain a fault of a partition: a firmware partition is halted, any other stops
        its domain; it is reported to its parent, and the endpoints follow (``_sync``)."""
        firmware = self.firmware.get(name)
        if firmware is not None:
            firmware.halt(what)
            outcome = "halted"
        else:
            self._stopped.add(self.lifecycle.domain_of[name])
            outcome = f"domain {self.lifecycle.domain_of[name]} stopped"
        self._report(name, what, outcome)
        self._sync()

    def _report(self, name: str, what: str, outcome: str) -> None:
        parent = self.lifecycle.parent_of[name]
        self.faults.append(f"{name}: {what}; reported to {parent}, {outcome}")
        if parent in self.components and self.running(parent):
            with self.activation(parent):
                self.components[parent].on_child_fault(name, what)

    def _sync(self) -> None:
        """Close the endpoints that take nothing now (a stopped domain's partitions, a halted
        firmware partition; a broken mailbox stays closed) and reopen the others.  For each
        domain that stopped, its open commands are answered; components with a channel to an
        endpoint that closed are told (``on_unreachable``); each component of a domain that
        runs again is told (``on_start``).  Nothing to do unless a domain stopped or started
        or a firmware partition halted or restarted since the last time."""
        domain_of = self.lifecycle.domain_of
        stopped = frozenset(self._stopped)
        halted = frozenset(name for name, f in self.firmware.items() if f.halted)
        if (stopped, halted) == (self._down, self._halted):
            return
        stopping, starting, self._down = stopped - self._down, self._down - stopped, stopped
        self._halted = halted
        for name, domain in domain_of.items():
            firmware = self.firmware.get(name)
            why = (f"domain {domain} is stopped" if domain in stopped
                   else firmware.halted if firmware is not None else None)
            if why:
                self.topology.close(name, why)
            else:
                self.topology.reopen(name)
        closed = [name for name in domain_of if self.topology.node(name).closed]
        closing, self._closed = [n for n in closed if n not in self._closed], set(closed)
        for domain in sorted(stopping & set(self.managers)):
            self._close_exchanges(self.managers[domain], f"domain {domain} is stopped")
        for name in closing:
            for peer in [p for p in self.components if (p, name) in self.policy]:
                if peer in self.components and domain_of[peer] not in self._down:
                    with self.activation(peer):
                        self.components[peer].on_unreachable(name)
        for name in [n for n in self.components if domain_of[n] in starting]:
            if name in self.components and domain_of[name] not in self._down:
                with self.activation(name):
                    self.components[name].on_start()

    # ---- scheduling ----
    def step(self) -> int:
        """One round: every running component polls, every running firmware partition has a
        turn, then one relay pass; how much that pass did (messages delivered, forwarded,
        refused or dropped, mailboxes found broken).  Components and firmware act only on
        what arrived, so a round whose pass did nothing leaves nothing to do.  Running flags
        change only while a component handles messages or a fault is contained: the
        endpoints follow them then (``_sync``)."""
        self._sync()
        domain_of = self.lifecycle.domain_of
        for name in list(self.components):   # a command may create or delete a domain
            if name in self.components and domain_of[name] not in self._down:
                handled = None
                with self.activation(name):
                    handled = self.components[name].poll()
                if handled != 0:             # it raised, or handled something
                    self._sync()
        for name in list(self.firmware):
            firmware = self.firmware.get(name)
            if firmware and domain_of[name] not in self._down:
                problem = firmware.turn()
                self._emit("driver_turn", partition=name, problem=problem or None)
                if problem:
                    self._fault(name, problem)
        moved = self.relay.step()
        if any(moved[what] for what in ACTIVITY):
            self._emit("relay", **{what: moved[what] for what in ACTIVITY})
        for name, why in self.relay.take_faults():
            self._fault(name, f"its mailbox is out of reach: {why}")
        return sum(moved[what] for what in ACTIVITY) + self._device_answers()

    def _device_answers(self) -> int:
        """Forward the queued frames of the components that still run to the small devices;
        each answer to its asker (if it still runs).  How many answers."""
        def runs(name: str) -> bool:
            return name in self.components and self.running(name)
        answers = self.links.deliver(runs)
        for caller, device, response in answers:
            if runs(caller):
                with self.activation(caller):
                    self.components[caller].on_device_answer(device, response)
        return len(answers)

    def run(self, max_rounds: int = 100) -> int:
        """Rounds until nothing moves; how many were run."""
        for rounds in range(1, max_rounds + 1):
            if not self.step():
                return rounds
        return max_rounds


class PartitionHost(HostServices):
    """The runtime's ``HostServices`` for one component (the caller), checked against the
    caller's place in the tree."""

    def __init__(self, runtime: Runtime, caller: str):
        self._runtime, self._caller = runtime, caller

    def register_manager(self, manager: Manager) -> None:
        self._runtime.lifecycle.register_manager(self._caller, manager)

    def adopt(self, name: str, parent_api: PartitionAPI, desc: int, pages: list[int],
              component: type, config: dict, app: tuple[str, str] | None = None,
              keys: tuple = ()) -> None:
        if parent_api.partition != self._runtime.topology.node(self._caller).partition:
            raise PermissionError(f"{self._caller} may adopt only children of its own")
        self._runtime.adopt(name, parent_api, desc, pages, component, config, app, keys)

    def check_image(self, image: str) -> None:
        self._runtime.lifecycle.check_image(image)

    def seal(self, data: bytes) -> bytes | None:
        return self._runtime.lifecycle.seal(self._caller, data)

    def unseal(self, blob: bytes) -> bytes:
        return self._runtime.lifecycle.unseal(self._caller, blob)

    def attest(self, nonce: bytes) -> bytes:
        if self._runtime.lifecycle.parent_of[self._caller] is not None:
            raise PermissionError(f"{self._caller} is not the root partition: only the "
                                  "device's owner answers for the device")
        return self._runtime.attest(nonce)

    def forget(self, name: str) -> None:
        if self._runtime.lifecycle.parent_of.get(name) != self._caller:
            raise PermissionError(f"{name} is not a child of {self._caller}")
        self._runtime.forget(name)

    def restart(self, name: str) -> None:
        domain_of = self._runtime.lifecycle.domain_of
        if name in domain_of and domain_of[name] != domain_of[self._caller]:
            raise PermissionError(f"{name} is not a partition of {self._caller}'s domain")
        self._runtime.lifecycle.restart(name)

    def update(self, name: str, elf: bytes, signature: bytes) -> Updated:
        domain_of = self._runtime.lifecycle.domain_of
        if domain_of.get(name, domain_of[self._caller]) != domain_of[self._caller]:
            raise PermissionError(f"{name} is not a partition of {self._caller}'s domain")
        return self._runtime.update(name, Package(f"the package for {name}", bytes(elf),
                                                         bytes(signature)))

    def running(self, domain: str) -> bool:
        return domain not in self._runtime.stopped()

    def forward(self, device: str, frame: bytes) -> None:
        self._runtime.links.send(self._runtime.lifecycle.domain_of[self._caller], self._caller,
                                 device, frame)

    def set_running(self, domain: str, running: bool) -> None:
        lifecycle, mine = self._runtime.lifecycle, self._runtime.lifecycle.domain_of[self._caller]
        if domain == mine or not any(
                d == domain and lifecycle.domain_of.get(lifecycle.parent_of[p]) == mine
                for p, d in lifecycle.domain_of.items()):
            raise PermissionError(f"{self._caller} does not manage domain {domain}")
        self._runtime.set_running(domain, running)
