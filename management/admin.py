"""``pipsim admin``: a small application server (D3.3 §3.1) driving the whole chain.

    pipsim admin devices  --admin URL                      the admin server's device list
    pipsim admin command  --keystore URL --generator URL --admin URL
                          --domain D --device EP --code write --path 3311/0/5850 --value 1
                          [--owner-generator URL --owner DOMAIN]
    pipsim admin command  ... --device EP,EP,... | --all-devices  [--parallel K]

``command`` does what D3.3 §2.1 lists: the domain's key from the Keystore Manager (§4.1),
the command signed and encrypted with it (``pipsim.management.command_request``) and sent to the
domain's Token Generator (§4.3) for token A bound to it; with ``--owner-generator``, the same
command as the owner domain receives it sent to the owner's generator for token B (paper
Fig. 9: the owner's server issues it to the authenticated forwarding domain); then the D3.3
§4.2 request to the admin server, which relays it to the device (``pipsim.management.admin_http``).
It prints the device's answer as JSON; exit 0 when the device accepted the command, 1 when
it refused it, 2 when a service did.  Every service is reached as the caller ``--tls`` names
(mutual TLS), or over plain HTTP with ``--insecure-local``.

To several devices (a list, or ``--all-devices``: the admin server's device list), the same
command goes to each with its own token (a token is bound to its device: pipsim.tokens.binding), at
most ``--parallel`` at a time; it prints ``{"answers": {endpoint: answer or {"error"}},
"accepted", "refused", "failed"}`` and exits 2 if a chain failed for one, else 1 if one
refused, else 0.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp

from pipsim.domains.lwm2m import b64url
from pipsim.kernel import exits
from pipsim.kernel.argtypes import count, count_in
from pipsim.kernel.errors import PipsimError
from pipsim.tokens.binding import OPERATION_KEYS

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


def request_body(command: dict, token_a: bytes, token_b: bytes | None = None) -> dict:
    """D3.3 §4.2's request for ``command`` with its token(s)."""
    inner = {k: v for k, v in command.items() if k != "id"} | {"token": b64url(token_a)}
    if token_b is not None:
        inner["tokenB"] = b64url(token_b)
    return {"id": command["id"], "value": json.dumps(inner)}


def commands_url(admin: str, device: str) -> str:
    return f"{admin.rstrip('/')}/devices/{device}/commands"


async def send(session, admin: str, command: dict, token_a: bytes,
               token_b: bytes | None = None) -> dict:
    """The D3.3 §4.2 request through the admin server: its JSON answer."""
    return await _json(session, "POST", commands_url(admin, command["device"]), "admin server",
                       json=request_body(command, token_a, token_b))


@dataclass(frozen=True)
class Route:
    """Where a domain's commands go: its Token Generator, the admin server, and for token B
    the owner's generator and domain."""
    generator: str
    admin: str
    domain: str
    owner_generator: str | None = None
    owner: str = "owner"

    async def run(self, session, keystore: KeystoreClient, command: dict) -> dict:
        """``command`` (``command_map``) through the whole chain: the device's answer."""
        token_a = await token(session, keystore, self.generator, self.domain, command)
        token_b = None
        if self.owner_generator:
            as_owner = {**command, "domain": self.owner}
            token_b = await token(session, keystore, self.owner_generator, self.domain,
                                  as_owner)
        return await send(session, self.admin, command, token_a, token_b)


async def run_command(session, keystore: KeystoreClient, args, device: str) -> dict:
    """``args``' command for ``device`` through the whole chain: the device's answer."""
    route = Route(args.generator, args.admin, args.domain, args.owner_generator, args.owner)
    return await route.run(session, keystore, command_map(args.domain, device, args.code,
                                                          args.path, args.value, args.id))


def accepted(answer: dict) -> bool:
    """Whether the device accepted the command (a 2.xx CoAP code)."""
    return answer.get("coap", "").startswith("2.")


async def fan_out(session, keystore: KeystoreClient, args, devices: list[str]) -> dict:
    """``args``' command to each of ``devices``, at most ``args.parallel`` at a time."""
    bound = asyncio.Semaphore(args.parallel)

    async def one(device: str) -> dict:
        async with bound:
            try:
                return await run_command(session, keystore, args, device)
            except ChainError as exc:
                return {"error": str(exc)}
    answers = dict(zip(devices, await asyncio.gather(*map(one, devices))))
    failed = sum("error" in answer for answer in answers.values())
    ok = sum(accepted(answer) for answer in answers.values())
    return {"answers": answers, "accepted": ok, "refused": len(answers) - ok - failed,
            "failed": failed}


async def chain(args) -> dict:
    keystore = KeystoreClient(args.keystore, args.tls)
    try:
        async with service.client_session(args.tls) as session:
            if args.device is not None and "," not in args.device:
                return await run_command(session, keystore, args, args.device)
            devices = ([d["endpoint"] for d in (await _devices(session, args.admin))["devices"]]
                       if args.all_devices else args.device.split(","))
            if not devices or not all(devices) or len(set(devices)) != len(devices):
                raise ChainError(f"devices {devices}: none, an empty name, or one twice")
            return await fan_out(session, keystore, args, devices)
    finally:
        await keystore.close()


async def _devices(session, admin: str) -> dict:
    return await _json(session, "GET", admin.rstrip("/") + "/devices", "admin server")


async def device_list(args) -> dict:
    async with service.client_session(args.tls) as session:
        return await _devices(session, args.admin)


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
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", help="the device's endpoint name, or several: EP,EP,...")
    which.add_argument("--all-devices", action="store_true",
                       help="every device registered with the admin server")
    command.add_argument("--parallel", type=count_in(1, 64), default=8, metavar="K",
                         help="at most K devices at a time (1..64, default 8)")
    command.add_argument("--code", required=True, choices=["read", "write", "execute", "exec",
                                                           "delete", "create"])
    command.add_argument("--path", required=True, help="LwM2M path, e.g. 3311/0/5850")
    command.add_argument("--value", type=_value, default=None)
    command.add_argument("--id", type=count, default=1)


def _main(args) -> int:
    if args.insecure_local:
        args.tls = None
    try:
        answer = asyncio.run(chain(args) if args.verb == "command" else device_list(args))
    except (ChainError, ValueError) as exc:
        return exits.error(f"admin: {exc}")
    print(json.dumps(answer, indent=2))
    if args.verb != "command":
        return 0
    if "answers" in answer:
        return exits.USAGE if answer["failed"] else exits.NO if answer["refused"] else exits.OK
    return exits.OK if accepted(answer) else exits.NO
