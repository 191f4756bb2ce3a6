"""The admin server's LwM2M server (D3.3 §3.2): the registration directory on the network,
the devices' PSK identities, the device list, and the relay of a command to a registered
device.

Devices reach it over CoAP + DTLS-PSK (aiocoap's DTLS server transport, ``pipsim.kernel.coaps``),
each client endpoint with the identity and key D3.3 §3.2's table gives it; a device may
register only under the endpoint name its identity belongs to (``pipsim.management.directory``).
Plain CoAP only when asked (``plain``), with a warning.

The relay follows LwM2M 1.1 TS §6.3 / §8: the server sends its Device Management request back
to the registration's source address, over the DTLS session the device opened when it
registered (its last Register or Update).  ``await server.send(endpoint, method, path,
payload, content_format)`` returns the device's answer as a ``pipsim.domains.lwm2m.Reply`` (code as
c.dd in an int, payload, content-format); a device that does not answer within ``timeout``
seconds (gone, killed, or its session lost) raises ``DeviceUnreachable``, one not registered
``UnknownDevice``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Iterable

import aiocoap
import aiocoap.resource

from pipsim.domains.lwm2m import Reply
from pipsim.kernel.argtypes import count_in, positive_seconds
from pipsim.kernel.coaps import (bind_arg, check_psk_key, code_of, open_server, psk_identity,
                             status_of, warn_plain)
from pipsim.kernel.errors import PipsimError

from .directory import MAX_REGISTRATIONS, Directory, Refusal
from .fleet import read_server_keys

log = logging.getLogger("pipsim.admin-server")
COAP_LOG = "pipsim.admin-server.coap"    # aiocoap's log of the server's context
DEFAULT_PORT = 5684                      # coaps (RFC 7252 §12.7)
RELAY_TIMEOUT = 10.0                     # seconds a device may take to answer a command
METHODS = ("GET", "PUT", "POST", "DELETE")
TEXT = 0                                 # content-format text/plain (RFC 7252 §12.3)


class UnknownDevice(PipsimError, LookupError):
    """No device is registered under that endpoint name."""


class DeviceUnreachable(PipsimError, ConnectionError):
    """The registered device did not answer in time (or its session is gone)."""


def _refused(refusal: Refusal) -> aiocoap.Message:
    return aiocoap.Message(code=code_of(refusal.code), payload=refusal.reason.encode(),
                           content_format=TEXT)


class _Register(aiocoap.resource.Resource):
    """``POST /rd``: Register (LwM2M 1.1 TS §6.2.1)."""

    def __init__(self, directory: Directory):
        super().__init__()
        self.directory = directory

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            registration = self.directory.register(
                request.opt.uri_query, request.payload, request.opt.content_format,
                psk_identity(request.remote), request.remote)
        except Refusal as refusal:
            return _refused(refusal)
        log.info("registered %s at %s (%d objects)", registration.endpoint,
                 registration.location, len(registration.objects))
        return aiocoap.Message(code=aiocoap.CREATED,
                               location_path=registration.location.split("/")[1:])


class _Registrations(aiocoap.resource.Resource, aiocoap.resource.PathCapable):
    """``/rd/{id}``: Update (POST, §6.2.2) and De-register (DELETE, §6.2.3)."""

    def __init__(self, directory: Directory):
        super().__init__()
        self.directory = directory

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        identity, method = psk_identity(request.remote), request.code
        try:
            if len(request.opt.uri_path) != 1:
                raise Refusal(404, "a registration is /rd/{id}")
            location = f"/rd/{request.opt.uri_path[0]}"
            if method == aiocoap.POST:
                self.directory.update(location, request.opt.uri_query, request.payload,
                                      request.opt.content_format, identity, request.remote)
                return aiocoap.Message(code=aiocoap.CHANGED)
            if method == aiocoap.DELETE:
                log.info("de-registered %s", self.directory.deregister(location,
                                                                       identity).endpoint)
                return aiocoap.Message(code=aiocoap.DELETED)
            raise Refusal(405, f"{method.name} on a registration: POST updates, DELETE "
                          "de-registers")
        except Refusal as refusal:
            return _refused(refusal)


class AdminServer:
    """The LwM2M server.  ``psks``: (endpoint, identity, key) per client endpoint (D3.3
    §3.2); ``plain``: no DTLS, no identities (any endpoint name registers)."""

    def __init__(self, psks: Iterable[tuple[str, str, str]] = (), plain: bool = False,
                 limit: int = MAX_REGISTRATIONS,
                 timeout: float = RELAY_TIMEOUT):
        psks = list(psks)
        for _, identity, key in psks:
            check_psk_key(identity, key)
        for what, values in (("endpoint", [p[0] for p in psks]),
                             ("identity", [p[1] for p in psks])):
            if len(set(values)) != len(values):
                raise ValueError(f"each client endpoint needs its own PSK {what}")
        if plain == bool(psks):
            raise ValueError("give the client endpoints' keys (ENDPOINT:IDENTITY:KEY), or "
                             "plain CoAP (where nobody is authenticated: no keys)")
        self.plain, self.timeout = plain, timeout
        self._psks = [(identity, key) for _, identity, key in psks]
        self.directory = Directory(None if plain else {endpoint: identity
                                                       for endpoint, identity, _ in psks}, limit)
        self._context: aiocoap.Context | None = None
        self.uri: str | None = None

    async def start(self, host: str, port: int) -> str:
        """Listen on (host, port): the server's URI (also ``uri``)."""
        site = aiocoap.resource.Site()
        site.add_resource(["rd"], _Register(self.directory))
        site.add_resource(["rd"], _Registrations(self.directory))
        self._context = await open_server(site, host, port, self._psks, self.plain,
                                          loggername=COAP_LOG)
        self.uri = f"{'coap' if self.plain else 'coaps'}://{host}:{port}"
        return self.uri

    async def stop(self) -> None:
        """Stop listening (nothing if it does not)."""
        if self._context is not None:
            await self._context.shutdown()
            self._context = None

    def devices(self) -> list[dict]:
        """The device list: each registration's endpoint, objects, lifetime, registration and
        update times, and whether the last request sent to it was answered."""
        return [registration.to_map() for registration in self.directory.devices()]

    def device(self, endpoint: str) -> dict | None:
        """One registration as ``devices`` lists it, or None."""
        registration = self.directory.get(endpoint)
        return None if registration is None else registration.to_map()

    async def send(self, endpoint: str, method: str, path: str, payload: bytes = b"",
                   content_format: int | None = None, accept: int | None = None) -> Reply:
        """Send an LwM2M request (``method`` GET / PUT / POST / DELETE on ``path``, e.g.
        "/3311/0/5850"; a D3.3 §4.2 command is a PUT with its JSON (50) or CBOR (60) body) to
        the registered device; its answer."""
        if method not in METHODS:
            raise ValueError(f"method {method!r}: one of {', '.join(METHODS)}")
        segments = path.strip("/").split("/")
        if not all(s.isdigit() and len(s) <= 5 for s in segments):
            raise ValueError(f"path {path!r}: an LwM2M path /O[/I[/R[/RI]]]")
        registration = self.directory.get(endpoint)
        if registration is None:
            raise UnknownDevice(f"no device registered as {endpoint!r}")
        if self._context is None:
            raise RuntimeError("the server is not started (start)")
        message = aiocoap.Message(code=aiocoap.Code[method], uri_path=segments, payload=payload,
                                  content_format=content_format, accept=accept)
        message.remote = registration.remote
        try:
            response = await asyncio.wait_for(self._context.request(message).response,
                                              self.timeout)
        except asyncio.TimeoutError:
            self.directory.mark(registration, False)
            raise DeviceUnreachable(f"{endpoint}: no answer within {self.timeout:g} s") \
                from None
        except (aiocoap.error.Error, OSError) as error:     # e.g. its DTLS session is gone
            self.directory.mark(registration, False)
            raise DeviceUnreachable(f"{endpoint}: unreachable ({type(error).__name__}: "
                                    f"{error})") from None
        self.directory.mark(registration, True)
        return Reply(status_of(response.code), response.payload, response.opt.content_format)


