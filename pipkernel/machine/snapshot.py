"""Snapshot files (docs/debugging.md "Snapshots and replay"): a whole machine in one
self-describing, versioned file, and the checks that refuse one that does not fit.

A file is ``MAGIC``, the header's length (4 bytes, little-endian), the header (CBOR, read
with the strict reader pipsim.kernel.wire), the sections the header lists (each compressed with
zlib) and the SHA-256 of everything before it.  Every format version keeps that frame, so a
damaged file is told from one of another version.  The sections: ``state`` (the C glue's
record, pip_snapshot in machine.h), ``memory`` (every physical page) and ``devices`` (the
registers of devices written in Python, CBOR)."""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from importlib.metadata import version

import cbor2

from .. import wire
from .._pipcore import ffi, lib
from ..abi import PAGE_SIZE
from ..errors import PipsimError

MAGIC = b"\x89pipsim-snapshot\r\n\x1a\n"
FORMAT = "pipsim-snapshot"
#: the format's version: the C record's layout (PIP_SNAPSHOT_VERSION) and this frame's
VERSION = lib.PIP_SNAPSHOT_VERSION
SECTIONS = ("state", "memory", "devices")
_LENGTH = struct.Struct("<I")
_DIGEST = hashlib.sha256().digest_size
MAX_HEADER = 1 << 16
#: a machine's largest memory (32-bit physical addresses) and state record
MAX_PAGES = 1 << 20
STATE_LIMIT = (ffi.sizeof("pip_snapshot") + lib.PIP_CONSOLE_CAP
               + lib.PIP_TRACE_CAP * ffi.sizeof("pip_event"))
#: zlib's level: memory is mostly zero pages, which any level shrinks to almost nothing
LEVEL = 6
#: what the header says about the machine, and what a machine restoring it must match
IDENTITY = ("arch", "pages", "table_size", "levels", "policy", "devices", "device_pages")


class SnapshotError(PipsimError, ValueError):
    """A snapshot refused: not one, damaged, of another version, or not for this machine."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot file read and checked: its header and its sections, decompressed."""
    header: dict
    sections: dict[str, bytes]

    @property
    def identity(self) -> dict:
        """What the machine it was taken of was (IDENTITY's fields of its header)."""
        return {name: self.header[name] for name in IDENTITY}


def pipsim_version() -> str:
    """The installed pipsim's version (a snapshot's header records it)."""
    return version("pipsim")


def encode(identity: dict, mode: str, counters: dict, sections: dict[str, bytes]) -> bytes:
    """The file's bytes: identity (IDENTITY's fields), the run mode and the counters at the
    snapshot (for people: `pipsim run --restore` prints them) and the sections."""
    stored = {name: zlib.compress(sections[name], LEVEL) for name in SECTIONS}
    header = {"format": FORMAT, "version": VERSION, "pipsim": pipsim_version(), **identity,
              "mode": mode, "instructions": counters["instructions"],
              "blocks": counters["blocks"], "compression": "zlib",
              "sections": [[name, len(sections[name]), len(stored[name])] for name in SECTIONS]}
    head = cbor2.dumps(header)
    body = MAGIC + _LENGTH.pack(len(head)) + head + b"".join(stored[n] for n in SECTIONS)
    return body + hashlib.sha256(body).digest()


