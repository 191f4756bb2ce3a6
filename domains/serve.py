"""``pipsim serve``: a device image on the network, its LwM2M client over CoAP (aiocoap).

The image boots, its runtime starts, and every LwM2M resource a domain serves is a CoAP
resource (``domains.lwm2m``: D3.3 commands in, answers out).  Transport security is DTLS with
a pre-shared key per client endpoint (D3.3 §3.2's identity / key table; ``--psk IDENTITY:KEY``,
repeatable; aiocoap's tinydtls server transport): a client without one of them gets no
answer.  Plain CoAP only with ``--plain``, which warns.  With ``--server`` the device registers
with an LwM2M server (LwM2M 1.1 TS §5.3 / §6.2: POST /rd?ep=...&lt=...&lwm2m=1.1&b=U with its
object list, updates every half lifetime, de-registers on the way out).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import aiocoap
import aiocoap.resource
from aiocoap.credentials import CredentialsMap
from aiocoap.numbers.codes import Code
from aiocoap.transports import tinydtls_server

from .lwm2m import LINK_FORMAT, LwM2MClient

log = logging.getLogger("pipsim.serve")
DEFAULT_PORT = 5684                      # coaps (RFC 7252 §12.7)
MAX_PEERS = 256                          # DTLS peers (source addresses) kept at once


def code_of(status: int) -> Code:
    """The CoAP code "c.dd" of a status written as c*100 + dd (205 → 2.05)."""
    return Code((status // 100) << 5 | status % 100)


class _Object(aiocoap.resource.Resource, aiocoap.resource.PathCapable):
    """One LwM2M object of the device, every path below it (instances come and go: object
    26261 has one per domain): every method goes to the client."""

    def __init__(self, client: LwM2MClient, object_id: int):
        super().__init__()
        self.client, self.object_id = client, object_id

    async def render(self, request):
        try:
            path = (self.object_id, *(int(p) for p in request.opt.uri_path))
        except ValueError:
            raise aiocoap.error.NotFound() from None
        reply = self.client.handle(request.code.name, path, request.payload,
                                   request.opt.content_format, request.opt.accept)
        return aiocoap.Message(code=code_of(reply.code), payload=reply.payload,
                               content_format=reply.content_format)

    def get_resources_as_linkheader(self):
        from aiocoap.util.linkformat import Link, LinkFormat
        return LinkFormat([Link("/" + "/".join(map(str, path[1:])))
                           for path in self.client.paths() if path[0] == self.object_id])


def site(client: LwM2MClient) -> aiocoap.resource.Site:
    root = aiocoap.resource.Site()
    root.add_resource([".well-known", "core"],
                      aiocoap.resource.WKCResource(root.get_resources_as_linkheader))
    for object_id in sorted({path[0] for path in client.paths()}):
        root.add_resource([str(object_id)], _Object(client, object_id))
    return root


def credentials(psks) -> CredentialsMap:
    """aiocoap's server credentials for (identity, key) pairs."""
    creds = CredentialsMap()
    creds.load_from_dict({f":{identity}": {"dtls": {"psk": {"ascii": key},
                                                    "client-identity": {"ascii": identity}}}
                          for identity, key in psks})
    return creds


class _BoundedPeers(tinydtls_server._DatagramServerSocketSimpleDTLS):
    """aiocoap's DTLS server socket keeps a DTLS state for every source address that sent it
    a datagram, without bound (its ``_maybe_purge_sockets`` is never called by the DTLS
    variant): a handshake flood from many source ports would grow it without end.  Here at
    most ``MAX_PEERS``, the least recently active dropped first (it may handshake again)."""

    max_sockets = MAX_PEERS

    def datagram_received(self, data, sockaddr):
        if sockaddr not in self._connections:
            self._maybe_purge_sockets()
        super().datagram_received(data, sockaddr)


class _DTLSServer(tinydtls_server.MessageInterfaceTinyDTLSServer):
    _serversocket = _BoundedPeers


async def open_device(client: LwM2MClient, host: str, port: int, psks=(), plain: bool = False):
    """The server context: DTLS-PSK on (host, port), or plain CoAP with ``plain``."""
    if plain:
        return await aiocoap.Context.create_server_context(site(client), bind=(host, port),
                                                           transports=["udp6"])
    context = aiocoap.Context(serversite=site(client), loggername="coap-server",
                              server_credentials=credentials(psks))
    # aiocoap takes transports by name only; this is its own set-up of "tinydtls_server"
    # (protocol.Context.create_server_context), with the bounded socket.  Its DTLS server
    # binds the given port + 1 (5683 + 1 = 5684): hand it port - 1.
    await context._append_tokenmanaged_messagemanaged_transport(
        lambda manager: _DTLSServer.create_server((host, port - 1), manager, log=context.log,
                                                  loop=context.loop,
                                                  server_credentials=context.server_credentials))
    return context


