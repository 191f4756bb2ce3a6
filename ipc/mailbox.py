"""Mailbox pages: the byte layout (docs/ipc.md) and a partition's own send/receive.

A mailbox is four 4 KiB pages owned by one partition:

    outbox region (outbox_va): page 0 control (header, status ring, sequence table),
                               page 1 outbox slots
    inbox region  (inbox_va):  pages 0-1 inbox slots

Every access goes through a PartitionAPI (``api.read`` / ``api.write``), so the MMU's
rules apply: a partition sees its own mailbox through its own VAs, its parent sees it
through the VAs of the pages it gave (vertical sharing), nobody else sees it at all.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Mapping, NamedTuple

import cbor2

from pipkernel.abi import PAGE_SIZE

MAGIC = 0x4D504950           # b"PIPM" little-endian
VERSION = 1
MAILBOX_PAGES = 4
HEADER_SIZE = 32
SLOT_SIZE = 512
MAX_PAYLOAD = SLOT_SIZE - HEADER_SIZE
MAX_ENDPOINT = 511           # endpoint ids are 1..511 (0 = none)
SEQ_TABLE = 0x800            # control page: u32 last sequence number used, per destination id

_HEADER = struct.Struct("<BBHHHIHBBB15x")
_CONTROL = struct.Struct("<IHH")


class State(IntEnum):
    """Slot state byte."""

    FREE = 0
    READY = 1      # visible: to the relay (outbox, transit) or to the owner (its messages)
    CLAIMED = 2    # being written by a relay; invisible until the relay commits (docs/ipc.md)


_FREE = int(State.FREE)
_FREE_BYTE = bytes((_FREE,))


class Reason(IntEnum):
    """Why a message was refused; a refusal slot's ``kind`` byte (0 = a message)."""

    UNAUTHORISED = 1
    OVERSIZED = 2
    UNDELIVERABLE = 3
    INBOX_FULL = 4
    MALFORMED = 5


class RingKind(IntEnum):
    OUTBOX = 0
    INBOX = 1
    STATUS = 2


class RingSpec(NamedTuple):
    kind: RingKind
    offset: int     # from the start of the mailbox (page 0 = control page)
    slot_size: int
    count: int


RINGS = {
    RingKind.STATUS: RingSpec(RingKind.STATUS, 0x400, HEADER_SIZE, 32),
    RingKind.OUTBOX: RingSpec(RingKind.OUTBOX, 0x1000, SLOT_SIZE, 8),
    RingKind.INBOX: RingSpec(RingKind.INBOX, 0x2000, SLOT_SIZE, 16),
}


class IpcError(Exception):
    """An IPC operation the caller asked for cannot be done (bad endpoint, payload...)."""


class OutboxFull(IpcError):
    """Every outbox slot holds a message the relay has not taken yet: send again later."""


@dataclass(frozen=True)
class Header:
    """A slot header (32 bytes, docs/ipc.md §2)."""

    state: int
    kind: int            # 0 = message, else a Reason: a refusal of message (src, dst, seq)
    length: int          # payload bytes (a refusal: the refused message's length)
    src: int
    dst: int
    seq: int
    origin_owner: int = 0   # CLAIMED slots: the slot the relay is copying from
    origin_ring: int = 0
    origin_slot: int = 0
    tries: int = 0          # relay attempts that found the next ring full

    @classmethod
    def unpack(cls, raw: bytes) -> "Header":
        return cls(*_HEADER.unpack_from(raw))

    def pack(self) -> bytes:
        return _HEADER.pack(self.state, self.kind, self.length, self.src, self.dst, self.seq,
                            self.origin_owner, self.origin_ring, self.origin_slot, self.tries)

    @property
    def identity(self) -> tuple[int, int, int]:
        return self.src, self.dst, self.seq


