"""What every management service shares: listening (aiohttp), caller authentication, clients.

A service is an ``aiohttp.web.Application`` plus these flags (:func:`add_arguments`)::

    --bind HOST:PORT       where to listen (port 0: any free port; the ready file tells it)
    --ready-file F         written, with the service's URL, once it listens
    --tls DIR              mutual TLS with the bundle DIR (``pipsim pki issue``): callers
                           must present a certificate of the same CA (else no handshake)
    --insecure-local       plain HTTP, callers unauthenticated: loopback addresses only

Use::

    app = web.Application(); app.router.add_get("/verify", handler)
    return service.run(app, service.Listen.from_args(args), "keystore")  # until SIGINT/SIGTERM

A handler learns who called with :func:`caller` (the client certificate's CN, or
:data:`LOCAL` under ``--insecure-local``).  Code that runs more than one server in its loop
uses :func:`listening` and :func:`stopped` instead of :func:`run`.  A service calls another
through :func:`client_session` (with its own certificate, or plain HTTP).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import ssl
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from pipsim.kernel.errors import PipsimError

from .pki import CA_CERT, CERT, KEY

LOCAL = "local"                 # the caller of an --insecure-local service: unauthenticated
CLIENT_TIMEOUT = 10.0           # seconds, for a whole request of client_session


class ServiceError(PipsimError):
    """A service cannot start as asked (flags, TLS bundle)."""


@dataclass(frozen=True)
class Listen:
    """Where and how a service listens; ``tls`` is the bundle, None for --insecure-local."""

    host: str
    port: int
    tls: Path | None
    ready_file: Path | None = None

    def __post_init__(self):
        if self.tls is None and not is_loopback(self.host):
            raise ServiceError(f"--insecure-local serves unauthenticated HTTP: bind a loopback "
                               f"address (127.0.0.1, ::1, localhost), not {self.host!r}")

    @classmethod
    def from_args(cls, args) -> Listen:
        host, port = args.bind
        tls = None if args.insecure_local else Path(args.tls)
        return cls(host, port, tls, Path(args.ready_file) if args.ready_file else None)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'http' if self.tls is None else 'https'}://{host}:{self.port if port is None else port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_address(text: str) -> tuple[str, int]:
    """An argparse type: ``HOST:PORT`` (IPv6 as ``[::1]:PORT``), port 0 to 65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--bind takes HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def add_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    """The flags every service takes (see the module's docstring)."""
    parser.add_argument("--bind", type=bind_address, default=("127.0.0.1", default_port),
                        metavar="HOST:PORT", help=f"where to listen (default 127.0.0.1:{default_port})")
    parser.add_argument("--ready-file", metavar="F", help="written with the URL once listening")
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--tls", metavar="DIR", help="mutual TLS with this bundle of `pipsim pki "
                      "issue NAME --server` (its ca.pem, cert.pem, key.pem)")
    auth.add_argument("--insecure-local", action="store_true",
                      help="plain HTTP without authentication, on a loopback address only")


def _bundle(directory: Path) -> tuple[Path, Path, Path]:
    paths = directory / CA_CERT, directory / CERT, directory / KEY
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ServiceError(f"TLS bundle {directory} has no {', '.join(missing)} "
                           "(make one with `pipsim pki issue`)")
    if os.stat(paths[2]).st_mode & 0o077:
        raise ServiceError(f"{paths[2]} is readable by others: chmod 600 it")
    return paths


def _context(purpose: ssl.Purpose, directory: Path) -> ssl.SSLContext:
    ca, cert, key = _bundle(directory)
    try:
        context = ssl.create_default_context(purpose, cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ServiceError(f"TLS bundle {directory}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(directory: Path) -> ssl.SSLContext:
    """TLS for a service: its certificate; callers must present one of the same CA."""
    context = _context(ssl.Purpose.CLIENT_AUTH, directory)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(directory: Path) -> ssl.SSLContext:
    """TLS for a caller: its certificate; the service's is checked against the CA and host."""
    return _context(ssl.Purpose.SERVER_AUTH, directory)


def caller(request: web.Request) -> str:
    """Who sent ``request``: its client certificate's common name (RFC 5280 §4.1.2.6), or
    :data:`LOCAL` on plain HTTP (served only by --insecure-local)."""
    transport = request.transport
    if transport is None:
        raise web.HTTPForbidden(text="the connection is gone")
    if transport.get_extra_info("ssl_object") is None:
        return LOCAL
    subject = (transport.get_extra_info("peercert") or {}).get("subject", ())
    names = [value for rdn in subject for key, value in rdn if key == "commonName"]
    if len(names) != 1:
        raise web.HTTPForbidden(text="the client certificate must name exactly one CN")
    return names[0]


def client_session(tls: str | os.PathLike | None, **kwargs) -> aiohttp.ClientSession:
    """A client for the other services: with the certificate bundle ``tls``, or plain HTTP
    (None).  Requests time out after CLIENT_TIMEOUT s unless ``timeout`` says otherwise."""
    kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=CLIENT_TIMEOUT))
    if tls is None:     # https:// URLs are still checked, against the system's CAs
        return aiohttp.ClientSession(**kwargs)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(Path(tls))), **kwargs)


@asynccontextmanager
async def listening(app: web.Application, listen: Listen, name: str) -> AsyncIterator[str]:
    """Serve ``app`` as ``listen`` says, inside the block; yields the URL (the actual port),
    which is also printed and written to the ready file."""
    context = None if listen.tls is None else server_context(listen.tls)
    if context is None:
        print(f"{name}: WARNING: --insecure-local: plain HTTP, callers are not authenticated "
              "(loopback only)", file=sys.stderr)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen.host, listen.port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            raise ServiceError(f"{name} cannot listen on {listen.host}:{listen.port}: {exc}") from None
        url = listen.url(runner.addresses[0][1])
        print(f"{name} serving {url}", file=sys.stderr, flush=True)
        if listen.ready_file is not None:
            write_ready(listen.ready_file, url)
        yield url
    finally:
        await runner.cleanup()


def write_ready(path: Path, *lines: str) -> None:
    """Write a ready file at once: readers never see it half-written."""
    partial = path.with_name(path.name + ".part")
    partial.write_text("".join(line + "\n" for line in lines))
    partial.replace(path)


@contextlib.contextmanager
def stop_signals():
    """An asyncio.Event set by SIGINT or SIGTERM, from entering until leaving (enter before
    writing a ready file: a signal right after it then stops cleanly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(app: web.Application, listen: Listen, name: str) -> int:
    """Serve ``app`` until SIGINT / SIGTERM, then shut down cleanly; exit status 0."""
    async def serve():
        with stop_signals() as stop:
            async with listening(app, listen, name):
                await stop.wait()
    asyncio.run(serve())
    return 0
