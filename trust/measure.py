"""Measured boot: every partition's code and configuration, measured when it is created,
into hash chains in the style of TPM PCR extends, with an event log a verifier replays.

Each event (``Event``) extends the register of its partition with its digest and the tree's
register with the digest of the whole event (kind, partition, parent, detail, digest: the
tree's shape is in it).  A "code" event starts a partition afresh (its register from zero),
"config" follows it, "delete" ends it and its descendants.  The tree register goes to the
root of trust as it grows (``RootOfTrust.extend``), which is what makes it evidence; the
per-partition registers and the shape follow from the log (``replay``).
"""
from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import cbor2

if TYPE_CHECKING:                      # rot imports this module
    from .rot import RootOfTrust


DIGEST_SIZE = 32
ZERO = bytes(DIGEST_SIZE)
CODE, CONFIG, DELETE = "code", "config", "delete"
KINDS = (CODE, CONFIG, DELETE)


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data``."""
    return hashlib.sha256(data).digest()


def extend(old: bytes, digest: bytes) -> bytes:
    """TPM 2.0 PCR extend: SHA-256(old || digest)."""
    return sha256(old + digest)


def canonical(value: Any) -> bytes:
    """Canonical CBOR (RFC 8949 §4.2.1 as cbor2 implements it): one encoding per value."""
    return cbor2.dumps(value, canonical=True)


@dataclass(frozen=True)
class Event:
    """One measurement: ``kind`` of ``partition`` (child of ``parent``, None for the root),
    ``detail`` says what was measured (readable), ``digest`` the measurement."""

    kind: str
    partition: str
    parent: str | None
    detail: str
    digest: bytes

    def to_list(self) -> list:
        """The event as it travels in an event log: [kind, partition, parent, detail, digest]."""
        return [self.kind, self.partition, self.parent, self.detail, self.digest]

    @classmethod
    def from_list(cls, item: Any) -> Event:
        """An event of a log as it travels; ValueError naming what is wrong."""
        if not (isinstance(item, list) and len(item) == 5):
            raise ValueError("an event is a list of 5 items")
        kind, partition, parent, detail, digest = item
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        if not (isinstance(partition, str) and (parent is None or isinstance(parent, str))
                and isinstance(detail, str)):
            raise ValueError("an event's partition, parent and detail are text")
        if not (isinstance(digest, bytes) and len(digest) == DIGEST_SIZE):
            raise ValueError(f"an event's digest is {DIGEST_SIZE} bytes")
        return cls(kind, partition, parent, detail, digest)

    @property
    def tree_digest(self) -> bytes:
        """What it extends the tree register with."""
        return sha256(canonical(self.to_list()))


@dataclass
class State:
    """Registers and shape: the tree register, partition -> register, partition -> parent,
    partition -> {"code" | "config": (detail, digest)} (its current incarnation)."""

    tree: bytes = ZERO
    registers: dict[str, bytes] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    measured: dict[str, dict[str, tuple[str, bytes]]] = field(default_factory=dict)

    def apply(self, event: Event, n: int) -> None:
        """One more event (the n-th); ValueError, with nothing changed, if it does not fit (a
        partition created twice, configured or deleted before it exists, a parent unknown)."""
        name = event.partition
        if event.kind == CODE:
            if name in self.registers:
                raise ValueError(f"event {n}: {name} created while it exists")
            if event.parent is not None and event.parent not in self.registers:
                raise ValueError(f"event {n}: {name}'s parent {event.parent} does not exist")
            if event.parent is None and self.registers:
                raise ValueError(f"event {n}: a second root {name}")
            self.registers[name], self.parents[name], self.measured[name] = ZERO, event.parent, {}
        elif name not in self.registers or self.parents[name] != event.parent:
            raise ValueError(f"event {n}: {event.kind} of {name}, which does not exist "
                             f"under {event.parent}")
        if event.kind == DELETE:
            for gone in _subtree(self.parents, name):
                del self.registers[gone], self.parents[gone], self.measured[gone]
        else:
            self.registers[name] = extend(self.registers[name], event.digest)
            self.measured[name][event.kind] = event.detail, event.digest
        self.tree = extend(self.tree, event.tree_digest)


def replay(events: Iterable[Event]) -> State:
    """The registers and shape an event log yields; ValueError if it is inconsistent."""
    state = State()
    for n, event in enumerate(events):
        state.apply(event, n)
    return state


def _subtree(parents: dict[str, str | None], name: str) -> list[str]:
    below = [name]
    for child in [c for c, p in parents.items() if p == name]:
        below += _subtree(parents, child)
    return below


def elf_code(name: str, data: bytes) -> tuple[str, bytes]:
    """A firmware partition's code given as its ELF's bytes, called ``name`` (a file name,
    or an updated image's "NAME vVERSION"): "firmware NAME" and SHA-256 of the bytes."""
    return f"firmware {name}", sha256(data)


def python_code(component: type) -> tuple[str, bytes]:
    """A Python partition's code: its component's qualified name and its module's source."""
    name = f"{component.__module__}:{component.__qualname__}"
    source = Path(inspect.getsourcefile(component) or "").read_bytes()
    return f"python {name}", sha256(canonical([name, sha256(source)]))


class Measurements:
    """The host's measurement log of one device: its events in order, the state they give,
    and the root of trust its tree register is extended into (None: not anchored)."""

    def __init__(self, root: RootOfTrust | None = None):
        self.root = root
        self.events: list[Event] = []
        self.state = State()

    def record(self, kind: str, partition: str, parent: str | None, detail: str,
               digest: bytes) -> None:
        """One event: checked against the state (ValueError, nothing recorded), applied,
        logged, and its tree digest extended into the root of trust."""
        event = Event(kind, partition, parent, detail, digest)
        self.state.apply(event, len(self.events))
        self.events.append(event)
        if self.root is not None:
            self.root.extend(event.tree_digest)

    def __contains__(self, partition: str) -> bool:
        """Whether ``partition`` exists as measured."""
        return partition in self.state.registers

    def register(self, partition: str) -> bytes:
        """The register of ``partition`` now (its code and configuration); KeyError if it
        does not exist as measured."""
        return self.state.registers[partition]

    def created(self, partition: str, parent: str | None, code: tuple[str, bytes],
                config: dict) -> None:
        """A partition is made: its code (detail, digest), then its configuration."""
        self.record(CODE, partition, parent, *code)
        self.record(CONFIG, partition, parent, "config", sha256(canonical(config)))

    def deleted(self, partition: str) -> None:
        """A partition, and its descendants with it, is deleted."""
        self.record(DELETE, partition, self.state.parents[partition], "deleted",
                    sha256(partition.encode()))
