"""``pipsim serve``: a device image on the network, its LwM2M client over CoAP (aiocoap).

The image boots, its runtime starts, and every LwM2M resource a domain serves is a CoAP
resource (``pipsim.domains.lwm2m``: D3.3 commands in, answers out).  Transport security is DTLS with
a pre-shared key per client endpoint (D3.3 §3.2's identity / key table; ``--psk IDENTITY:KEY``,
repeatable; aiocoap's tinydtls server transport): a client without one of them gets no
answer.  Plain CoAP only with ``--plain``, which warns.  With ``--server`` the device registers
with an LwM2M server (``pipsim.domains.registration``; over DTLS with ``--server coaps://...
--server-psk IDENTITY:KEY``), which may then send its requests back over that session.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path

import aiocoap
import aiocoap.resource

from pipsim.kernel.argtypes import count_in
from pipsim.kernel.coaps import bind_arg, code_of, open_server, psk_arg, warn_plain
from pipsim.kernel.keyfiles import private_dir, write_private
from pipsim.kernel.needs import require

from .lwm2m import LwM2MClient
from .registration import Registration

ATTESTATION_KEY = "attestation.pub"      # export_keys: the verifier's enrolment (pipsim attest)

DEFAULT_PORT = 5684                      # coaps (RFC 7252 §12.7)


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


async def open_device(client: LwM2MClient, host: str, port: int, psks=(), plain: bool = False):
    """The server context: DTLS-PSK on (host, port), or plain CoAP with ``plain``."""
    return await open_server(site(client), host, port, psks, plain)


def export_keys(runtime, image, folder: Path) -> list[Path]:
    """Each domain server's issuing key (its enrolment copy) as DIR/<domain>.cose, 0600 (DIR:
    0700), and
    the device's attestation public key as DIR/attestation.pub (a verifier's enrolment)."""
    private_dir(folder)
    written = []
    for key in image.keys:
        path = folder / f"{runtime.lifecycle.domain_of[key.holder]}.cose"
        write_private(path, runtime.enrol(key.holder, key.kid), replace=True)
        written.append(path)
    path = folder / ATTESTATION_KEY
    path.write_bytes(image.measurements.root.public_key().to_bytes())
    return written + [path]


async def run(args) -> int:
    from pipsim import partitions
    from pipsim.trust import measured

    from .runtime import Runtime
    manifest = partitions.load(args.image, args.arch)
    if args.name:                       # a device of a fleet: its own name, the image's pieces
        manifest = dataclasses.replace(manifest, name=args.name)
    image = partitions.boot(manifest, measured(manifest.name))
    runtime = Runtime(image)
    runtime.run()        # what components say at boot (a small device's port: its paths)
    client = LwM2MClient(runtime, image.manifest.name, args.endpoint)
    if args.export_keys:
        for path in export_keys(runtime, image, Path(args.export_keys)):
            print(f"wrote {path}", file=sys.stderr)
    if args.plain:
        warn_plain("pipsim serve", "commands and answers")
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
            registration = Registration(site(client), client.endpoint, client.objects(),
                                        args.server, args.server_psk, args.lifetime)
            print(f"registered at {args.server}{await registration.register()}", file=sys.stderr)
            keeper = asyncio.create_task(registration.keep())
        scheme = "coap" if args.plain else "coaps"
        print(f"{image.manifest.name} serving {scheme}://{args.host}:{args.port} "
              f"({len(client.paths())} resources)", file=sys.stderr, flush=True)
        stop = asyncio.Event()       # before the ready file: a signal after it stops cleanly
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.ready_file:          # whole when it appears (written aside, then renamed)
            aside = Path(f"{args.ready_file}.part")
            aside.write_text(f"{scheme}://{args.host}:{args.port}\n")
            os.replace(aside, args.ready_file)
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


def register(subparsers) -> None:
    from .gateway import IMAGE
    serve = subparsers.add_parser("serve", help="boot a device image and serve its LwM2M "
                                  "objects over CoAP (DTLS-PSK)",
                                  description=__doc__.splitlines()[0])
    serve.add_argument("image", nargs="?", default=IMAGE, help="device-image manifest (default: "
                       "the gateway)")
    serve.add_argument("--arch", choices=("arm", "x86"), help="the image's machine")
    serve.add_argument("--bind", default=f"127.0.0.1:{DEFAULT_PORT}", type=bind_arg,
                       help=f"HOST:PORT (default 127.0.0.1:{DEFAULT_PORT})")
    serve.add_argument("--psk", action="append", type=psk_arg, default=[],
                       help="IDENTITY:KEY of a client endpoint (repeatable)")
    serve.add_argument("--plain", action="store_true", help="plain CoAP, no DTLS (warns)")
    serve.add_argument("--server", help="LwM2M server to register with: coaps://HOST:PORT "
                       "(with --server-psk) or coap://HOST:PORT")
    serve.add_argument("--server-psk", type=psk_arg, metavar="IDENTITY:KEY",
                       help="the device's PSK identity and key for a coaps:// server")
    serve.add_argument("--endpoint", help="LwM2M endpoint name (default: the image's name)")
    serve.add_argument("--name", help="the device's name, which commands carry (default: the "
                       "image's)")
    serve.add_argument("--lifetime", type=count_in(1), default=300, help="registration lifetime (s)")
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
    if args.server_psk and not args.server:
        raise ValueError("--server-psk is the device's key for its --server")
    if args.secure_channel or args.channel_admin:
        from .secure_channel import options
        args.secure_channel, args.channel_admin = options(args.secure_channel, args.channel_admin)
    if not args.plain or args.server_psk:
        require("DTLSSocket")                  # the arguments checked, before the image boots
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))
