"""State kept in a partition's own pages, accessed only through its PartitionAPI.

``PageStore``: one CBOR value in a reserved page range, behind an 8-byte header
(magic ``b"ODSI"``, u32 length, little-endian).  ``PageReplayCache``: the token
replay cache as a bounded-probe hash table in pages (the interface ``tokens.Validator``
calls: ``remember(iss, cti, until, now)``).  Both fault (MemoryFault) like any other
access if the range is not the partition's.
"""
from __future__ import annotations

import hashlib
import struct

import cbor2

from pipkernel.abi import PAGE_SIZE
from tokens import TokenError

MAGIC = b"ODSI"
_HEADER = struct.Struct("<4sI")


class StoreError(Exception):
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
        return cbor2.loads(self.api.read(self.va + _HEADER.size, length))

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
    """Accepted (issuer, cti) pairs until their expiry, in pages: a hash table of 32-byte
    entries (f64 until, 24-byte digest of the pair) probed over ``PROBE`` slots.

    Same contract as ``tokens.ReplayCache``: a live pair is ``replayed``; when the probe
    window holds only live entries the validator fails closed (``replay_cache_full``)."""

    ENTRY = 32
    PROBE = 16

    def __init__(self, api, va: int, count: int):
        self.api, self.va = api, va
        self.slots = count * PAGE_SIZE // self.ENTRY - self.PROBE   # the window never wraps
        if self.slots < 1:
            raise ValueError("a replay cache needs at least one page")

    def format(self) -> None:
        self.api.write(self.va, bytes((self.slots + self.PROBE) * self.ENTRY))

    def remember(self, issuer: str, cti: bytes, until: float, now: float) -> None:
        digest = hashlib.sha256(issuer.encode() + b"\0" + cti).digest()[:24]
        first = int.from_bytes(digest[:4], "little") % self.slots
        at = self.va + first * self.ENTRY
        window = self.api.read(at, self.PROBE * self.ENTRY)
        free = None
        for i in range(self.PROBE):
            entry = window[i * self.ENTRY:(i + 1) * self.ENTRY]
            (expiry,) = struct.unpack_from("<d", entry)
            if expiry > now and entry[8:] == digest:
                raise TokenError("replayed", f"token {cti.hex()} from {issuer!r} was already used")
            if free is None and expiry <= now:
                free = i
        if free is None:
            raise TokenError("replay_cache_full", f"{self.PROBE} live entries in this token's window")
        self.api.write(at + free * self.ENTRY, struct.pack("<d", until) + digest)
