"""``pipsim admin``: a small application server (D3.3 §3.1) driving the whole chain.

    pipsim admin devices  --admin URL                      the admin server's device list
    pipsim admin command  --keystore URL --generator URL --admin URL
                          --domain D --device EP --code write --path 3311/0/5850 --value 1
                          [--owner-generator URL --owner DOMAIN]

``command`` does what D3.3 §2.1 lists: the domain's key from the Keystore Manager (§4.1),
the command signed and encrypted with it (``management.command_request``) and sent to the
domain's Token Generator (§4.3) for token A bound to it; with ``--owner-generator``, the same
command as the owner domain receives it sent to the owner's generator for token B (paper
Fig. 9: the owner's server issues it to the authenticated forwarding domain); then the D3.3
§4.2 request to the admin server, which relays it to the device (``management.admin_http``).
It prints the device's answer as JSON; exit 0 when the device accepted the command, 1 when
it refused it, 2 when a service did.  Every service is reached as the caller ``--tls`` names
(mutual TLS), or over plain HTTP with ``--insecure-local``.
"""
from __future__ import annotations

import asyncio
import json
import sys

import aiohttp

from domains.lwm2m import b64url
from pipkernel.errors import PipsimError
from tokens.binding import OPERATION_KEYS

from . import command_request, service
from .keystore import KeystoreClient, KeystoreError


class ChainError(PipsimError):
    """A service of the chain refused or could not be reached; the message says which."""


def command_map(domain: str, device: str, code: str, path: str, value, ident: int = 1) -> dict:
    """D3.3 §4.2's command (without its token)."""
    ids = [int(part) for part in path.split("/")]
    if not 3 <= len(ids) <= 4:
        raise ValueError(f"--path {path!r}: object/instance/resource[/resource instance]")
    return {"id": ident, "domain": domain, "device": device, "value": value,
            "operation": {"code": code, **dict(zip(OPERATION_KEYS, ids))}}


async def _json(session: aiohttp.ClientSession, method: str, url: str, what: str, **kw) -> dict:
    try:
        async with session.request(method, url, **kw) as answer:
            text = await answer.text()
            if answer.status != 200:
                raise ChainError(f"{what}: {answer.status} {text[:300]}")
            return json.loads(text)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ChainError(f"{what} at {url}: {type(exc).__name__}: {exc}") from None


async def token(session, keystore: KeystoreClient, generator: str, alias: str,
                command: dict) -> bytes:
    """A token for ``command`` from ``generator``, asked with the key of ``alias``."""
    try:
        key = await keystore.key(alias)
    except (KeystoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise ChainError(f"keystore: {exc}") from None
    if key is None:
        raise ChainError(f"keystore: no key for domain {alias!r}")
    body = {"domain": alias, "cipheredCommand": command_request.build(key, command)}
    answer = await _json(session, "POST", generator.rstrip("/") + "/token", "token generator",
                         json=body)
    return command_request.from_b64url(answer.get("token"), "the generator's token")


async def send(session, admin: str, command: dict, token_a: bytes,
               token_b: bytes | None = None) -> dict:
    """The D3.3 §4.2 request through the admin server: its JSON answer."""
    inner = {k: v for k, v in command.items() if k != "id"} | {"token": b64url(token_a)}
    if token_b is not None:
        inner["tokenB"] = b64url(token_b)
    body = {"id": command["id"], "value": json.dumps(inner)}
    return await _json(session, "POST", f"{admin.rstrip('/')}/devices/{command['device']}/commands",
                       "admin server", json=body)


async def chain(args) -> dict:
    command = command_map(args.domain, args.device, args.code, args.path, args.value, args.id)
    keystore = KeystoreClient(args.keystore, args.tls)
    try:
        async with service.client_session(args.tls) as session:
            token_a = await token(session, keystore, args.generator, args.domain, command)
            token_b = None
            if args.owner_generator:
                as_owner = {**command, "domain": args.owner}
                token_b = await token(session, keystore, args.owner_generator, args.domain,
                                      as_owner)
            return await send(session, args.admin, command, token_a, token_b)
    finally:
        await keystore.close()


async def device_list(args) -> dict:
    async with service.client_session(args.tls) as session:
        return await _json(session, "GET", args.admin.rstrip("/") + "/devices", "admin server")


def _value(text: str):
    """--value: JSON (1, "on", {"k": 2}), or else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def register(subparsers) -> None:
    admin = subparsers.add_parser("admin", help="an application server: token, command, answer "
                                  "(D3.3 §2.1)", description=__doc__.splitlines()[0])
    verbs = admin.add_subparsers(dest="verb", required=True)
    for verb in ("devices", "command"):
        parser = verbs.add_parser(verb)
        parser.add_argument("--admin", required=True, metavar="URL", help="the admin server")
        auth = parser.add_mutually_exclusive_group(required=True)
        auth.add_argument("--tls", metavar="DIR", help="this caller's bundle (`pipsim pki issue`)")
        auth.add_argument("--insecure-local", action="store_true",
                          help="plain HTTP to services on loopback")
        parser.set_defaults(func=_main)
    command = verbs.choices["command"]
    command.add_argument("--keystore", required=True, metavar="URL")
    command.add_argument("--generator", required=True, metavar="URL",
                         help="the domain's Token Generator (token A)")
    command.add_argument("--owner-generator", metavar="URL",
                         help="the owner's Token Generator, for token B (paper Fig. 9)")
    command.add_argument("--owner", default="owner", help="the owner domain (default owner)")
    command.add_argument("--domain", required=True)
    command.add_argument("--device", required=True, help="the device's endpoint name")
    command.add_argument("--code", required=True, choices=["read", "write", "execute", "exec",
                                                           "delete", "create"])
    command.add_argument("--path", required=True, help="LwM2M path, e.g. 3311/0/5850")
    command.add_argument("--value", type=_value, default=None)
    command.add_argument("--id", type=int, default=1)


def _main(args) -> int:
    if args.insecure_local:
        args.tls = None
    try:
        answer = asyncio.run(chain(args) if args.verb == "command" else device_list(args))
    except (ChainError, ValueError) as exc:
        print(f"pipsim admin: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2))
    if args.verb == "command":
        return 0 if answer.get("coap", "").startswith("2.") else 1
    return 0
