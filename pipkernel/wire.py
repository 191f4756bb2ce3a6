"""Strict, bounded CBOR decoding (on cbor2) for every byte string that crosses a trust
boundary: tokens from the network, payloads and stores a partition wrote, which may be
compromised.  Used by tokens/, ipc/ and domains/; it depends on none of them.

:func:`loads`
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

import cbor2
from cbor2 import CBORTag

from .errors import PipsimError

# Maps decode to dict, or (inside tags and as map keys) to an immutable frozendict.
MAP_TYPES = (dict, getattr(cbor2, "frozendict", None) or getattr(builtins, "frozendict"))
ARRAY_TYPES = (list, tuple)

MAX_INPUT = 4096
MAX_DEPTH = 8

# Every tag that cbor2 6.x decodes into a Python object instead of a CBORTag
# (tests/tokens/test_tokens_units.py scans tags 0..65535 to keep this list complete).
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258,
                  260, 261, 1004, 43000, 55799)


def _keep_tag(tag: int):
    return lambda value, immutable: CBORTag(tag, value)


_PLAIN_TAGS = {tag: _keep_tag(tag) for tag in _SEMANTIC_TAGS}


class CBORError(PipsimError, ValueError):
    """Input is not acceptable CBOR; the message says why."""


_OPTIONS = dict(allow_indefinite=False, allow_duplicate_keys=False, semantic_decoders=_PLAIN_TAGS)


def _check_size(data: bytes, max_input: int) -> None:
    if len(data) > max_input:
        raise CBORError(f"{len(data)} bytes exceeds the {max_input}-byte limit")
    if not data:
        raise CBORError("empty input")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, max_input: int = MAX_INPUT):
    """Decode one CBOR item that must fill ``data`` exactly, under the rules above."""
    _check_size(data, max_input)
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
    the item filled ``data`` (tokens.cose checks the encoded length), or else call :func:`loads`."""
    _check_size(data, MAX_INPUT)
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


def cbor_type(value) -> str:
    """A short name of a decoded value's CBOR type, for messages."""
    if type(value) in MAP_TYPES:
        return "map"
    return {bool: "bool", int: "int", bytes: "bstr", str: "tstr", list: "array", tuple: "array",
            float: "float", CBORTag: "tag"}.get(type(value), type(value).__name__)
