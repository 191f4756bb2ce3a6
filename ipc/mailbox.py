"""Mailbox pages: the byte layout (docs/ipc.md) and a partition's own send/receive.

A mailbox is four 4 KiB pages owned by one partition:

    outbox region (outbox_va): page 0 control (header, pending counts, status ring,
                               sequence table), page 1 outbox slots
    inbox region  (inbox_va):  pages 0-1 inbox slots

The control page's pending counts (one byte per ring, the inbox's split between the owner's
messages and those in transit) let readers skip an empty ring with one small read; writers
raise a count before a slot becomes READY and lower it after the slot is freed, so a count
is never below the READY slots it counts (docs/ipc.md §1).

Every access goes through a PartitionAPI (``api.read`` / ``api.write``), so the MMU's
rules apply: a partition sees its own mailbox through its own VAs, its parent sees it
through the VAs of the pages it gave (vertical sharing), nobody else sees it at all.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence

import cbor2

from pipsim.kernel import wire
# The layout (docs/ipc.md §1) is pipkernel/abi.py's, shared with libpip's pip/ipc.h.
from pipsim.kernel.abi import IPC_HEADER, IPC_HEADER_FORMAT, IPC_HEADER_OFFSETS
from pipsim.kernel.abi import IPC_HEADER_SIZE as HEADER_SIZE
from pipsim.kernel.abi import IPC_MAGIC as MAGIC
from pipsim.kernel.abi import IPC_MAILBOX_PAGES as MAILBOX_PAGES
from pipsim.kernel.abi import IPC_MAX_ENDPOINT as MAX_ENDPOINT
from pipsim.kernel.abi import IPC_PENDING as PENDING
from pipsim.kernel.abi import IPC_RINGS, PAGE_SIZE
from pipsim.kernel.abi import IPC_SEQ_TABLE as SEQ_TABLE
from pipsim.kernel.abi import IPC_SLOT_SIZE as SLOT_SIZE
from pipsim.kernel.abi import IPC_VERSION as VERSION
from pipsim.kernel.abi import IpcPending as Pending
from pipsim.kernel.abi import IpcReason as Reason
from pipsim.kernel.abi import IpcRing as RingKind
from pipsim.kernel.abi import IpcState as State
from pipsim.kernel.errors import PipsimError

if TYPE_CHECKING:
    from pipsim.kernel.wrappers import API

MAX_DEPTH = 32               # nesting a payload may have


def decode(payload: bytes) -> Any:
    """A payload as strict CBOR (pipkernel/wire.py: no tag builds a value or a cycle, no
    duplicate keys, nothing after the item); CBORError otherwise."""
    return wire.loads(payload, max_depth=MAX_DEPTH)


MAX_PAYLOAD = SLOT_SIZE - HEADER_SIZE

HEADER_STRUCT = _HEADER = struct.Struct(IPC_HEADER_FORMAT)    # a Header's fields, packed
_TRIES = IPC_HEADER_OFFSETS["tries"]
_CONTROL = struct.Struct("<IHH")

_FREE = int(State.FREE)
_FREE_BYTE = bytes((_FREE,))

_PENDING_COUNTS = len(Pending)
_P_OUTBOX, _P_MINE, _P_STATUS = int(Pending.OUTBOX), int(Pending.MINE), int(Pending.STATUS)
_PENDING_MAX = 255           # counts saturate: never wrap to zero


@dataclass(frozen=True, slots=True)
class RingSpec:
    """Where a ring of a mailbox is and its slots: kind, offset, slot size, slot count."""

    kind: RingKind
    offset: int     # from the start of the mailbox (page 0 = control page)
    slot_size: int
    count: int


RINGS = {kind: RingSpec(kind, *spec) for kind, spec in IPC_RINGS.items()}


class IpcError(PipsimError):
    """An IPC operation the caller asked for cannot be done (bad endpoint, payload...)."""


class OutboxFull(IpcError):
    """Every outbox slot holds a message the relay has not taken yet: send again later."""


class Header(NamedTuple):
    """A slot header (32 bytes, docs/ipc.md §1): the fields pipsim.kernel.abi.IPC_HEADER declares
    (and describes), those after ``seq`` (a CLAIMED slot's origin, relay tries) 0 by default."""

    state: int
    kind: int
    length: int
    src: int
    dst: int
    seq: int
    origin_owner: int = 0
    origin_ring: int = 0
    origin_slot: int = 0
    tries: int = 0

    @classmethod
    def unpack(cls, raw: bytes, offset: int = 0) -> "Header":
        """The header at ``offset`` in ``raw``."""
        return cls._make(_HEADER.unpack_from(raw, offset))

    def pack(self) -> bytes:
        """Its 32 bytes."""
        return _HEADER.pack(*self)

    @property
    def identity(self) -> tuple[int, int, int]:
        """(src, dst, seq): what names one message."""
        return self.src, self.dst, self.seq


assert Header._fields == tuple(name for name, _, _ in IPC_HEADER)     # the layout's owner: abi


class MailboxView:
    """Byte access to one mailbox through one partition's VAs of its four pages."""

    __slots__ = ("api", "pages", "_joined")

    def __init__(self, api: API, pages: Sequence[int]):
        if len(pages) != MAILBOX_PAGES:
            raise ValueError(f"a mailbox has {MAILBOX_PAGES} pages, got {len(pages)}")
        self.api, self.pages = api, tuple(pages)
        # _joined[i]: page i + 1 follows page i in this partition's address space
        self._joined = tuple(self.pages[i + 1] == self.pages[i] + PAGE_SIZE
                             for i in range(MAILBOX_PAGES - 1))

    @classmethod
    def own(cls, api: API, outbox_va: int, inbox_va: int) -> "MailboxView":
        """The owner's view: two consecutive pages at each of outbox_va and inbox_va."""
        return cls(api, (outbox_va, outbox_va + PAGE_SIZE, inbox_va, inbox_va + PAGE_SIZE))

    def read(self, offset: int, n: int) -> bytes:
        """Read n bytes at a mailbox offset: one read if the pages the range covers follow
        each other in this partition's address space, else one per page."""
        first = offset // PAGE_SIZE
        last = (offset + n - 1) // PAGE_SIZE
        if first == last or all(self._joined[first:last]):
            return self.api.read(self.pages[first] + offset - first * PAGE_SIZE, n)
        parts, end = [], offset + n
        while offset < end:
            size = min(end, (offset // PAGE_SIZE + 1) * PAGE_SIZE) - offset
            parts.append(self.api.read(self.pages[offset // PAGE_SIZE] + offset % PAGE_SIZE,
                                       size))
            offset += size
        return b"".join(parts)

    def write(self, offset: int, data: bytes) -> None:
        """Write within one page (slots, headers, state bytes and counts never cross one)."""
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

    def pending(self) -> bytes:
        """The four pending counts, indexed by Pending, in one read."""
        return self.api.read(self.pages[0] + PENDING, _PENDING_COUNTS)

    def set_pending(self, which: int, value: int) -> None:
        """Set one pending count (``which``: a Pending), saturated to [0, 255]."""
        self.write(PENDING + which, bytes((max(0, min(value, _PENDING_MAX)),)))

    def raise_pending(self, which: Pending) -> None:
        """One more READY slot is coming (before its state byte is written)."""
        value = self.read(PENDING + which, 1)[0]
        if value < _PENDING_MAX:
            self.write(PENDING + which, bytes((value + 1,)))

    def ring(self, kind: RingKind) -> "Ring":
        """One of the mailbox's rings, through this view."""
        return Ring(self, RINGS[kind])


class Ring:
    """A slot array of one mailbox (outbox, inbox or status ring)."""

    __slots__ = ("view", "spec")

    def __init__(self, view: MailboxView, spec: RingSpec):
        self.view, self.spec = view, spec

    def _at(self, slot: int) -> int:
        return self.spec.offset + slot * self.spec.slot_size

    def _raw(self) -> bytes:
        """The whole ring (one read if its pages are consecutive in the reader's space)."""
        return self.view.read(self.spec.offset, self.spec.count * self.spec.slot_size)

    def live(self) -> list[tuple[int, Header, bytes]]:
        """(slot, header, payload area) of every slot that is not FREE."""
        raw, size = self._raw(), self.spec.slot_size
        states = raw[::size]                         # each slot's first byte: its state
        if not states.strip(_FREE_BYTE):
            return []
        return [(i, Header.unpack(raw, i * size), raw[i * size + HEADER_SIZE:(i + 1) * size])
                for i, state in enumerate(states) if state != _FREE]

    def header(self, slot: int) -> Header:
        """The header of ``slot``."""
        return Header.unpack(self.view.read(self._at(slot), HEADER_SIZE))

    def free_slot(self) -> int | None:
        """The first FREE slot, None if the ring is full."""
        free = self._raw()[::self.spec.slot_size].find(_FREE_BYTE)
        return None if free < 0 else free

    def put(self, slot: int, header: Header, payload: bytes = b"") -> None:
        """Write the payload, then the header (its state byte makes the slot live)."""
        if payload:
            self.view.write(self._at(slot) + HEADER_SIZE, payload)
        self.view.write(self._at(slot), header.pack())

    def set_state(self, slot: int, state: int) -> None:
        """Write the state byte of ``slot`` (a State)."""
        self.view.write(self._at(slot), bytes((state,)))

    def set_tries(self, slot: int, tries: int) -> None:
        """Record the relay's attempts on ``slot`` (saturated at 255)."""
        self.view.write(self._at(slot) + _TRIES, bytes((min(tries, 255),)))


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

    def __init__(self, api: API, outbox_va: int, inbox_va: int,
                 endpoints: Mapping[str, int] | None = None):
        self.view = MailboxView.own(api, outbox_va, inbox_va)
        self.me = self.view.endpoint()
        self._ids = dict(endpoints or {})
        self._names = {v: k for k, v in self._ids.items()}
        self._read, self._pending_va = api.read, outbox_va + PENDING
        self._outbox, self._inbox, self._status = (self.view.ring(kind) for kind in
                                                   (RingKind.OUTBOX, RingKind.INBOX,
                                                    RingKind.STATUS))

    def waiting(self) -> bool:
        """Whether a message or a refusal may be waiting (one read of the pending counts):
        if False, ``receive`` and ``refusals`` would return nothing."""
        counts = self._read(self._pending_va, _PENDING_COUNTS)
        return bool(counts[_P_MINE] or counts[_P_STATUS])

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
        between leaves a gap, never two messages with one number; the outbox's pending
        count is raised before the slot becomes READY."""
        dst = self._dest_id(dest)
        data = encode(payload_obj)
        out = self._outbox
        slot = out.free_slot()
        if slot is None:
            raise OutboxFull(f"outbox of endpoint {self.me} is full ({out.spec.count} slots)")
        seq_at = SEQ_TABLE + 4 * dst
        control = self.view.read(PENDING, seq_at + 4 - PENDING)   # counts .. seq, one read
        seq = (int.from_bytes(control[-4:], "little") + 1) & 0xFFFFFFFF or 1
        self.view.write(seq_at, seq.to_bytes(4, "little"))
        queued = control[_P_OUTBOX]
        if queued < _PENDING_MAX:        # raised before the slot is READY
            self.view.write(PENDING + _P_OUTBOX, bytes((queued + 1,)))
        out.put(slot, Header(State.READY, 0, len(data), self.me, dst, seq), data)
        return seq

    def receive(self) -> list[Message]:
        """Take the messages delivered to this partition, by (source, sequence)."""
        taken: list[Message] = []
        self.handle(taken.append)
        return taken

    def handle(self, handler: Callable[[Message], object]) -> int:
        """Hand each message delivered to this partition to ``handler``, by (source,
        sequence), freeing its slot once the handler returns; how many.  A handler that
        raises leaves that message and the later ones READY, and counted, in the inbox (a
        relay refuses them once the endpoint is closed: docs/ipc.md §2).

        The inbox is read only if its pending count of the owner's messages is not 0."""
        if not self._read(self._pending_va + _P_MINE, 1)[0]:
            return 0
        inbox = self._inbox
        mine = sorted(((h, slot, payload) for slot, h, payload in inbox.live()
                       if h.state == State.READY and h.kind == 0 and h.dst == self.me),
                      key=lambda m: (m[0].src, m[0].seq))
        for h, slot, payload in mine:
            handler(Message(h.src, h.seq, decode(payload[:h.length]), self._names.get(h.src)))
            inbox.set_state(slot, State.FREE)
        self.view.set_pending(_P_MINE, 0)            # after the frees: every one was taken
        return len(mine)

    def refusals(self) -> list[Refusal]:
        """Take the refusals the relay wrote back for this partition's messages."""
        if not self._read(self._pending_va + _P_STATUS, 1)[0]:
            return []
        status = self._status
        taken = []
        for slot, h, _ in status.live():
            if h.state == State.READY:
                status.set_state(slot, State.FREE)
                taken.append(Refusal(Reason(h.kind), h.dst, h.seq, h.length,
                                     self._names.get(h.dst)))
        self.view.set_pending(_P_STATUS, 0)
        return sorted(taken, key=lambda r: (r.dst, r.seq))
