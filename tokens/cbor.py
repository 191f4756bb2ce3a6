"""CBOR for COSE/CWT: preferred byte-string heads and CBOR diagnostic notation.  Decoding
is pipsim.kernel.wire's (strict, bounded): every token decode goes through it."""
from __future__ import annotations

import math
from collections.abc import Mapping

import cbor2
from cbor2 import CBORTag


def _bstr_head(length: int) -> bytes:
    if length < 24:
        return bytes((0x40 | length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    if length < 0x100000000:
        return b"\x5a" + length.to_bytes(4, "big")
    return b"\x5b" + length.to_bytes(8, "big")


_SHORT_HEADS = [_bstr_head(n) for n in range(256)]


def bstr_head(length: int) -> bytes:
    """The preferred (shortest) head of a byte string of ``length`` (RFC 8949 §4.2.1)."""
    return _SHORT_HEADS[length] if length < 256 else _bstr_head(length)



def diagnostic(value) -> str:
    """Render a decoded value in CBOR diagnostic notation (RFC 8949 §8)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is cbor2.undefined:
        return "undefined"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return f"h'{bytes(value).hex()}'"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, cbor2.CBORSimpleValue):          # a tuple in cbor2 5.x: before them
        return f"simple({value.value})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(diagnostic(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{diagnostic(k)}: {diagnostic(v)}" for k, v in value.items()) + "}"
    if isinstance(value, CBORTag):
        return f"{value.tag}({diagnostic(value.value)})"
    return repr(value)
