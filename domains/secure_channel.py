"""The Secure Channel on the device (D3.3 §3.5, §4.5): a local-only REST interface (aiohttp)
linking privileged services to the applications allowed to run them.  docs/secure-channel.md.

Every endpoint takes ``?identity=<id>&key=<key>``; the administrator (``--channel-admin
IDENTITY:KEY``, given when the device starts) adds and deletes services and applications, an
application lists and runs the services its policy links it to.  A service runs an operation
of ``pipsim.domains.channel_operations``' catalogue, as the owner domain, through the device's own
entry point.  Errors are D3.3 §4.5's: HTTP 200 with ``{"error": "..."}``; a request from
anywhere but the loopback (or naming another host: DNS rebinding) is refused with 403 before
anything else.  It listens on one loopback address only.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from .channel_operations import InvalidOperation, Operations
from .channel_policy import (DECOY, Credential, Policy, PolicyError, check_name)

log = logging.getLogger("pipsim.channel")
MAX_BODY = 4096                  # bytes of a request body
MAX_HASHING = 2                  # key checks (scrypt) at once: a flood costs bounded CPU
LOCAL_NAMES = ("localhost",)


class ChannelError(Exception):
    """A request refused (D3.3 §4.5: HTTP 200, ``{"error": ...}``); nothing was changed."""


@dataclass(frozen=True)
class Caller:
    identity: str
    admin: bool


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address in LOCAL_NAMES


def _host(request: web.Request) -> str | None:
    """The host the request names (its Host header), None if that does not parse."""
    try:
        return request.url.host
    except ValueError:
        return None


class SecureChannel:
    """The REST interface over a ``Policy``, running ``operations``; ``admin`` is the
    administrator's (identity, key)."""

    def __init__(self, operations: Operations, admin: tuple[str, str]):
        self.operations = operations
        self._admin = Credential.make(*admin)
        self.policy = Policy(self._admin.identity)
        self._hashing = asyncio.Semaphore(MAX_HASHING)
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._local_only])
        app.add_routes([
            web.get("/service", self.list_services), web.put("/service", self.add_service),
            web.get("/service/{service}", self.applications),
            web.put("/service/{service}", self.add_application),
            web.post("/service/{service}", self.run),
            web.delete("/service/{service}", self.delete_service),
            web.get("/service/{service}/{application}", self.application),
            web.delete("/service/{service}/{application}", self.delete_application)])
        return app

    async def start(self, port: int, host: str = "127.0.0.1") -> str:
        """Listen on ``host`` (a loopback address: anything else is refused) and ``port``."""
        if not _loopback(host) or host in LOCAL_NAMES:
            raise ValueError(f"the Secure Channel listens on a loopback address only, not {host}")
        self._runner = web.AppRunner(self.app(), access_log=None)   # keys are in the URLs
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- every request ----
    @web.middleware
    async def _local_only(self, request: web.Request, handler):
        if not _loopback(request.remote) or not _loopback(_host(request)):
            log.warning("refused a request from %s for host %s", request.remote, request.host)
            return web.json_response({"error": "the Secure Channel is local only"}, status=403)
        try:
            return await handler(request)
        except (ChannelError, PolicyError, InvalidOperation) as error:
            return web.json_response({"error": str(error)})         # D3.3 §4.5: code 200

    async def _caller(self, request: web.Request) -> Caller:
        """Who asks: the administrator or an application, by its identity and key."""
        given = [request.query.getall(name, []) for name in ("identity", "key")]
        if any(len(values) != 1 for values in given):
            raise ChannelError("give ?identity=<id>&key=<key>, each once")
        (identity,), (key,) = given
        admin = identity == self._admin.identity

        def known():
            return self._admin if admin else self.policy.credential(identity)
        credential = known()              # an unknown identity costs a key check too: DECOY
        matched = await self._matches(credential or DECOY, key)
        if not matched or credential is None or known() is not credential:  # deleted meanwhile
            raise ChannelError("unknown identity or wrong key")
        return Caller(identity, admin)

    async def _matches(self, credential: Credential, key: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(credential.matches, key)

    async def _administrator(self, request: web.Request, what: str) -> None:
        if not (await self._caller(request)).admin:
            raise ChannelError(f"only the administrator may {what}")

    @staticmethod
    async def _body(request: web.Request, required: tuple[str, ...],
                    optional: tuple[str, ...] = ()) -> dict:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ChannelError(f"the body is over {MAX_BODY} bytes") from None
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ChannelError("the body is not JSON") from None
        expected = "{" + ", ".join([*required, *(f"[{name}]" for name in optional)]) + "}"
        if not isinstance(body, dict):
            raise ChannelError(f"the body must be a JSON object {expected}")
        missing = [name for name in required if name not in body]
        unknown = sorted(set(body) - set(required) - set(optional))
        if missing or unknown:
            raise ChannelError(f"the body is {expected}"
                               + (f"; missing {', '.join(missing)}" if missing else "")
                               + (f"; unknown {', '.join(map(repr, unknown))}" if unknown else ""))
        return body

    # ---- D3.3 §4.5's eight endpoints ----
    async def list_services(self, request: web.Request) -> web.Response:
        """GET /service: every service (the administrator), or the caller's."""
        caller = await self._caller(request)
        return web.json_response({"service": self.policy.services(
            None if caller.admin else caller.identity)})

    async def add_service(self, request: web.Request) -> web.Response:
        """PUT /service {"service", "command"}: the command names a catalogue operation."""
        await self._administrator(request, "add services")
        body = await self._body(request, ("service", "command"))
        words = self.operations.check(body["command"])
        self.policy.add_service(body["service"], words)
        log.info("service %s added: %s", body["service"], " ".join(words))
        return web.json_response({"service": body["service"], "command": " ".join(words)})

    async def applications(self, request: web.Request) -> web.Response:
        """GET /service/<name>: its applications."""
        await self._administrator(request, "list a service's applications")
        return web.json_response({"applications": self.policy.applications(
            request.match_info["service"])})

    async def add_application(self, request: web.Request) -> web.Response:
        """PUT /service/<name> {"application", "identity", "key"}: link an application."""
        await self._administrator(request, "add applications")
        service = request.match_info["service"]
        body = await self._body(request, ("application", "identity", "key"))
        self.policy.command(service)                      # the service exists
        check_name(body["application"], "application")
        identity, key = body["identity"], body["key"]
        known = self.policy.credential(identity) if isinstance(identity, str) else None
        if known is None:
            async with self._hashing:
                credential = await asyncio.to_thread(Credential.make, identity, key)
        elif isinstance(key, str) and await self._matches(known, key):
            credential = known
        else:
            raise ChannelError(f"identity {identity!r} is known with another key")
        self.policy.add_application(service, body["application"], credential)
        log.info("application %s (%s) linked to service %s", body["application"], identity,
                 service)
        return web.json_response({"service": service, "application": body["application"]})

    async def run(self, request: web.Request) -> web.Response:
        """POST /service/<name> {"service", "params"}: run it; its result in the response."""
        caller = await self._caller(request)
        service = request.match_info["service"]
        if caller.admin:
            raise ChannelError("the administrator runs no service: link an application to it")
        body = await self._body(request, (), ("service", "params"))
        if body.get("service", service) != service:
            raise ChannelError(f"the body names service {body['service']!r}, the URL {service!r}")
        params = body.get("params", [])
        if isinstance(params, str):
            params = params.split()
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ChannelError("params: a string of words, or a list of strings")
        command = self.policy.command(service)
        if not self.policy.may_run(caller.identity, service):
            raise ChannelError(f"identity {caller.identity!r} is not linked to service "
                               f"{service!r}")
        result = self.operations.run(command, params)
        log.info("%s ran %s %s: exit %d", caller.identity, service, params, result.exit)
        return web.json_response({"service": service, "exit": result.exit,
                                  "output": result.output})

    async def delete_service(self, request: web.Request) -> web.Response:
        """DELETE /service/<name>, its applications' links with it."""
        await self._administrator(request, "delete services")
        self.policy.delete_service(request.match_info["service"])
        return web.json_response({"deleted": request.match_info["service"]})

    async def application(self, request: web.Request) -> web.Response:
        """GET /service/<name>/<app>: the application's name and identity; its key is never
        returned (the channel keeps only its digest): ``"key": null``."""
        await self._administrator(request, "read an application's data")
        service, name = request.match_info["service"], request.match_info["application"]
        return web.json_response({"application": name,
                                  "identity": self.policy.identity(service, name), "key": None})

    async def delete_application(self, request: web.Request) -> web.Response:
        """DELETE /service/<name>/<app>."""
        await self._administrator(request, "delete applications")
        service, name = request.match_info["service"], request.match_info["application"]
        self.policy.delete_application(service, name)
        return web.json_response({"deleted": name})


async def open_channel(runtime, client, image, port: int, admin: tuple[str, str]
                       ) -> tuple[SecureChannel, str]:
    """The device's Secure Channel, listening on 127.0.0.1:``port``: (it, its URL)."""
    channel = SecureChannel(Operations(runtime, client, image), admin)
    return channel, await channel.start(port)


def options(port: str | None, admin: str | None) -> tuple[int, tuple[str, str]]:
    """``pipsim serve --secure-channel PORT --channel-admin IDENTITY:KEY``, checked."""
    if not port or not admin:
        raise ValueError("--secure-channel PORT and --channel-admin IDENTITY:KEY go together")
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--secure-channel takes a port, not {port!r}")
    identity, sep, key = admin.partition(":")
    if not sep or not key:
        raise ValueError("--channel-admin takes IDENTITY:KEY")
    try:
        Credential.check(identity, key)
    except PolicyError as error:
        raise ValueError(f"--channel-admin: {error}") from None
    return int(port), (identity, key)
