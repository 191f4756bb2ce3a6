"""The admin server's LwM2M server through its Python API, on an event loop of its own (a
thread), for tests that drive it while devices run in processes."""
import asyncio
import threading
import time

import pytest

from pipsim.management.lwm2m_server import AdminServer
from outside import skip_unless

ENDPOINTS = [("lc1", "lc1", "111111"), ("lc2", "lc2", "222222")]    # D3.3 §3.2's table


async def _now(function, *args):
    return function(*args)


class Running:
    """An ``AdminServer`` listening on 127.0.0.1:``port``; ``call`` runs a coroutine on its
    loop, ``api`` is the server."""

    def __init__(self, port: int, psks=ENDPOINTS, **options):
        if not options.get("plain"):
            skip_unless("DTLSSocket")
        self.port, self.loop = port, asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api = AdminServer(psks, **options)
        self.call(self.api.start("127.0.0.1", port))

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def submit(self, coroutine):
        """The coroutine started, its future (``.result(timeout)``)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def device(self, endpoint: str):
        return self.call(_now(self.api.device, endpoint))

    def devices(self):
        return self.call(_now(self.api.devices))

    def wait_for(self, endpoint: str, other_than: str | None = None, seconds: float = 60):
        """The endpoint's entry, once registered (at a location other than ``other_than``)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            entry = self.device(endpoint)
            if entry is not None and entry["location"] != other_than:
                return entry
            time.sleep(0.05)
        pytest.fail(f"{endpoint} did not register within {seconds} s")

    def stop(self) -> None:
        try:
            self.call(self.api.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
