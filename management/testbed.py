"""The whole D3.3 §2.1 chain on loopback, for load tests and benchmarks (docs/fleet.md): a CA
(``pki``), the Keystore Manager, one domain's Token Generator, the admin server, and a fleet of
devices registered with it over DTLS, each with its own PSK there (``fleet.make_server_keys``)
and its own issuing key in the generator's policy (``device_keys``).  Every service is a
``pipsim`` process of its own, every wait bounded; ``stop()`` (or the ``with`` block's end)
ends them all.

    with ChainTestbed(root, devices=20) as bed:
        async with bed.client() as (session, keystore):
            await bed.route.run(session, keystore, command_map(DOMAIN, "dev-003", "read", LAMP,
                                                               None, 7))
"""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

from . import pki, service
from .admin import Route
from .device import free_ports
from .fleet import Fleet, make_server_keys, write_server_keys
from .keystore import KeystoreClient

DOMAIN, APPLICATION = "provider-a", "provider-a"      # the domain, its application's identity
LAMP, SETTING = "3311/0/5850", "32769/0/1"            # what the policy grants it
START_TIMEOUT = 60.0


class TestbedError(RuntimeError):
    """A service that did not start, or devices that did not register, in time."""


class Service:
    """``pipsim COMMAND ...`` in a process of its own, ready once its ready file exists
    (``urls``: its lines, ``uri`` the first); its output goes to a log beside that file."""

    def __init__(self, ready: Path, argv: list, env: dict | None = None):
        self.ready, self.log = ready, ready.with_name(ready.name + ".log")
        self.ready.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipsim.kernel.cli", *map(str, argv),
                 "--ready-file", str(self.ready)], stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise TestbedError(f"pipsim {argv[0]} did not start: {self.output[-2000:]}")
            time.sleep(0.05)
        self.urls = self.ready.read_text().split()
        self.uri = self.urls[0]

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM (SIGKILL after 15 s); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.process.returncode


class ChainTestbed:
    """``devices`` devices (2..256) behind one admin server; ``lifetime``: their
    registrations' (s); ``relay_timeout``: the admin server's wait for a device (s)."""

    def __init__(self, root: str | os.PathLike, devices: int, *, lifetime: int = 20,
                 relay_timeout: float = 5.0):
        self.root, self.n = Path(root), devices
        self.lifetime, self.relay_timeout = lifetime, relay_timeout
        self.services: dict[str, Service] = {}
        self.fleet: Fleet | None = None
        self.route: Route | None = None
        self.keystore = self.tls = None

    def __enter__(self) -> "ChainTestbed":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        root = self.root
        ca = pki.init(root / "pki")
        for server in ("keystore", "tg", "admin-server"):
            pki.issue(ca, server, [])
        pki.issue(ca, APPLICATION)
        self.tls = ca / APPLICATION
        self.server_keys = make_server_keys(self.n)
        write_server_keys(root / "server-keys.json", self.server_keys)
        self.coap = f"127.0.0.1:{free_ports('127.0.0.1')[0]}"
        self.start_admin()
        env = {**os.environ, "PIPSIM_KEYSTORE_PASSPHRASE": secrets.token_urlsafe(16)}
        self.keystore = self._serve("keystore", [
            "keystore", "--bind", "127.0.0.1:0", "--tls", ca / "keystore", "--store",
            root / "store", "--reader", "tg"], env).urls[0]
        self.fleet = Fleet(self.n, server=self.coaps, lifetime=self.lifetime, keys=root / "keys",
                           server_keys=self.server_keys, named=True)
        self.fleet.start()
        devices = [d.endpoint for d in self.fleet.devices]
        (root / "policy.toml").write_text("\n".join([
            f'issuer = "{DOMAIN}-server"', f'key = "keys/{devices[0]}/{DOMAIN}.cose"',
            f'audience = "{DOMAIN}"', "[device_keys]",
            *(f'"{d}" = "keys/{d}/{DOMAIN}.cose"' for d in devices),
            "[[grant]]", f'client = "{APPLICATION}"', f'domain = "{DOMAIN}"', 'devices = ["*"]',
            'operations = ["read", "write"]', f'paths = ["{LAMP}", "{SETTING}"]', ""]))
        generator = self._serve("tg", [
            "token-generator", "--bind", "127.0.0.1:0", "--tls", ca / "tg", "--keystore",
            self.keystore, "--policy", root / "policy.toml"]).urls[0]
        self.route = Route(generator, self.admin, DOMAIN)
        self._create_domain_key()
        self.wait_registered()

    @property
    def coaps(self) -> str:
        return f"coaps://{self.coap}"

    @property
    def admin(self) -> str:
        return self.services["admin-server"].urls[1]

    def start_admin(self) -> None:
        """(Re)start the admin server: its LwM2M server always on the same port."""
        if "admin-server" in self.services:
            self.services.pop("admin-server").stop()
        self._serve("admin-server", [
            "admin-server", "--coap", self.coap, "--psk-file", self.root / "server-keys.json",
            "--timeout", self.relay_timeout, "--bind", "127.0.0.1:0",
            "--tls", self.root / "pki" / "admin-server"])
        if self.route is not None:
            self.route = Route(self.route.generator, self.admin, DOMAIN)

    def _serve(self, name: str, argv: list, env: dict | None = None) -> Service:
        self.services[name] = Service(self.root / f"{name}.ready", argv, env)
        return self.services[name]

    def _create_domain_key(self) -> None:
        async def create():
            async with service.client_session(self.tls) as session:
                async with session.post(f"{self.keystore}/keys/{DOMAIN}") as answer:
                    if answer.status != 201:
                        raise TestbedError(f"keystore: {answer.status} {await answer.text()}")
        asyncio.run(create())

    def registered(self) -> list[str]:
        """The endpoints the admin server lists now."""
        async def listed():
            async with service.client_session(self.tls) as session:
                async with session.get(f"{self.admin}/devices") as answer:
                    return [d["endpoint"] for d in (await answer.json())["devices"]]
        return asyncio.run(listed())

    def wait_registered(self, timeout: float | None = None) -> None:
        """Until every live device is registered (bounded: by default two lifetimes and the
        re-registration backoff)."""
        deadline = time.monotonic() + (timeout or 2 * self.lifetime + 40)
        alive = {name for name, up in self.fleet.alive().items() if up}
        while not alive <= set(self.registered()):
            if time.monotonic() > deadline:
                raise TestbedError(f"not registered: {sorted(alive - set(self.registered()))}")
            time.sleep(0.5)

    @asynccontextmanager
    async def client(self):
        """(session, keystore client) of the application, for ``route.run``."""
        keystore = KeystoreClient(self.keystore, self.tls)
        try:
            async with service.client_session(self.tls) as session:
                yield session, keystore
        finally:
            await keystore.close()

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        for name in reversed(list(self.services)):
            self.services.pop(name).stop()

