"""Management commands in the ODSI D3.3 shape (§4.2), CBOR-encoded, and their responses.

A command is a CBOR map::

    {"id": 7, "domain": "provider-a", "device": "gateway",
     "operation": {"code": "read", "objectId": 3303, "objectInstanceId": 0,
                   "resourceId": 5700, "resourceInstanceId": 0},      # last one optional
     "value": null, "token": h'...', "tokenB": h'...'}                # tokenB optional

``decode`` checks everything a hostile sender controls and raises ``Refused`` (status,
reason, detail) for anything else; nothing else escapes it.  A response is
``{"id", "status", "reason", "value"}`` with CoAP-style status numbers (205 content,
204 changed, 201 created, 202 deleted, 400, 401, 403, 404, 405, 413, 500, 503, 504).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cbor2

from pipsim.kernel import wire as strict
from pipsim.tokens import binding
from pipsim.tokens.binding import OPERATION_KEYS as _OP_KEYS
from pipsim.tokens.scope import MAX_ID, OPERATIONS   # LwM2M's operations and 16-bit ids

MAX_COMMAND = 1024       # bytes of CBOR for a whole command
MAX_VALUE = 256          # bytes of CBOR for its value
MAX_TOKEN = 400          # bytes per token
MAX_NAME = 64
_KEYS = {"id", "domain", "device", "operation", "value", "token", "tokenB"}

STATUS = {"content": 205, "changed": 204, "created": 201, "deleted": 202,
          "malformed": 400, "oversized": 413, "unknown_path": 404, "not_allowed": 405,
          "wrong_domain": 400, "wrong_device": 400, "stopped": 503, "busy": 503,
          "timeout": 504, "failed": 500, "unauthorised": 403}
UNKNOWN_STATUS = 500     # a reason the table does not name (a peer's): an internal failure


def status_of(reason) -> int:
    """The response status of a refusal or answer reason (the one table, one default)."""
    return STATUS.get(reason, UNKNOWN_STATUS)


class Refused(Exception):
    """A command refused before or while it was processed; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str, status: int | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
        self.status = status if status is not None else status_of(reason)


@dataclass(frozen=True)
class Command:
    id: int
    domain: str
    device: str
    code: str
    path: tuple[int, ...]            # (object, instance, resource[, resource instance])
    value: Any = None
    token: bytes = b""
    token_b: bytes | None = None

    @property
    def resource(self) -> str:
        """The LwM2M path as text, "3303/0/5700"."""
        return "/".join(map(str, self.path))

    def digest(self, domain: str | None = None) -> bytes:
        """What its token must cover (pipsim.tokens.binding); ``domain``: as that domain receives
        it (a forwarded command's token B covers it in the owner domain)."""
        return binding.digest(domain or self.domain, self.device, self.code, self.path,
                              self.value)

    def to_map(self) -> dict:
        out = {"id": self.id, **binding.command_map(self.domain, self.device, self.code,
                                                     self.path, self.value),
               "token": self.token}
        if self.token_b is not None:
            out["tokenB"] = self.token_b
        return out

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_map())


@dataclass(frozen=True)
class Response:
    id: int | None
    status: int
    reason: str
    value: Any = field(default=None)

    @property
    def accepted(self) -> bool:
        return self.status < 300

    def to_map(self) -> dict:
        return {"id": self.id, "status": self.status, "reason": self.reason, "value": self.value}


def _int(value, name: str, low: int = 0, high: int = MAX_ID) -> int:
    if type(value) is not int or not low <= value <= high:
        raise Refused("malformed", f"{name} must be an integer in [{low}, {high}], not {value!r}")
    return value


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise Refused("malformed", f"{name} must be a name of 1..{MAX_NAME} characters")
    return value


def _token(value, name: str) -> bytes:
    if not isinstance(value, bytes) or not 0 < len(value) <= MAX_TOKEN:
        raise Refused("malformed", f"{name} must be a byte string of 1..{MAX_TOKEN} bytes")
    return value


def from_map(obj, *, unsigned: bool = False) -> Command:
    """A Command from a decoded map; Refused names the first thing wrong.  ``unsigned``: a
    command that has no token yet (a token request's, pipsim.management.command_request)."""
    if not isinstance(obj, strict.MAP_TYPES):
        raise Refused("malformed", f"a command is a CBOR map, not {strict.cbor_type(obj)}")
    unknown = set(obj) - _KEYS
    if unknown:
        raise Refused("malformed", f"unknown fields {sorted(map(repr, unknown))}")
    if unsigned and not {"token", "tokenB"}.isdisjoint(obj):
        raise Refused("malformed", "a command asking for its token carries none")
    missing = {"id", "domain", "device", "operation", *(() if unsigned else ("token",))} - set(obj)
    if missing:
        raise Refused("malformed", f"missing fields {sorted(missing)}")
    op = obj["operation"]
    if not isinstance(op, strict.MAP_TYPES) or set(op) - {"code", *_OP_KEYS}:
        raise Refused("malformed", "operation must be a map of code, objectId, objectInstanceId,"
                      " resourceId[, resourceInstanceId]")
    code = binding.operation_code(op.get("code"))
    if code not in OPERATIONS:
        raise Refused("malformed", f"operation code must be one of {', '.join(OPERATIONS)} "
                      "(or exec)")
    if not {"objectId", "objectInstanceId", "resourceId"} <= set(op):
        raise Refused("malformed", "operation needs objectId, objectInstanceId and resourceId")
    path = tuple(_int(op[k], k) for k in _OP_KEYS if k in op)
    value = obj.get("value")
    try:
        size = len(cbor2.dumps(value))
    except (cbor2.CBOREncodeError, TypeError, ValueError):
        raise Refused("malformed", "value cannot be re-encoded") from None
    if size > MAX_VALUE:
        raise Refused("oversized", f"value is over {MAX_VALUE} bytes of CBOR")
    token_b = obj.get("tokenB")
    return Command(_int(obj["id"], "id", 0, 2**32 - 1), _text(obj["domain"], "domain"),
                   _text(obj["device"], "device"), code, path, value,
                   b"" if unsigned else _token(obj["token"], "token"),
                   None if token_b is None else _token(token_b, "tokenB"))


def decode(data) -> Command:
    """Decode and check a command's bytes; raises only Refused."""
    if not isinstance(data, (bytes, bytearray)):
        raise Refused("malformed", "a command is bytes")
    if len(data) > MAX_COMMAND:
        raise Refused("oversized", f"{len(data)} bytes; a command is at most {MAX_COMMAND}")
    try:
        obj = strict.loads(bytes(data))
    except ValueError as exc:
        raise Refused("malformed", f"not CBOR: {exc}") from None
    return from_map(obj)


def request_id(data) -> int | None:
    """The id of a command that may be malformed (so a refusal can name it), else None."""
    try:
        obj = strict.loads(bytes(data))
        value = obj.get("id") if isinstance(obj, strict.MAP_TYPES) else None
    except (ValueError, TypeError):
        return None
    return value if type(value) is int and 0 <= value < 2**32 else None
