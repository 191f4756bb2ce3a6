"""What the host (the runtime) and the components ask of each other: two small protocols.

A component acts as its partition: its ``PartitionAPI`` and its ``Mailbox`` are all it
needs for its own work.  A few things only the host can do — run a partition made after
boot, stop running one, start a halted firmware partition afresh, update a firmware
partition's image, keep a domain's running flag — it asks of ``HostServices``, which the runtime implements and injects into each
component's ``Context`` as ``host``, bound to that component: the host checks each call
against the caller's place in the tree (``PermissionError`` otherwise).  Components never
import the runtime.

The other way, the host calls a component only through its public methods: the hooks of
``Component`` (``poll``, ``on_child_fault``, ``on_unreachable``, ``on_start``,
``on_device_answer``) and, for the
component that registers as its domain's manager (``HostServices.register_manager``, in its
``__init__``), the ``Manager`` methods.  docs/domains.md, "Host services".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .commands import Response
    from .lifecycle import Updated


@runtime_checkable
class Manager(Protocol):
    """A domain's manager: the component the network's frames for its domain go to."""

    name: str
    domain: str

    def receive_frame(self, frame: bytes) -> None:
        """Handle a frame from the network; its answer goes to ``take_answers`` (now or
        later)."""

    def take_answers(self) -> list[Response]:
        """The answers given since the last call, in order; taken."""

    def paths(self) -> set[tuple[int, ...]]:
        """The LwM2M paths its domain serves (what the device registers)."""

    def export_key(self, kid: str) -> bytes:
        """The COSE_Key (secret included) of a key this domain's vault generated at
        provisioning: its server's issuing copy, for enrolment."""


class HostServices(Protocol):
    """What only the host can do for a component (the caller).  Each call is checked
    against the caller's place in the tree: ``PermissionError`` if it is not the caller's
    to ask."""

    def register_manager(self, manager: Manager) -> None:
        """The caller is its domain's manager (the domain's frames go to it).  TypeError if
        it lacks a ``Manager`` method, ValueError if its domain has a manager already."""

    def adopt(self, name: str, parent_api, desc: int, pages: list[int], component: type,
              config: dict, app: tuple[str, str] | None = None, keys=()) -> None:
        """Run ``component`` (a ``Component`` class) as the new child ``desc`` of the caller's
        partition (``parent_api`` is the caller's own), in its pages ``pages``, as the
        domain ``name``, stopped until ``set_running``.  ``app`` = (name, firmware image):
        it first spawns that image as its child, which it serves over a channel both ways;
        ``keys`` go to its ``Context``.  Atomic: whatever it raises, nothing stays
        registered."""

    def check_image(self, image: str) -> None:
        """A firmware image (as the owner's ``codes`` name it) checks against the image's
        trust policy (docs/trust.md); ``trust.ImageRefused`` (or ``trust.PolicyError``)
        says why not.  Reads only."""

    def seal(self, data: bytes) -> bytes | None:
        """``data`` sealed to this device and the caller's measurements (its partition's
        code and configuration as measured when it was made: docs/trust.md, "The sealed key
        vault"); None if the image was not booted measured: nothing to bind it to."""

    def unseal(self, blob: bytes) -> bytes:
        """What ``seal`` bound for the caller; ``trust.SealError`` unless its measurements,
        and the device, are the same as then."""

    def attest(self, nonce: bytes) -> bytes:
        """The device's evidence for a verifier's nonce (``pipsim.trust.attest``); only the root
        partition's component may ask.  ``trust.AttestationError`` for a nonce refused
        (reused, not 16 to 64 bytes), ValueError if the image was not booted measured into
        a root of trust."""

    def forget(self, name: str) -> None:
        """Stop running the caller's child ``name`` (adopted earlier) before the caller
        deletes it: its own children are deleted first, bottom-up; its manager's open
        commands are answered for it."""

    def restart(self, name: str) -> None:
        """Start a halted firmware partition of the caller's domain afresh (its parent
        spawns its image again in its pages).  ValueError if it is not a halted firmware
        partition; RuntimeError if its image cannot run again (it is deleted then)."""

    def update(self, name: str, elf: bytes, signature: bytes) -> Updated:
        """Replace the firmware partition ``name`` of the caller's domain with a newer signed
        version of its image, the ELF ``elf`` with its signature file ``signature`` (Fig. 9;
        docs/trust.md "Updating a driver"): verified against the image's trust policy, these
        very bytes are spawned in its place (its pages, devices and endpoint id); if they do
        not start, the previous version is spawned again.  A ``pipsim.domains.lifecycle.Updated``.
        ``trust.ImageRefused`` if the package does not check (nothing changed); ValueError if
        ``name`` cannot be updated; RuntimeError if not even the previous version could be
        spawned again (the partition is gone)."""

    def running(self, domain: str) -> bool:
        """Whether ``domain`` is scheduled (its running flag)."""

    def forward(self, device: str, frame: bytes) -> None:
        """Send a command frame to the small device ``device`` the image links to the
        caller's domain (``[[link]]``, domains/links.py); its answers come back to the
        caller's ``on_device_answer`` in a later round."""

    def set_running(self, domain: str, running: bool) -> None:
        """Start or stop a domain the caller's domain manages (one whose top partition is a
        child of a partition of the caller's domain); its endpoints follow once the caller's
        activation has returned."""
