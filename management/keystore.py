"""Keystore Manager (D3.3 §3.3, §4.1): each domain alias's key, over REST.

    GET  /keys          200 {"aliases": [...]}
    POST /keys/{alias}  201 (a new key) | 403 text/plain "The associated key already exist"
    GET  /keys/{alias}  200 {"alias": alias, "key": base64url of its COSE_Key} | 204 (none)
    GET  /verify        200 text/plain "Keystore Manager RESTApi successfully started"
    500 when the key storage fails (a record altered, the directory gone)

A domain key is an HMAC 256/256 COSE_Key (RFC 9052 §7, secret included): its holder signs
and encrypts its command requests with it (``pipsim.management.command_request``).  Keys live in a
``tokens.KeyVault`` over ``pipsim.management.sealed_storage`` (encrypted at rest under a passphrase
from the environment variable PIPSIM_KEYSTORE_PASSPHRASE).

Who may do what (callers authenticated by ``pipsim.management.service``; a refusal is 403 text/plain
naming it, checked before the alias is looked up): anyone authenticated lists the aliases;
a caller whose identity is the alias, or an ``--admin``, creates its key; the same, or a
``--reader`` (the token services), reads it.  Under ``--insecure-local`` nobody is
authenticated and every caller may do everything (D3.3's own deployment).
Aliases are names as ``pipsim pki`` writes identities: letters, digits, '-', '_' (400 else).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from aiohttp import web

from pipsim.kernel.errors import PipsimError
from pipsim.tokens import HMAC_256_256, CoseKey, KeyVault, VaultError

from . import service
from .command_request import b64url, from_b64url
from .pki import NAME
from .sealed_storage import SealedStorage

PASSPHRASE_ENV = "PIPSIM_KEYSTORE_PASSPHRASE"
DEFAULT_PORT = 8441
KEY_EXISTS = "The associated key already exist"      # D3.3 §4.1, verbatim
DOMAIN_KEY_ALG = HMAC_256_256


class KeystoreError(PipsimError):
    """The Keystore Manager answered a client otherwise than D3.3 §4.1 allows."""


@dataclass(frozen=True)
class Access:
    """Who may create and read which alias's key (see the module's docstring)."""

    admins: frozenset = frozenset()
    readers: frozenset = frozenset()
    everyone: bool = False           # --insecure-local

    def may_create(self, identity: str, alias: str) -> bool:
        return self.everyone or identity == alias or identity in self.admins

    def may_read(self, identity: str, alias: str) -> bool:
        return self.may_create(identity, alias) or identity in self.readers


VAULT = web.AppKey("vault", KeyVault)
ACCESS = web.AppKey("access", Access)


def _alias(request: web.Request) -> str:
    alias = request.match_info["alias"]
    if not NAME.fullmatch(alias):
        raise web.HTTPBadRequest(text=f"alias {alias!r}: letters, digits, '-' and '_', at most 64")
    return alias


def _storage_failed(exc: VaultError) -> web.HTTPInternalServerError:
    return web.HTTPInternalServerError(text=f"key storage: {exc}")


async def list_aliases(request: web.Request) -> web.Response:
    service.caller(request)              # any authenticated caller (403: a certificate without a CN)
    try:
        return web.json_response({"aliases": request.app[VAULT].aliases()})
    except VaultError as exc:
        raise _storage_failed(exc) from None


async def create_key(request: web.Request) -> web.Response:
    alias, identity = _alias(request), service.caller(request)
    if not request.app[ACCESS].may_create(identity, alias):
        raise web.HTTPForbidden(text=f"{identity!r} may not create the key of {alias!r}")
    vault = request.app[VAULT]
    try:
        if vault.get(alias) is not None:
            raise web.HTTPForbidden(text=KEY_EXISTS)
        vault.generate(alias, DOMAIN_KEY_ALG)
    except VaultError as exc:
        raise _storage_failed(exc) from None
    return web.Response(status=201)


async def read_key(request: web.Request) -> web.Response:
    alias, identity = _alias(request), service.caller(request)
    if not request.app[ACCESS].may_read(identity, alias):
        raise web.HTTPForbidden(text=f"{identity!r} may not read the key of {alias!r}")
    try:
        key = request.app[VAULT].get(alias)
    except VaultError as exc:
        raise _storage_failed(exc) from None
    if key is None:
        return web.Response(status=204)
    return web.json_response({"alias": alias, "key": b64url(key.to_bytes())})


async def verify(request: web.Request) -> web.Response:
    try:
        return web.Response(text=request.app[VAULT].verify_service())
    except VaultError as exc:
        raise _storage_failed(exc) from None


def application(vault: KeyVault, access: Access) -> web.Application:
    app = web.Application(client_max_size=4096)
    app[VAULT], app[ACCESS] = vault, access
    app.router.add_get("/keys", list_aliases)
    app.router.add_post("/keys/{alias}", create_key)
    app.router.add_get("/keys/{alias}", read_key)
    app.router.add_get("/verify", verify)
    return app


class KeystoreClient:
    """The domain keys, fetched from the Keystore Manager at ``url`` as the caller whose
    certificate bundle is ``tls`` (None: plain HTTP), and kept: a key never changes there
    (D3.3 §4.1 has no replace or delete).  :meth:`close` when done."""

    def __init__(self, url: str, tls):
        self.url, self.tls = url.rstrip("/"), tls
        self._session = None
        self._keys: dict[str, CoseKey] = {}

    async def key(self, alias: str) -> CoseKey | None:
        """The key of ``alias``, None if it has none; KeystoreError (or aiohttp's
        ClientError) if the keystore cannot say."""
        if alias in self._keys:
            return self._keys[alias]
        if not NAME.fullmatch(alias):
            return None
        if self._session is None:
            self._session = service.client_session(self.tls)
        async with self._session.get(f"{self.url}/keys/{alias}") as answer:
            if answer.status == 204:
                return None
            if answer.status != 200:
                raise KeystoreError(f"keystore: {answer.status} {(await answer.text())[:200]}")
            body = await answer.json()
        try:
            key = CoseKey.from_bytes(from_b64url(body.get("key"), "the keystore's key"))
        except (VaultError, ValueError, AttributeError) as exc:
            raise KeystoreError(f"keystore: the key of {alias!r} is unusable: {exc}") from None
        if key.kid != alias.encode():
            raise KeystoreError(f"keystore: asked for {alias!r}, got the key {key.kid!r}")
        self._keys[alias] = key
        return key

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def register(subparsers) -> None:
    keystore = subparsers.add_parser("keystore", help="the Keystore Manager (D3.3 §4.1), REST",
                                     description=__doc__.splitlines()[0])
    service.add_arguments(keystore, DEFAULT_PORT)
    keystore.add_argument("--store", required=True, metavar="DIR",
                          help=f"where the keys are kept, encrypted under ${PASSPHRASE_ENV}")
    keystore.add_argument("--admin", action="append", default=[], metavar="IDENTITY",
                          help="may create and read every key (repeatable)")
    keystore.add_argument("--reader", action="append", default=[], metavar="IDENTITY",
                          help="may read every key: the token services (repeatable)")
    keystore.set_defaults(func=_main)


def _main(args) -> int:
    listen = service.Listen.from_args(args)
    storage = SealedStorage.open(args.store, os.environ.get(PASSPHRASE_ENV, ""))
    access = Access(frozenset(args.admin), frozenset(args.reader), everyone=listen.tls is None)
    return service.run(application(KeyVault(storage), access), listen, "keystore")