class MailboxView:
    """Byte access to one mailbox through one partition's VAs of its four pages."""

    __slots__ = ("api", "pages")

    def __init__(self, api, pages):
        if len(pages) != MAILBOX_PAGES:
            raise ValueError(f"a mailbox has {MAILBOX_PAGES} pages, got {len(pages)}")
        self.api, self.pages = api, tuple(pages)

    @classmethod
    def own(cls, api, outbox_va: int, inbox_va: int) -> "MailboxView":
        """The owner's view: two consecutive pages at each of outbox_va and inbox_va."""
        return cls(api, (outbox_va, outbox_va + PAGE_SIZE, inbox_va, inbox_va + PAGE_SIZE))

    def read(self, offset: int, n: int) -> bytes:
        """Read n bytes at a mailbox offset; the range stays within one page."""
        return self.api.read(self.pages[offset // PAGE_SIZE] + offset % PAGE_SIZE, n)

    def write(self, offset: int, data: bytes) -> None:
        self.api.write(self.pages[offset // PAGE_SIZE] + offset % PAGE_SIZE, data)

    def format(self, endpoint: int) -> None:
        """Zero the mailbox and write its control header (done once, by its owner)."""
        for page in self.pages:
            self.api.write(page, bytes(PAGE_SIZE))
        self.write(0, _CONTROL.pack(MAGIC, VERSION, endpoint))

    def endpoint(self) -> int:
        """The owner's endpoint id from the control header; IpcError if not a mailbox."""
        magic, version, endpoint = _CONTROL.unpack(self.read(0, _CONTROL.size))
        if magic != MAGIC or version != VERSION:
            raise IpcError(f"no version-{VERSION} mailbox at {self.pages[0]:#x} "
                           f"(magic {magic:#x}, version {version})")
        return endpoint

    def ring(self, kind: RingKind) -> "Ring":
        return Ring(self, RINGS[kind])


class Ring:
    """A slot array of one mailbox (outbox, inbox or status ring)."""

    __slots__ = ("view", "spec")

    def __init__(self, view: MailboxView, spec: RingSpec):
        self.view, self.spec = view, spec

    def _at(self, slot: int) -> int:
        return self.spec.offset + slot * self.spec.slot_size

    def _raw(self) -> bytes:
        """The whole ring, from one read per page."""
        size, count = self.spec.slot_size, self.spec.count
        per_page = PAGE_SIZE // size
        return b"".join(self.view.read(self._at(i), min(per_page, count - i) * size)
                        for i in range(0, count, per_page))

    def live(self) -> list[tuple[int, Header, bytes]]:
        """(slot, header, payload area) of every slot that is not FREE."""
        raw, size = self._raw(), self.spec.slot_size
        states = raw[::size]                         # each slot's first byte: its state
        if not states.strip(_FREE_BYTE):
            return []
        return [(i, Header.unpack(raw[i * size:]), raw[i * size + HEADER_SIZE:(i + 1) * size])
                for i, state in enumerate(states) if state != _FREE]

    def header(self, slot: int) -> Header:
        return Header.unpack(self.view.read(self._at(slot), HEADER_SIZE))

    def free_slot(self) -> int | None:
        raw, size = self._raw(), self.spec.slot_size
        return next((i for i in range(self.spec.count) if raw[i * size] == State.FREE), None)

    def put(self, slot: int, header: Header, payload: bytes = b"") -> None:
        """Write the payload, then the header (its state byte makes the slot live)."""
        if payload:
            self.view.write(self._at(slot) + HEADER_SIZE, payload)
        self.view.write(self._at(slot), header.pack())

    def set_state(self, slot: int, state: State) -> None:
        self.view.write(self._at(slot), bytes((state,)))

    def set_tries(self, slot: int, tries: int) -> None:
        self.view.write(self._at(slot) + 16, bytes((min(tries, 255),)))


@dataclass(frozen=True)
class Message:
    """A message delivered to this partition."""

    src: int
    seq: int
    payload: Any
    src_name: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A message of this partition that the relay refused, and why."""

    reason: Reason
    dst: int
    seq: int
    length: int
    dst_name: str | None = None


def encode(payload_obj: Any) -> bytes:
    """CBOR-encode a payload; IpcError if it cannot be encoded or does not fit a slot."""
    try:
        data = cbor2.dumps(payload_obj)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise IpcError(f"payload is not CBOR-encodable: {exc}") from None
    if len(data) > MAX_PAYLOAD:
        raise IpcError(f"payload is {len(data)} bytes of CBOR, a slot holds {MAX_PAYLOAD}")
    return data


class Mailbox:
    """A partition's own mailbox, used as that partition: ``send``, ``receive``, ``refusals``.

    ``endpoints`` (name -> id, e.g. from a Topology) lets ``send`` take names and the
    results carry names; the mailbox state itself lives only in the partition's pages.
    """

    def __init__(self, api, outbox_va: int, inbox_va: int,
                 endpoints: Mapping[str, int] | None = None):
        self.view = MailboxView.own(api, outbox_va, inbox_va)
        self.me = self.view.endpoint()
        self._ids = dict(endpoints or {})
        self._names = {v: k for k, v in self._ids.items()}

    def _dest_id(self, dest: int | str) -> int:
        if isinstance(dest, str):
            if dest not in self._ids:
                raise IpcError(f"unknown endpoint {dest!r}")
            return self._ids[dest]
        if type(dest) is not int or not 1 <= dest <= MAX_ENDPOINT:
            raise IpcError(f"destination must be an endpoint name or an id in "
                           f"[1, {MAX_ENDPOINT}], not {dest!r}")
        return dest

    def send(self, dest: int | str, payload_obj: Any) -> int:
        """Queue a CBOR message for dest in the outbox; returns its sequence number.

        The sequence counter is bumped before the slot is written, so a crash in
        between leaves a gap, never two messages with one number."""
        dst = self._dest_id(dest)
        data = encode(payload_obj)
        out = self.view.ring(RingKind.OUTBOX)
        slot = out.free_slot()
        if slot is None:
            raise OutboxFull(f"outbox of endpoint {self.me} is full ({out.spec.count} slots)")
        seq_at = SEQ_TABLE + 4 * dst
        seq = (int.from_bytes(self.view.read(seq_at, 4), "little") + 1) & 0xFFFFFFFF or 1
        self.view.write(seq_at, seq.to_bytes(4, "little"))
        out.put(slot, Header(State.READY, 0, len(data), self.me, dst, seq), data)
        return seq

    def receive(self) -> list[Message]:
        """Take the messages delivered to this partition, by (source, sequence)."""
        inbox = self.view.ring(RingKind.INBOX)
        taken = []
        for slot, h, payload in inbox.live():
            if h.state == State.READY and h.kind == 0 and h.dst == self.me:
                obj = cbor2.loads(payload[:h.length])
                inbox.set_state(slot, State.FREE)
                taken.append(Message(h.src, h.seq, obj, self._names.get(h.src)))
        return sorted(taken, key=lambda m: (m.src, m.seq))

    def refusals(self) -> list[Refusal]:
        """Take the refusals the relay wrote back for this partition's messages."""
        status = self.view.ring(RingKind.STATUS)
        taken = []
        for slot, h, _ in status.live():
            if h.state == State.READY:
                status.set_state(slot, State.FREE)
                taken.append(Refusal(Reason(h.kind), h.dst, h.seq, h.length,
                                     self._names.get(h.dst)))
        return sorted(taken, key=lambda r: (r.dst, r.seq))
