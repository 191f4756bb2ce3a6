"""State kept in a partition's own pages, accessed only through its PartitionAPI.

``PageStore``: one CBOR value in a reserved page range, behind an 8-byte header
(magic ``b"ODSI"``, u32 length, little-endian).  ``PageReplayCache``: the token
replay cache as a hash table in pages (the interface ``tokens.Validator``
calls: ``remember(iss, cti, until, now)``).  Both fault (MemoryFault) like any other
access if the range is not the partition's.
"""
from __future__ import annotations

import hashlib
import os
import struct

import cbor2

from pipsim.ipc.mailbox import MAX_DEPTH as PAYLOAD_DEPTH
from pipsim.kernel import wire
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.errors import PipsimError
from pipsim.tokens import TokenError

MAGIC = b"ODSI"
_HEADER = struct.Struct("<4sI")
_MAX_DEPTH = PAYLOAD_DEPTH + 2       # a backlog: a list of [dest, payload, tag]


class StoreError(PipsimError):
    """The value does not fit its pages, or the pages hold no store."""


class PageStore:
    """One CBOR value in ``count`` consecutive pages from ``va`` of the partition ``api``."""

    def __init__(self, api, va: int, count: int):
        self.api, self.va, self.capacity = api, va, count * PAGE_SIZE - _HEADER.size

    def format(self, value=None) -> None:
        self.save({} if value is None else value)

    def load(self):
        magic, length = _HEADER.unpack(self.api.read(self.va, _HEADER.size))
        if magic != MAGIC or length > self.capacity:
            raise StoreError(f"no store at {self.va:#x}")
        try:        # the partition's pages: strict, as anything a partition may have written
            return wire.loads(self.api.read(self.va + _HEADER.size, length),
                              max_depth=_MAX_DEPTH, max_input=self.capacity)
        except wire.CBORError as error:
            raise StoreError(f"the store at {self.va:#x} holds no acceptable CBOR: "
                             f"{error}") from None

    def save(self, value) -> None:
        data = cbor2.dumps(value)
        if len(data) > self.capacity:
            raise StoreError(f"{len(data)} bytes do not fit the store's {self.capacity}")
        self.api.write(self.va, _HEADER.pack(MAGIC, len(data)) + data)

    def update(self, key, value) -> None:
        state = self.load()
        state[key] = value
        self.save(state)


class PageReplayCache:
    """Accepted (issuer, cti) pairs until their expiry, in pages: a linear-probing hash table
    of 32-byte entries (f64 until, 24-byte digest of the pair keyed with a secret the first
    entry holds) over every slot, wrapping around.  A probe reads its run once, to the first
    empty slot, for a live copy of the pair; the pair then takes the run's first expired slot
    (the run stays unbroken, so every entry stays reachable from its home slot), else that
    empty slot, and a second expired entry of the run, if any, is deleted by shifting the
    entries after it back (no tombstones), so runs shrink again.  A probe that finds every
    slot taken has read the whole table: it rebuilds it with the live pairs and the new one
    (a shift needs an empty slot to end).  So the table holds ``capacity`` live pairs, one
    per slot, and a probe costs at most 3 * ``capacity`` + 3 kernel calls (reads and writes),
    however many expired: an activation's budget is 200,000.

    Same contract as ``tokens.ReplayCache``: a live pair is ``replayed``; a new pair is
    remembered unless every slot holds a live pair: then the validator fails closed
    (``replay_cache_full``) until one expires."""

    ENTRY = 32
    _EMPTY = bytes(ENTRY)
    _MAGIC = b"ODSIRPLY"
    _HEADER = struct.Struct("<8s16s8x")             # magic, the digests' key

    def __init__(self, api, va: int, count: int):
        self.api, self.va = api, va
        self.capacity = count * PAGE_SIZE // self.ENTRY - 1     # the first entry: the header
        if self.capacity < 1:
            raise ValueError("a replay cache needs at least one page")

    def format(self) -> None:
        self.api.write(self.va, self._HEADER.pack(self._MAGIC, os.urandom(16))
                       + bytes(self.capacity * self.ENTRY))

    def remember(self, issuer: str, cti: bytes, until: float, now: float) -> None:
        magic, key = self._HEADER.unpack(self.api.read(self.va, self._HEADER.size))
        if magic != self._MAGIC:
            raise StoreError(f"no replay cache at {self.va:#x}")
        name = issuer.encode()
        digest = hashlib.blake2b(len(name).to_bytes(2, "little") + name + cti, key=key,
                                 digest_size=24).digest()
        new = struct.pack("<d", until) + digest
        slot, expired, seen = self._home(digest), [], {}
        for _ in range(self.capacity):
            entry = self._entry(slot)
            if entry == self._EMPTY:
                break
            live = struct.unpack_from("<d", entry)[0] > now
            if live and entry[8:] == digest:
                raise TokenError("replayed", f"token {cti.hex()} from {issuer!r} was already used")
            if not live and len(expired) < 2:
                expired.append(slot)
            seen[slot] = entry if live else None
            slot = (slot + 1) % self.capacity
        else:                                       # every slot taken, every one read
            if not expired:
                raise TokenError("replay_cache_full",
                                 f"all {self.capacity} entries hold unexpired tokens")
            self._rebuild(seen, new)
            return
        self._put(expired[0] if expired else slot, new)
        if len(expired) == 2:
            self._delete(expired[1])

    def _rebuild(self, table: dict, new: bytes) -> None:
        """A full table (slot -> its live entry, or None: expired), rebuilt with its live
        entries and `new` only, writing the slots that change: without an empty slot no
        run ends, and a deletion's shift could go round and round."""
        slots: list[bytes] = [self._EMPTY] * self.capacity
        for entry in [e for e in table.values() if e is not None] + [new]:
            slot = self._home(entry[8:])
            while slots[slot] != self._EMPTY:
                slot = (slot + 1) % self.capacity
            slots[slot] = entry
        for slot, entry in enumerate(slots):
            if table[slot] != entry:
                self._put(slot, entry)

    def _home(self, digest: bytes) -> int:
        return int.from_bytes(digest[:8], "little") % self.capacity

    def _entry(self, slot: int) -> bytes:
        return self.api.read(self.va + (slot + 1) * self.ENTRY, self.ENTRY)

    def _put(self, slot: int, entry: bytes) -> None:
        self.api.write(self.va + (slot + 1) * self.ENTRY, entry)

    def _delete(self, hole: int) -> None:
        """Empty a slot, moving back each later entry of the run whose probe passes the hole
        (Knuth's algorithm R): every entry stays reachable from its home slot.  The table has
        an empty slot (a full one is rebuilt instead), which ends the walk within one lap."""
        slot = hole
        while (slot := (slot + 1) % self.capacity) != hole:
            entry = self._entry(slot)
            if entry == self._EMPTY:
                break
            home = self._home(entry[8:])
            if (hole < home <= slot) if hole <= slot else (home > hole or home <= slot):
                continue                            # its probe does not pass the hole
            self._put(hole, entry)
            hole = slot
        self._put(hole, self._EMPTY)
