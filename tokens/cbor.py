"""Bounded, strict CBOR decoding on top of cbor2, and CBOR diagnostic notation.

Every decode in this package goes through :func:`loads`, which
* refuses inputs longer than ``MAX_INPUT`` bytes before decoding anything;
* bounds nesting depth (cbor2 counts it while decoding, so no deep recursion);
* rejects duplicate map keys (RFC 9052 §9: a message with the same label twice in a
  map MUST NOT be processed).  Keys that are equal in Python (``1``, ``1.0``, ``true``)
  count as duplicates, which is stricter than CBOR and loses nothing COSE/CWT uses;
* rejects bytes after the item (cbor2.loads alone would ignore them);
* rejects indefinite-length items (a profile choice: tokens are small and built in one go);
* turns off every semantic tag decoder of cbor2 (dates, bignums, regexes, MIME,
  value sharing, ...): a tag always decodes to a plain ``CBORTag``, so hostile input
  can neither build cyclic values nor reach those parsers.
Huge declared lengths do not allocate: cbor2 reads strings in bounded chunks and fails
on the first short read, and the input itself is bounded.
"""
from __future__ import annotations

import builtins
import io
import math
from collections.abc import Mapping

import cbor2
from cbor2 import CBORTag

# Maps decode to dict, or (inside tags and as map keys) to an immutable frozendict.
MAP_TYPES = (dict, getattr(cbor2, "frozendict", None) or getattr(builtins, "frozendict"))
ARRAY_TYPES = (list, tuple)

MAX_INPUT = 4096
MAX_DEPTH = 8

# Every tag that cbor2 6.x decodes into a Python object instead of a CBORTag
# (tests/tokens/test_cbor.py scans tags 0..65535 to keep this list complete).
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258,
                  260, 261, 1004, 43000, 55799)


def _keep_tag(tag: int):
    return lambda value, immutable: CBORTag(tag, value)


_PLAIN_TAGS = {tag: _keep_tag(tag) for tag in _SEMANTIC_TAGS}


class CBORError(ValueError):
    """Input is not acceptable CBOR; the message says why."""


_OPTIONS = dict(allow_indefinite=False, allow_duplicate_keys=False, semantic_decoders=_PLAIN_TAGS)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_INPUT:
        raise CBORError(f"{len(data)} bytes exceeds the {MAX_INPUT}-byte limit")
    if not data:
        raise CBORError("empty input")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH):
    """Decode one CBOR item that must fill ``data`` exactly, under the rules above."""
    _check_size(data)
    stream = io.BytesIO(data)  # a stream, because cbor2.loads ignores trailing bytes
    try:
        value = cbor2.CBORDecoder(stream, max_depth=max_depth, **_OPTIONS).decode()
    except Exception as exc:  # cbor2 signals bad input with several exception types
        raise CBORError(_describe(exc)) from None
    if stream.tell() != len(data):
        raise CBORError(f"{len(data) - stream.tell()} extra bytes after the CBOR item")
    return value


def loads_prefix(data: bytes, *, max_depth: int = MAX_DEPTH):
    """:func:`loads` without the trailing-bytes check (faster); the caller must make sure
    the item filled ``data``, e.g. with :func:`preferred_length`, or else call :func:`loads`."""
    _check_size(data)
    try:
        return cbor2.loads(data, max_depth=max_depth, **_OPTIONS)
    except Exception as exc:
        raise CBORError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


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


def bstr_length(length: int) -> int:
    """Encoded size of a byte string of ``length`` with the preferred head."""
    return length + (1 if length < 24 else 2 if length < 0x100 else 3 if length < 0x10000
                     else 5 if length < 0x100000000 else 9)


def cbor_type(value) -> str:
    """A short name of a decoded value's CBOR type, for messages."""
    if type(value) in MAP_TYPES:
        return "map"
    return {bool: "bool", int: "int", bytes: "bstr", str: "tstr", list: "array", tuple: "array",
            float: "float", CBORTag: "tag"}.get(type(value), type(value).__name__)


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
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(diagnostic(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{diagnostic(k)}: {diagnostic(v)}" for k, v in value.items()) + "}"
    if isinstance(value, CBORTag):
        return f"{value.tag}({diagnostic(value.value)})"
    if isinstance(value, cbor2.CBORSimpleValue):
        return f"simple({value.value})"
    return repr(value)
