"""The device's registration with its LwM2M server (LwM2M 1.1 TS §6.2: register, update,
de-register), and the session the server's requests come back on.

The client opens the session (over ``coaps://``: DTLS with the device's own PSK identity for
that server, D3.3 §3.2) and the server sends its Device Management requests back over it, to
the registration's source address (LwM2M 1.1 TS §6.3, §8): the registration's context serves
the device's site, so a command relayed by the server reaches the same LwM2M client a direct
DTLS client reaches.  The session is kept alive (held) for as long as the registration.

If an update fails (4.04: the server forgot the registration, e.g. it restarted; no answer in
time), the device registers again on a fresh session, retrying with backoff: at most
``RETRIES`` attempts in a sequence (``RETRY_DELAY`` doubling), then ``SEQUENCE_DELAY`` before
the next sequence (LwM2M 1.1 TS §6.2.1.1's Communication Retry Count / Retry Timer / Sequence
Delay Timer, shortened).  Its object list is the same each time.
"""
from __future__ import annotations

import asyncio
import sys
from urllib.parse import quote

import aiocoap

from pipsim.kernel.needs import require

from .lwm2m import LINK_FORMAT

REQUEST_TIMEOUT = 10.0                   # seconds an answer may take
RETRIES, RETRY_DELAY, SEQUENCE_DELAY = 5, 1.0, 60.0


class RegistrationError(ConnectionError):
    """The server refused a registration operation (``code``), or did not answer in time
    (``code`` None)."""

    def __init__(self, message: str, code=None):
        super().__init__(message)
        self.code = code


class Registration:
    """One registration of ``endpoint`` (its object list ``objects``, link-format) with the
    LwM2M server at ``server`` (``coap://`` or ``coaps://HOST:PORT``; ``psk``: the device's
    (identity, key) for a ``coaps://`` server), serving ``site`` to it."""

    def __init__(self, site, endpoint: str, objects: str, server: str,
                 psk: tuple[str, str] | None = None, lifetime: int = 300):
        self.server = server.rstrip("/")
        secure = self.server.startswith("coaps://")
        if secure != (psk is not None):
            raise ValueError("a coaps:// server needs the device's PSK for it (--server-psk "
                             "IDENTITY:KEY); a coap:// server takes none")
        self.site, self.endpoint, self.objects = site, endpoint, objects
        self.psk, self.lifetime = psk, lifetime
        self.timeout = min(REQUEST_TIMEOUT, max(1.0, lifetime / 2))
        self.location: str | None = None
        self._context = self._session = None

    async def register(self) -> str:
        """Register (on a fresh session): the registration's location (its Location-Path)."""
        await self._close()
        if self.psk:
            require("DTLSSocket")
        self._context = await aiocoap.Context.create_server_context(
            self.site, transports=["tinydtls" if self.psk else "simple6"])
        if self.psk:
            self._context.client_credentials.load_from_dict({f"{self.server}/*": {"dtls": {
                "psk": {"ascii": self.psk[1]}, "client-identity": {"ascii": self.psk[0]}}}})
        query = f"ep={quote(self.endpoint, safe='')}&lt={self.lifetime}&lwm2m=1.1&b=U"
        response = await self._request(aiocoap.POST, f"/rd?{query}", self.objects.encode())
        if response.code != aiocoap.CREATED or not response.opt.location_path:
            raise RegistrationError(f"{self.server} refused the registration: {response.code} "
                                    f"{response.payload.decode(errors='replace')}", response.code)
        self._session = response.remote          # the server's requests come back on it
        self.location = "/" + "/".join(response.opt.location_path)
        return self.location

    async def update(self) -> None:
        """LwM2M 1.1 TS §6.2.2: POST to the location, nothing changed."""
        response = await self._request(aiocoap.POST, self.location, None)
        if not response.code.is_successful():
            raise RegistrationError(f"{self.server} refused the update: {response.code}",
                                    response.code)

    async def deregister(self) -> None:
        """LwM2M 1.1 TS §6.2.3, best effort (the server may be gone), then close."""
        try:
            if self.location is not None:
                await self._request(aiocoap.DELETE, self.location, None)
        except RegistrationError:
            pass
        finally:
            self.location = None
            await self._close()

    async def keep(self, out=sys.stderr) -> None:
        """Update every half lifetime until cancelled; register again when the server forgot
        the registration (4.04, LwM2M 1.1 TS §6.2.2) or did not answer."""
        while True:
            await asyncio.sleep(self.lifetime / 2)
            try:
                await self.update()
            except RegistrationError as error:
                if error.code not in (None, aiocoap.NOT_FOUND):
                    print(f"update: {error}", file=out, flush=True)
                    continue
                print(f"registration lost ({error}): registering again", file=out, flush=True)
                print(f"registered again at {self.server}{await self.register_again()}",
                      file=out, flush=True)

    async def register_again(self) -> str:
        """``register`` until it succeeds, with backoff (the module's docstring)."""
        attempt = 0
        while True:
            try:
                return await self.register()
            except RegistrationError:
                attempt += 1
                await asyncio.sleep(SEQUENCE_DELAY if attempt % RETRIES == 0
                                    else RETRY_DELAY * 2 ** (attempt % RETRIES - 1))

    async def _request(self, code, path: str, payload: bytes | None):
        message = aiocoap.Message(code=code, uri=self.server + path)
        if payload is not None:
            message.payload, message.opt.content_format = payload, LINK_FORMAT
        try:
            return await asyncio.wait_for(self._context.request(message).response, self.timeout)
        except (asyncio.TimeoutError, aiocoap.error.Error, OSError) as error:
            raise RegistrationError(f"{self.server}: no answer ({type(error).__name__})") \
                from None

    async def _close(self) -> None:
        if self._context is not None:
            self._session = None
            await self._context.shutdown()
            self._context = None
