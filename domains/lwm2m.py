"""The device's LwM2M client, protocol side: what a CoAP request to the device means, and
what the device answers (no sockets here: ``pipsim.domains.serve`` puts it on the network).

A management command arrives as D3.3 §4.2 says: a request on the LwM2M resource it names,
whose body is either

* JSON (content-format 50): ``{"id": N, "value": "<JSON text of {domain, device, operation:
  {code, objectId, objectInstanceId, resourceId[, resourceInstanceId]}, value, token
  [, tokenB]}>"}``, the tokens as base64url text (RFC 4648 §5, D3.3's examples' alphabet); or
* CBOR (content-format 60): the command map itself (docs/domains.md "Command format"), tokens
  as byte strings — the only form for values JSON cannot carry (create's COSE_Key).

D3.3 says every operation arrives as a PUT; the LwM2M method of the operation is accepted too
(GET read, PUT write, POST execute / create, DELETE delete).  The request's path must be the
command's.  The answer is the runtime's ``{"id", "status", "reason", "value"}`` in the
request's format (or its Accept), with the CoAP code of its status (205 → 2.05, 401 → 4.01,
...; the reason in the payload).  The client's ``id`` is echoed back; inside the device each
command gets an id of its own, so clients never collide.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass

import cbor2

from pipsim.kernel import wire

from .commands import MAX_COMMAND, STATUS, Refused, Response, from_map

JSON, CBOR, LINK_FORMAT = 50, 60, 40          # CoAP content-formats (RFC 7252 §12.3, RFC 7049)
METHODS = {"read": "GET", "write": "PUT", "execute": "POST", "create": "POST",
           "delete": "DELETE"}                # LwM2M 1.1 TS §8.2 (Device Management interface)


@dataclass(frozen=True)
class Reply:
    """A CoAP answer: its code as "c.dd" in an int (2.05 → 205), body and content-format."""

    code: int
    payload: bytes
    content_format: int


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text, name: str) -> bytes:
    if not isinstance(text, str):
        raise Refused("malformed", f"{name} must be base64url text in the JSON form")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Refused("malformed", f"{name} is not base64url") from None


def decode_request(payload: bytes, content_format: int | None) -> dict:
    """The command map a request body carries; Refused("malformed"/"oversized") otherwise."""
    if len(payload) > 2 * MAX_COMMAND:
        raise Refused("oversized", f"{len(payload)} bytes; a request is at most {2 * MAX_COMMAND}")
    if content_format == CBOR:
        try:
            return wire.loads(payload)
        except ValueError as error:
            raise Refused("malformed", f"not CBOR: {error}") from None
    if content_format not in (JSON, None):
        raise Refused("unsupported_format", f"content-format {content_format}: send JSON (50) "
                      "or CBOR (60)", 415)
    try:
        outer = json.loads(payload)
        inner = json.loads(outer["value"]) if isinstance(outer, dict) else None
    except (ValueError, KeyError, TypeError):
        raise Refused("malformed", 'the body is not D3.3\'s {"id": N, "value": "<command as '
                      'JSON text>"}') from None
    if not isinstance(inner, dict) or "id" not in outer:
        raise Refused("malformed", "the body's value must be a JSON object as text, next to an id")
    command = {**inner, "id": outer["id"]}
    for name, key in (("token", "token"), ("tokenB", "tokenB")):
        if key in command:
            command[key] = _unb64url(command[key], name)
    return command


def _jsonable(value):
    if isinstance(value, bytes):
        return b64url(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


def encode_reply(response: Response, content_format: int) -> Reply:
    """The runtime's answer as CoAP: status → code, the answer map as JSON or CBOR."""
    body = response.to_map()
    data = (cbor2.dumps(body) if content_format == CBOR
            else json.dumps(_jsonable(body), separators=(",", ":")).encode())
    return Reply(response.status, data, CBOR if content_format == CBOR else JSON)


class LwM2MClient:
    """The device's side of management over LwM2M: requests in, the runtime's answers out.

    ``runtime`` is a ``pipsim.domains.runtime.Runtime``; ``device`` the name commands must carry (the
    image's); ``endpoint`` its LwM2M endpoint name."""

    def __init__(self, runtime, device: str, endpoint: str | None = None):
        self.runtime, self.device = runtime, device
        self.endpoint = endpoint or device
        self._ids = itertools.count(1)

    def paths(self) -> list[tuple[int, ...]]:
        """Every LwM2M path a domain of the device serves, sorted."""
        return sorted({path for manager in self.runtime.managers.values()
                       for path in manager.paths()})

    def objects(self) -> str:
        """The registration payload (LwM2M 1.1 TS §6.2.1): its object instances, link-format."""
        instances = sorted({path[:2] for path in self.paths()})
        return ",".join(['</>;rt="oma.lwm2m";ct=60'] + [f"</{o}/{i}>" for o, i in instances])

    def handle(self, method: str, path: tuple[int, ...], payload: bytes,
               content_format: int | None, accept: int | None = None) -> Reply:
        """One request; never raises for what a client sent."""
        reply_format = accept if accept in (JSON, CBOR) else (
            CBOR if content_format == CBOR else JSON)
        client_id = None
        try:
            command = decode_request(payload, content_format)
            client_id = command.get("id") if isinstance(command, dict) else None
            parsed = from_map(command)               # Refused unless a well-formed command
            if method not in ("PUT", METHODS[parsed.code]):
                raise Refused("not_allowed", f"{parsed.code} arrives as PUT or "
                              f"{METHODS[parsed.code]}, not {method}")
            if parsed.path != path:
                raise Refused("malformed", f"the command is for {parsed.resource}, the request "
                              f"for {'/'.join(map(str, path))}")
            response = self._run(parsed.domain, {**command, "id": next(self._ids)})
        except Refused as refusal:
            response = Response(None, refusal.status, refusal.reason, refusal.detail)
        return encode_reply(Response(client_id, response.status, response.reason,
                                     response.value), reply_format)

    def _run(self, domain: str, command: dict) -> Response:
        """The command through the runtime (as ``Runtime.submit``), until it is answered: at
        once (a domain's own resource), or after rounds (IPC to a driver, to the owner)."""
        runtime, rid = self.runtime, command["id"]
        answer = runtime.submit(domain, cbor2.dumps(command))
        for _ in range(64):                      # bounded: the runtime answers every frame
            if answer is None:
                answer = next((r for r in runtime.collect() if r.id == rid), None)
            if answer is not None:
                return answer
            runtime.run()
        return Response(rid, STATUS["timeout"], "timeout", "the device did not answer")
