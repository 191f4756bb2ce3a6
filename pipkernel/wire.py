"""Strict, bounded CBOR decoding (on cbor2) for every byte string that crosses a trust
boundary: tokens from the network, payloads and stores a partition wrote, which may be
compromised.  Used by tokens/, ipc/ and domains/; it depends on none of them.

:func:`loads`
* refuses inputs longer than ``MAX_INPUT`` bytes before decoding anything;
* bounds nesting depth (cbor2 counts it while decoding, so no deep recursion);
* rejects duplicate map keys (RFC 9052 §9: a message with the same label twice in a
  map MUST NOT be processed).  Keys that are equal in Python (``1``, ``1.0``, ``true``)
  count as duplicates, which is stricter than CBOR and loses nothing COSE/CWT uses;
* rejects bytes after the item.  cbor2.loads ignores them and its stream decoder, which
  can tell, costs 0.4 us more per call; so the input is decoded as the array
  ``[input, nonce]``, where ``nonce`` is a byte string drawn at random per process: it
  comes back intact only when the input was exactly one item (bytes after it would have
  to contain the nonce, which no input can predict).  Anything else is decoded again
  with the stream decoder, whose error says what was wrong;
* rejects indefinite-length items (a profile choice: tokens are small and built in one go);
* turns off every semantic tag decoder of cbor2 (dates, bignums, regexes, MIME,
  value sharing, ...): a tag always decodes to a plain ``CBORTag``, so hostile input
  can neither build cyclic values nor reach those parsers.
Huge declared lengths do not allocate: cbor2 reads strings in bounded chunks and fails
on the first short read, and the input itself is bounded.

These are cbor2 6's options; with cbor2 5.x, which has none of them, :mod:`.cbor5` decodes
instead, to the same values and refusals.
"""
from __future__ import annotations

import io
import os
from functools import partial
from importlib.metadata import version

import cbor2
from typing import Any, Callable

from cbor2 import CBORTag

from .cbor5 import FROZENDICT, decode as _decode_cbor5
from .errors import PipsimError

CBOR2_5 = int(version("cbor2").split(".")[0]) < 6       # none of the options below: .cbor5

# Maps decode to dict, or (inside tags and as map keys) to an immutable frozendict.
MAP_TYPES = (dict, FROZENDICT)
ARRAY_TYPES = (list, tuple)

MAX_INPUT = 4096
MAX_DEPTH = 8

# Every tag that cbor2 6.x decodes into a Python object instead of a CBORTag
# (tests/tokens/test_tokens_units.py scans tags 0..65535 to keep this list complete).
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258,
                  260, 261, 1004, 43000, 55799)


def _keep_tag(tag: int) -> Callable[[Any, bool], CBORTag]:
    return lambda value, immutable: CBORTag(tag, value)


_PLAIN_TAGS = {tag: _keep_tag(tag) for tag in _SEMANTIC_TAGS}


class CBORError(PipsimError, ValueError):
    """Input is not acceptable CBOR; the message says why."""


_OPTIONS: dict[str, Any] = dict(allow_indefinite=False, allow_duplicate_keys=False,
                                semantic_decoders=_PLAIN_TAGS)
_NONCE = os.urandom(16)
_WRAP, _END = b"\x82", cbor2.dumps(_NONCE)          # [input, nonce]
_decode_wrapped: Callable[[bytes], Any] = partial(cbor2.loads, max_depth=MAX_DEPTH + 1,
                                                  **_OPTIONS)


def _check_size(data: bytes, max_input: int) -> None:
    if len(data) > max_input:
        raise CBORError(f"{len(data)} bytes exceeds the {max_input}-byte limit")
    if not data:
        raise CBORError("empty input")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, max_input: int = MAX_INPUT) -> Any:
    """Decode one CBOR item that must fill ``data`` exactly, under the rules above."""
    if not 0 < len(data) <= max_input:
        _check_size(data, max_input)
    if CBOR2_5:
        return _loads_stream(data, max_depth)
    try:
        if max_depth == MAX_DEPTH:
            value, end = _decode_wrapped(_WRAP + data + _END)
        else:
            value, end = cbor2.loads(_WRAP + data + _END, max_depth=max_depth + 1, **_OPTIONS)
        if end == _NONCE:
            return value
    except Exception:  # cbor2 signals bad input with several exception types
        pass
    return _loads_stream(data, max_depth)


def _loads_stream(data: bytes, max_depth: int) -> Any:
    """The exact decoder behind :func:`loads`: slower, and its errors name the fault."""
    try:
        if CBOR2_5:
            value, end = _decode_cbor5(data, max_depth, _PLAIN_TAGS)
        else:
            stream = io.BytesIO(data)
            value = cbor2.CBORDecoder(stream, max_depth=max_depth, **_OPTIONS).decode()
            end = stream.tell()
    except Exception as exc:
        raise CBORError(_describe(exc)) from None
    if end != len(data):
        raise CBORError(f"{len(data) - end} extra bytes after the CBOR item")
    return value


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


def cbor_type(value: object) -> str:
    """A short name of a decoded value's CBOR type, for messages."""
    if type(value) in MAP_TYPES:
        return "map"
    return {bool: "bool", int: "int", bytes: "bstr", str: "tstr", list: "array", tuple: "array",
            float: "float", CBORTag: "tag"}.get(type(value), type(value).__name__)
