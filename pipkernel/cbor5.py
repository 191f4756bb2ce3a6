"""The strict decoder of :mod:`pipsim.kernel.wire` where cbor2 is older than 6 (beside
python-cwt, which needs cbor2 < 6: docs/install.md "cbor2 and python-cwt").

cbor2 5.x can neither refuse duplicate map keys or indefinite lengths nor leave semantic
tags undecoded (its C decoder builds regexes, dates, shared values before any hook runs), so
this module decodes the one profile ``wire`` accepts by itself, to the values cbor2 6 gives
with ``wire``'s options: definite lengths only, no duplicate keys, every tag a plain
``CBORTag``, arrays and maps immutable (tuple, ``FrozenDict``) as map keys and inside tags
(but inside the tags cbor2 6 knows, ``semantic``, as around them), nesting bounded as cbor2
counts it (the items of a container one level deeper than it).
Inputs are small (``wire.MAX_INPUT``) and depth is bounded, so recursion is too.
"""
from __future__ import annotations

import builtins
import struct
from collections.abc import Collection

import cbor2
from cbor2 import CBORSimpleValue, CBORTag, undefined

# the immutable map cbor2 decodes to: its own frozendict (6), the builtin one, FrozenDict (5.x)
FROZENDICT = (getattr(cbor2, "frozendict", None) or getattr(builtins, "frozendict", None)
              or cbor2.FrozenDict)

_FLOATS = {25: ">e", 26: ">f", 27: ">d"}
_SIMPLE = {20: False, 21: True, 22: None, 23: undefined}


class _Decoder:
    def __init__(self, data: bytes, max_depth: int, semantic: Collection[int]):
        self.data, self.pos, self.max_depth, self.semantic = data, 0, max_depth, semantic

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise ValueError(f"premature end of stream (expected to read at least {size} "
                             f"bytes, got {len(self.data) - self.pos} instead)")
        chunk, self.pos = self.data[self.pos:end], end
        return chunk

    def item(self, depth: int, immutable: bool):
        if depth > self.max_depth:
            raise ValueError(f"maximum container nesting depth ({self.max_depth}) exceeded")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.special(info)
        if info == 31 and major in (2, 3, 4, 5):
            raise ValueError("encountered indefinite length but it has been disabled")
        if info > 27:
            raise ValueError(f"unknown subtype 0x{info:x} of major type {major}")
        arg = info if info < 24 else int.from_bytes(self.take(1 << (info - 24)), "big")
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return bytes(self.take(arg))
        if major == 3:
            return self.take(arg).decode("utf-8")
        if major == 4:
            items = [self.item(depth + 1, immutable) for _ in range(arg)]
            return tuple(items) if immutable else items
        if major == 5:
            return self.map(arg, depth, immutable)
        return CBORTag(arg, self.item(depth + 1, immutable or arg not in self.semantic))

    def map(self, pairs: int, depth: int, immutable: bool):
        result = {}
        for _ in range(pairs):
            key = self.item(depth + 1, True)
            if key in result:
                raise ValueError(f"Duplicate map key: {key!r}")
            result[key] = self.item(depth + 1, immutable)
        return FROZENDICT(result) if immutable else result

    def special(self, info: int):
        if info in _SIMPLE:
            return _SIMPLE[info]
        if info < 20:
            return CBORSimpleValue(info)
        if info == 24:
            value = self.take(1)[0]
            if value < 32:
                raise ValueError("invalid two-byte sequence for simple value")
            return CBORSimpleValue(value)
        if info in _FLOATS:
            return struct.unpack(_FLOATS[info], self.take(1 << (info - 24)))[0]
        if info == 31:
            raise ValueError("break code encountered where a data item was expected")
        raise ValueError(f"undefined reserved major type 7 subtype 0x{info:x}")


def decode(data: bytes, max_depth: int, semantic: Collection[int]) -> tuple[object, int]:
    """The first item of ``data`` and the offset after it; ValueError saying what is wrong."""
    decoder = _Decoder(data, max_depth, semantic)
    return decoder.item(0, False), decoder.pos
