"""The admin server's registration directory (LwM2M 1.1 TS §6.2, the Registration
interface), protocol side: what a Register, Update or De-register means, checked; no sockets
here (``pipsim.management.lwm2m_server`` puts it on the network).

* Register: ``POST /rd?ep=NAME&lt=SECONDS&lwm2m=VERSION&b=U`` with the client's objects in
  link-format (RFC 6690; ``</>;rt="oma.lwm2m";ct=60,</3303/0>,...``) → 2.01 with the
  registration's Location-Path ``/rd/ID``.  A register of an endpoint already registered
  replaces its registration (LwM2M 1.1 TS §6.2.1: the old one is removed).
* Update: ``POST /rd/ID[?lt=..&b=..]`` [with a new object list] → 2.04.
* De-register: ``DELETE /rd/ID`` → 2.02.
* A registration not updated within its lifetime is removed.

Who may register as which endpoint is D3.3 §3.2's table: each client endpoint has its PSK
identity, and only a peer authenticated with that identity may register under (or update,
de-register) that endpoint (4.03 otherwise, LwM2M 1.1 TS §6.2.1).  Without the table (plain
CoAP, ``identities`` None) nobody is authenticated and any endpoint name is taken.

Every refusal is a ``Refusal`` carrying its CoAP code and what was wrong; nothing changes then.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from aiocoap.util import linkformat
from aiocoap.util.vendored.link_header import ParseException

MAX_REGISTRATIONS = 256
MAX_PAYLOAD = 2048                       # bytes of link-format
MAX_LINKS = 128                          # object / instance links in one registration
MAX_LIFETIME = 2 ** 32 - 1               # seconds (LwM2M object 1, resource 1: unsigned)
DEFAULT_LIFETIME = 86400                 # LwM2M 1.1 TS §6.2.1
VERSIONS = ("1.0", "1.1", "1.2")
LINK_FORMAT = 40                         # content-format (RFC 6690 §7.3)
_ENDPOINT = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")     # printable, no separators
_BINDING = re.compile(r"[UQSTN]{1,5}")
_OBJECT_LINK = re.compile(r"/(\d{1,5})(?:/(\d{1,5}))?")


class Refusal(ValueError):
    """A registration request refused: ``code`` (c.dd as an int: 400, 403, 404, 413, 415, 503)
    and what was wrong."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class Registration:
    """One registered client: its state as the device list shows it, and where its session
    comes from (``remote``: the transport's address of its last request)."""

    location: str
    endpoint: str
    identity: str | None
    objects: tuple[str, ...]
    lifetime: int
    binding: str
    version: str
    registered: float                    # wall-clock times (seconds since the epoch)
    updated: float
    expires: float                       # on the directory's monotonic clock
    remote: object = field(repr=False, compare=False)
    reachable: bool = True

    def to_map(self) -> dict:
        """The device list's entry (no transport state)."""
        return {"endpoint": self.endpoint, "location": self.location, "identity": self.identity,
                "objects": list(self.objects), "lifetime": self.lifetime,
                "binding": self.binding, "lwm2m": self.version, "registered": self.registered,
                "updated": self.updated, "reachable": self.reachable}


def parse_query(query, allowed: set[str]) -> dict[str, str]:
    """The Uri-Query options as {name: value}: each at most once, names from ``allowed``."""
    params: dict[str, str] = {}
    for item in query:
        name, sep, value = item.partition("=")
        if name not in allowed:
            raise Refusal(400, f"unknown query parameter {name!r} (allowed: "
                          f"{', '.join(sorted(allowed))})")
        if name in params:
            raise Refusal(400, f"query parameter {name!r} given twice")
        if not sep and name != "Q":
            raise Refusal(400, f"query parameter {name!r} needs a value")
        params[name] = value
    return params


def parse_objects(payload: bytes, content_format: int | None) -> tuple[str, ...]:
    """The object links of a registration's link-format payload, e.g. ("/3303/0", "/3311")
    (the root link ``</>``, an alternate path announcement, is allowed and dropped)."""
    if len(payload) > MAX_PAYLOAD:
        raise Refusal(413, f"{len(payload)} bytes of object links; at most {MAX_PAYLOAD}")
    if content_format not in (LINK_FORMAT, None):
        raise Refusal(415, f"content-format {content_format}: the object list is link-format "
                      f"({LINK_FORMAT})")
    try:
        text = payload.decode("utf-8").strip()        # a file's final newline
        links = linkformat.parse(text).links if text else []
    except (UnicodeDecodeError, ParseException):
        raise Refusal(400, "the object list is not link-format (RFC 6690)") from None
    if len(links) > MAX_LINKS:
        raise Refusal(400, f"{len(links)} object links; at most {MAX_LINKS}")
    objects = []
    for link in links:
        if link.href == "/":
            continue
        match = _OBJECT_LINK.fullmatch(link.href)
        if (match is None or int(match[1]) > 65535
                or (match[2] is not None and int(match[2]) > 65534)):
            raise Refusal(400, f"{link.href[:40]!r} is not an object link </O> or </O/I>")
        objects.append(link.href)
    return tuple(dict.fromkeys(objects))