class Registration:
    """The device's registration with an LwM2M server (LwM2M 1.1 TS §6.2.1–6.2.3)."""

    def __init__(self, client: LwM2MClient, server: str, lifetime: int = 300):
        self.client, self.server, self.lifetime = client, server.rstrip("/"), lifetime
        self.location: str | None = None
        self._context = None

    async def register(self) -> str:
        self._context = await aiocoap.Context.create_client_context()
        query = f"ep={self.client.endpoint}&lt={self.lifetime}&lwm2m=1.1&b=U"
        response = await self._request(aiocoap.POST, f"{self.server}/rd?{query}",
                                       self.client.objects().encode())
        if response.code != aiocoap.CREATED or not response.opt.location_path:
            raise ConnectionError(f"{self.server} refused the registration: {response.code}")
        self.location = "/" + "/".join(response.opt.location_path)
        return self.location

    async def update(self) -> None:
        response = await self._request(aiocoap.POST, self.server + self.location, None)
        if not response.code.is_successful():
            raise ConnectionError(f"{self.server} refused the update: {response.code}")

    async def deregister(self) -> None:
        if self.location is not None:
            await self._request(aiocoap.DELETE, self.server + self.location, None)
            self.location = None
        await self._context.shutdown()

    async def keep(self) -> None:
        """Update every half lifetime until cancelled."""
        while True:
            await asyncio.sleep(self.lifetime / 2)
            await self.update()

    async def _request(self, code, uri: str, payload: bytes | None):
        message = aiocoap.Message(code=code, uri=uri)
        if payload is not None:
            message.payload, message.opt.content_format = payload, LINK_FORMAT
        return await asyncio.wait_for(self._context.request(message).response, 30)


def export_keys(runtime, image, folder: Path) -> list[Path]:
    """Each domain server's issuing key (its enrolment copy) as DIR/<domain>.cose, 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key in image.keys:
        path = folder / f"{runtime.lifecycle.domain_of[key.holder]}.cose"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(runtime.enrol(key.holder, key.kid))
        written.append(path)
    return written


async def run(args) -> int:
    import partitions

    from .runtime import Runtime
    image = partitions.boot(partitions.load(args.image, args.arch))
    runtime = Runtime(image)
    client = LwM2MClient(runtime, image.manifest.name, args.endpoint)
    if args.export_keys:
        for path in export_keys(runtime, image, Path(args.export_keys)):
            print(f"wrote {path}", file=sys.stderr)
    if args.plain:
        print("pipsim serve: WARNING: plain CoAP: commands and answers cross the network "
              "unprotected (D3.3 §2.2 asks for DTLS)", file=sys.stderr)
    context = await open_device(client, args.host, args.port, args.psk, args.plain)
    registration = keeper = channel = None
    try:
        if args.secure_channel:
            from .secure_channel import open_channel
            channel, url = await open_channel(runtime, client, image, args.secure_channel,
                                              args.channel_admin)
            print(f"secure channel on {url} (D3.3 §3.5), administrator "
                  f"{args.channel_admin[0]!r}", file=sys.stderr)
        if args.server:
            registration = Registration(client, args.server, args.lifetime)
            print(f"registered at {args.server}{await registration.register()}", file=sys.stderr)
            keeper = asyncio.create_task(registration.keep())
        scheme = "coap" if args.plain else "coaps"
        print(f"{image.manifest.name} serving {scheme}://{args.host}:{args.port} "
              f"({len(client.paths())} resources)", file=sys.stderr, flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text(f"{scheme}://{args.host}:{args.port}\n")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if channel is not None:
            await channel.stop()
        if keeper is not None:
            keeper.cancel()
        if registration is not None:
            await registration.deregister()
        await context.shutdown()
    return 0


def _psk(text: str) -> tuple[str, str]:
    identity, sep, key = text.partition(":")
    if not sep or not identity or not key:
        raise argparse.ArgumentTypeError(f"--psk takes IDENTITY:KEY, not {text!r}")
    return identity, key


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--bind takes HOST:PORT, not {text!r}")
    if host in ("0.0.0.0", "::", "[::]"):
        raise argparse.ArgumentTypeError("--bind needs one address: aiocoap's DTLS server "
                                         "cannot bind any-address")
    return host.strip("[]"), int(port)


def register(subparsers) -> None:
    from .gateway import IMAGE
    serve = subparsers.add_parser("serve", help="boot a device image and serve its LwM2M "
                                  "objects over CoAP (DTLS-PSK)",
                                  description=__doc__.splitlines()[0])
    serve.add_argument("image", nargs="?", default=IMAGE, help="device-image manifest (default: "
                       "the gateway)")
    serve.add_argument("--arch", choices=("arm", "x86"), help="the image's machine")
    serve.add_argument("--bind", default=f"127.0.0.1:{DEFAULT_PORT}", type=_bind,
                       help=f"HOST:PORT (default 127.0.0.1:{DEFAULT_PORT})")
    serve.add_argument("--psk", action="append", type=_psk, default=[],
                       help="IDENTITY:KEY of a client endpoint (repeatable)")
    serve.add_argument("--plain", action="store_true", help="plain CoAP, no DTLS (warns)")
    serve.add_argument("--server", help="LwM2M server to register with, e.g. coap://host:5683")
    serve.add_argument("--endpoint", help="LwM2M endpoint name (default: the image's name)")
    serve.add_argument("--lifetime", type=int, default=300, help="registration lifetime (s)")
    serve.add_argument("--export-keys", metavar="DIR",
                       help="write the domain servers' keys as DIR/<domain>.cose (0600)")
    serve.add_argument("--ready-file", help="written once the device listens")
    channel = serve.add_argument_group("the Secure Channel (D3.3 §3.5; docs/secure-channel.md)")
    channel.add_argument("--secure-channel", metavar="PORT",
                         help="serve it on http://127.0.0.1:PORT (loopback only)")
    channel.add_argument("--channel-admin", metavar="IDENTITY:KEY",
                         help="its administrator's credentials (required with it)")
    serve.set_defaults(func=_main)


def _main(args) -> int:
    args.host, args.port = args.bind
    if not args.plain and not args.psk:
        raise ValueError("give the clients' keys (--psk IDENTITY:KEY), or --plain")
    if args.secure_channel or args.channel_admin:
        from .secure_channel import options
        args.secure_channel, args.channel_admin = options(args.secure_channel, args.channel_admin)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))