def endpoint_psk_arg(text: str) -> tuple[str, str, str]:
    """``--psk ENDPOINT:IDENTITY:KEY``."""
    endpoint, identity, key = (text.split(":", 2) + ["", ""])[:3]
    if not endpoint or not identity or not key:
        raise argparse.ArgumentTypeError(f"--psk takes ENDPOINT:IDENTITY:KEY, not {text!r}")
    try:
        return endpoint, identity, check_psk_key(identity, key)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The LwM2M server's options of ``pipsim admin-server``."""
    parser.add_argument("--coap", type=bind_arg, default=f"127.0.0.1:{DEFAULT_PORT}",
                        metavar="HOST:PORT", help="where devices register (default "
                        f"127.0.0.1:{DEFAULT_PORT})")
    parser.add_argument("--psk", action="append", type=endpoint_psk_arg, default=[],
                        metavar="ENDPOINT:IDENTITY:KEY", help="a client endpoint's PSK "
                        "identity and key (D3.3 §3.2; repeatable)")
    parser.add_argument("--psk-file", action="append", default=[], metavar="FILE",
                        help="client endpoints' PSKs from a fleet's server keys (`pipsim fleet "
                        "--make-server-keys`; 0600; repeatable)")
    parser.add_argument("--plain", action="store_true", help="plain CoAP, no DTLS, devices "
                        "not authenticated (warns)")
    parser.add_argument("--timeout", type=positive_seconds, default=RELAY_TIMEOUT,
                        help=f"seconds a device may take to answer (default {RELAY_TIMEOUT:g})")
    parser.add_argument("--max-registrations", type=count_in(1), default=MAX_REGISTRATIONS)


async def serving(args: argparse.Namespace) -> AdminServer:
    """The LwM2M server of ``args`` (``add_arguments``), started."""
    if args.plain:
        warn_plain("pipsim admin-server", "registrations and commands")
    psks = list(args.psk) + [(endpoint, identity, key) for path in args.psk_file
                             for endpoint, (identity, key) in read_server_keys(path).items()]
    server = AdminServer(psks, args.plain, args.max_registrations, args.timeout)
    await server.start(*args.coap)
    log.warning("admin server: LwM2M on %s (%d client endpoints)", server.uri, len(psks))
    return server