def decode(data: bytes) -> Snapshot:
    """Read a snapshot file's bytes: SnapshotError naming what is wrong, in this order: not a
    snapshot, damaged (its digest), another format version or pipsim, a bad header."""
    if not data.startswith(MAGIC):
        raise SnapshotError("not a pipsim snapshot (its first bytes are not the magic)")
    if len(data) < len(MAGIC) + _LENGTH.size + _DIGEST or \
            hashlib.sha256(data[:-_DIGEST]).digest() != data[-_DIGEST:]:
        raise SnapshotError("the snapshot is damaged: its SHA-256 does not match its content "
                            "(truncated or altered)")
    start = len(MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    if length > min(MAX_HEADER, len(data) - start - _DIGEST):
        raise SnapshotError(f"the snapshot's header length {length} is beyond its content")
    try:
        header = wire.loads(data[start:start + length], max_input=MAX_HEADER)
    except wire.CBORError as error:
        raise SnapshotError(f"the snapshot's header is not valid CBOR: {error}") from None
    if type(header) is not dict or header.get("format") != FORMAT:
        raise SnapshotError("the snapshot's header is not a pipsim snapshot's")
    if header.get("version") != VERSION:
        raise SnapshotError(f"the snapshot has format version {header.get('version')!r}; this "
                            f"pipsim reads version {VERSION}")
    if header.get("pipsim") != pipsim_version():
        raise SnapshotError(f"the snapshot was written by pipsim {header.get('pipsim')!r}; "
                            f"this is pipsim {pipsim_version()} (a replay needs the same one)")
    missing = [name for name in IDENTITY + ("mode",) if name not in header]
    if missing:
        raise SnapshotError(f"the snapshot's header lacks {', '.join(missing)}")
    pages = header["pages"]
    if type(pages) is not int or not 0 < pages <= MAX_PAGES:
        raise SnapshotError(f"the snapshot's pages {pages!r} is not in [1, {MAX_PAGES}]")
    limits = {"state": STATE_LIMIT, "memory": pages * PAGE_SIZE, "devices": MAX_HEADER}
    return Snapshot(header, _sections(header, data[start + length:-_DIGEST], limits))


def _sections(header: dict, body: bytes, limits: dict[str, int]) -> dict[str, bytes]:
    listed = header.get("sections")
    if not (isinstance(listed, list) and [s[0] if isinstance(s, list) and len(s) == 3 else None
                                          for s in listed] == list(SECTIONS)
            and all(type(n) is int and n >= 0 for s in listed for n in s[1:])):
        raise SnapshotError(f"the snapshot's header must list the sections {SECTIONS}")
    too_big = [name for name, size, _ in listed if size > limits[name]]
    if too_big:
        raise SnapshotError(f"the snapshot's section {too_big[0]} is larger than its header's "
                            f"pages allow")
    if sum(stored for _, _, stored in listed) != len(body):
        raise SnapshotError("the snapshot's sections do not fill its body")
    out, at = {}, 0
    for name, size, stored in listed:
        inflate = zlib.decompressobj()
        try:
            raw = inflate.decompress(body[at:at + stored], size + 1)   # bounded: no bombs
        except zlib.error as error:
            raise SnapshotError(f"the snapshot's section {name} does not inflate: {error}") \
                from None
        if len(raw) != size or not inflate.eof or inflate.unused_data:
            raise SnapshotError(f"the snapshot's section {name} is not the {size} bytes its "
                                f"header says")
        out[name], at = raw, at + stored
    return out


def check_fits(snapshot: Snapshot, identity: dict) -> None:
    """SnapshotError naming each field of IDENTITY where the snapshot differs from the machine
    that would restore it (identity: that machine's)."""
    differ = [f"{name} {snapshot.header[name]!r} (this machine: {identity[name]!r})"
              for name in IDENTITY if snapshot.header[name] != identity[name]]
    if differ:
        raise SnapshotError("the snapshot is for another machine: " + "; ".join(differ))


def device_states(snapshot: Snapshot) -> dict:
    """{device name: its registers} of the devices section."""
    try:
        states = wire.loads(snapshot.sections["devices"], max_input=MAX_HEADER)
    except wire.CBORError as error:
        raise SnapshotError(f"the snapshot's devices section is not valid CBOR: {error}") \
            from None
    if type(states) is not dict or set(states) != set(snapshot.header["devices"]):
        raise SnapshotError("the snapshot's devices section does not name its devices")
    return states


#: the C glue's refusals (pip_machine_restore), said as what differs
REFUSALS = {lib.PIP_SNAP_E_SIZE: "its state record has the wrong size",
            lib.PIP_SNAP_E_VERSION: "its state record has another layout version",
            lib.PIP_SNAP_E_ARCH: "its state record is for another architecture",
            lib.PIP_SNAP_E_GEOMETRY: "its state record is for another geometry",
            lib.PIP_SNAP_E_POLICY: "its state record is for another kernel policy",
            lib.PIP_SNAP_E_DEVICES: "its state record has another number of devices",
            lib.PIP_SNAP_E_VALUE: "its state record holds a value out of range",
            lib.PIP_SNAP_E_MEMORY: "its memory is not this machine's size",
            lib.PIP_SNAP_E_ENGINE: "the engine could not take it"}


def refusal(code: int) -> SnapshotError:
    """The SnapshotError for a refusal code of the C glue (REFUSALS)."""
    return SnapshotError(f"snapshot refused: {REFUSALS.get(code, f'code {code}')}; the "
                         f"machine is as it was")