def _lifetime(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= MAX_LIFETIME:
        raise Refusal(400, f"lt={text[:20]!r}: the lifetime is seconds, 1 to {MAX_LIFETIME}")
    return int(text)


def _binding(text: str) -> str:
    if not _BINDING.fullmatch(text) or "U" not in text:
        raise Refusal(400, f"b={text[:20]!r}: this server reaches clients over UDP (b=U)")
    return text


class Directory:
    """The registrations, at most ``limit``; ``identities`` maps each client endpoint to the
    PSK identity it must authenticate with (None: plain CoAP, no authentication)."""

    def __init__(self, identities: dict[str, str] | None, limit: int = MAX_REGISTRATIONS,
                 clock=time.monotonic, wall=time.time):
        self.identities, self.limit = identities, limit
        self._clock, self._wall = clock, wall
        self._by_location: dict[str, Registration] = {}
        self._by_endpoint: dict[str, Registration] = {}

    def register(self, query, payload: bytes, content_format: int | None,
                 identity: str | None, remote) -> Registration:
        """LwM2M 1.1 TS §6.2.1: the new registration, or Refusal."""
        params = parse_query(query, {"ep", "lt", "lwm2m", "b", "sms", "Q"})
        endpoint = params.get("ep")
        if endpoint is None or not _ENDPOINT.fullmatch(endpoint):
            raise Refusal(400, "ep: the endpoint name is required (1 to 128 characters: "
                          "letters, digits, . _ : @ + -)")
        self._check_identity(endpoint, identity)
        lifetime = _lifetime(params.get("lt", str(DEFAULT_LIFETIME)))
        version = params.get("lwm2m", "1.0")
        if version not in VERSIONS:
            raise Refusal(400, f"lwm2m={version[:20]!r}: supported {', '.join(VERSIONS)}")
        binding = _binding(params.get("b", "U"))
        objects = parse_objects(payload, content_format)
        self.expire()
        if endpoint not in self._by_endpoint and len(self._by_endpoint) >= self.limit:
            raise Refusal(503, f"the directory is full ({self.limit} registrations)")
        self._remove(self._by_endpoint.get(endpoint))
        now = self._wall()
        registration = Registration(f"/rd/{secrets.token_hex(8)}", endpoint, identity, objects,
                                    lifetime, binding, version, now, now,
                                    self._clock() + lifetime, remote)
        self._by_location[registration.location] = registration
        self._by_endpoint[endpoint] = registration
        return registration

    def update(self, location: str, query, payload: bytes, content_format: int | None,
               identity: str | None, remote) -> Registration:
        """LwM2M 1.1 TS §6.2.2: lifetime, binding or objects anew (those given); the source
        address is the latest request's."""
        registration = self._owned(location, identity)
        params = parse_query(query, {"lt", "b", "sms", "Q"})
        lifetime = _lifetime(params["lt"]) if "lt" in params else registration.lifetime
        binding = _binding(params["b"]) if "b" in params else registration.binding
        objects = parse_objects(payload, content_format) if payload else registration.objects
        registration.lifetime, registration.binding, registration.objects = (lifetime, binding,
                                                                              objects)
        registration.updated, registration.expires = self._wall(), self._clock() + lifetime
        registration.remote, registration.reachable = remote, True
        return registration

    def deregister(self, location: str, identity: str | None) -> Registration:
        """LwM2M 1.1 TS §6.2.3."""
        registration = self._owned(location, identity)
        self._remove(registration)
        return registration

    def get(self, endpoint: str) -> Registration | None:
        self.expire()
        return self._by_endpoint.get(endpoint)

    def devices(self) -> list[Registration]:
        """The registrations, by endpoint name."""
        self.expire()
        return [self._by_endpoint[name] for name in sorted(self._by_endpoint)]

    def mark(self, registration: Registration, reachable: bool) -> None:
        """Whether the last request sent to it was answered."""
        registration.reachable = reachable

    def expire(self) -> list[Registration]:
        """Remove the registrations whose lifetime passed without an update."""
        now = self._clock()
        gone = [r for r in self._by_location.values() if r.expires <= now]
        for registration in gone:
            self._remove(registration)
        return gone

    def _check_identity(self, endpoint: str, identity: str | None) -> None:
        if self.identities is None:
            return
        expected = self.identities.get(endpoint)
        if expected is None:
            raise Refusal(403, f"endpoint {endpoint!r} has no credentials on this server")
        if identity != expected:
            raise Refusal(403, f"endpoint {endpoint!r} must authenticate with its own PSK "
                          "identity")

    def _owned(self, location: str, identity: str | None) -> Registration:
        self.expire()
        registration = self._by_location.get(location)
        if registration is None:
            raise Refusal(404, f"no registration at {location[:80]}")
        if self.identities is not None and identity != registration.identity:
            raise Refusal(403, f"the registration at {location} is not this client's")
        return registration

    def _remove(self, registration: Registration | None) -> None:
        if registration is not None:
            del self._by_location[registration.location]
            del self._by_endpoint[registration.endpoint]
