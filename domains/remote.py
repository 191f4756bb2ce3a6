"""Talking to a device on the network: ``pipsim opmux`` (D3.3 §4.6's admin operations, sent as
LwM2M requests on object 26261 to a running ``pipsim serve``) and ``pipsim demo-remote`` (the
gateway's scripted session, played through a real socket).

``RemoteServers`` are the domains' servers with their keys (the files ``--export-keys``
wrote) and one DTLS-PSK client (aiocoap): each command they send carries a fresh token bound
to it (pipsim.tokens.binding), in D3.3 §4.2's CBOR form.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiocoap
import cbor2

from pipsim.kernel.argtypes import count_in
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.needs import require
from pipsim.tokens.keys import HMAC_256_64, CoseKey
from pipsim.tokens.scope import OPERATIONS

from .commands import Command, Response
from .gateway import Servers, session, transcript
from .lwm2m import CBOR

DEVICE_NAME = "gateway"
CREATE, DELETE, RUN, STOP, REFRESH = ("26261/0/7", "26261/0/8", "26261/0/9", "26261/0/10",
                                      "26261/0/11")
COMMANDS = ("create", "delete", "run", "stop", "list", "exists", "isrun")   # D3.3 §4.6
PAGES, APP_RESOURCE = 48, "32769/0/1"     # create's defaults: a domain's pages, CODE's resource
MIN_SECRET, MAX_SECRET = 32, 64          # an HMAC 256/64 key's secret (bytes), as hex
EXISTS, ISRUN = 5, 6                      # object 26261 instance resources (D3.3 §4.2)


class RemoteError(PipsimError, ConnectionError):
    """The device could not be reached or answered nothing."""


def new_domain_key(ident: str, key: str) -> bytes:
    """opmux's IDENT and KEY as the COSE_Key a create carries: KEY is a COSE_Key file whose
    kid is IDENT (``pipsim token keygen --kid IDENT --out FILE``), or the secret as hex
    (``secret_key``)."""
    if Path(key).is_file():
        cose = CoseKey.from_bytes(Path(key).read_bytes())
        if cose.kid != ident.encode():
            raise ValueError(f"{key} is the key of {cose.kid.decode(errors='replace')!r}, "
                             f"not of {ident!r}")
        return cose.to_bytes()
    try:
        bytes.fromhex(key)
    except ValueError:
        raise ValueError("KEY: a COSE_Key file, or the secret as hex") from None
    return secret_key(ident, key)


def secret_key(ident: str, key: str) -> bytes:
    """opmux's IDENT and KEY as a COSE_Key, KEY the secret as hex only (never a file name:
    what a caller who may not read the device's files gives, as the Secure Channel's)."""
    try:
        secret = bytes.fromhex(key)
    except ValueError:
        raise ValueError("KEY: the secret as hex") from None
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise ValueError(f"KEY: {MIN_SECRET} to {MAX_SECRET} bytes of secret, not {len(secret)}")
    return CoseKey(ident.encode(), HMAC_256_64, None, secret=secret).to_bytes()


def opmux(ask, command: str, domain: str, params: list[str], pages: int,
          resource: str, key_of=new_domain_key) -> tuple[int, str]:
    """D3.3 §4.6's opmux command over LwM2M, ``ask(code, resource, value)`` sending one as the
    owner: (exit status, what to print).  ``key_of(IDENT, KEY)``: create's COSE_Key."""
    if command == "create":
        if len(params) < 2:
            raise ValueError("create DOMAIN IDENT KEY [LPORT] [CODE]")
        code = params[3] if len(params) > 3 and params[3] != "-" else None
        value = {"name": domain, "pages": pages, "key": key_of(params[0], params[1]),
                 **({"code": {"image": code, "resource": resource}} if code else {})}
        return _result(ask("write", CREATE, value))
    if command in ("delete", "run", "stop"):
        return _result(ask("write", {"delete": DELETE, "run": RUN, "stop": STOP}[command],
                                 domain))
    listed = ask("read", REFRESH, None)
    if listed["status"] >= 300:
        return _result(listed)
    entry = listed["value"].get(domain)
    if command == "list":
        shown = listed["value"] if domain == "-" else {domain: entry} if entry else {}
        return 0, "\n".join(f"{name}: {data}" for name, data in shown.items())
    if command in ("exists", "isrun"):
        if entry is None:
            return (1, "1") if command == "exists" else (0, "0")
        answer = ask("read", f"26261/{entry['instance']}/"
                           f"{EXISTS if command == 'exists' else ISRUN}", None)
        if answer["status"] >= 300:
            return _result(answer)
        return (answer["value"] if command == "exists" else 0), str(answer["value"])
    raise ValueError(f"unknown opmux command {command!r}")


class CoapClient:
    """One DTLS-PSK client session (aiocoap) to a device: commands in their CBOR form as
    PUTs on their resources, each answer a Response.  Synchronous, on an event loop of its
    own (not to be used inside a running loop)."""

    def __init__(self, uri: str, psk: tuple[str, str], timeout: float = 10):
        self.uri, self.timeout = uri.rstrip("/"), timeout
        self._loop = asyncio.new_event_loop()
        self._context = self._loop.run_until_complete(self._open(psk))

    async def _open(self, psk):
        require("DTLSSocket")
        context = await aiocoap.Context.create_client_context()
        context.client_credentials.load_from_dict({f"{self.uri}/*": {"dtls": {
            "psk": {"ascii": psk[1]}, "client-identity": {"ascii": psk[0]}}}})
        return context

    def send(self, resource: str, frame: bytes) -> list[Response]:
        """``frame`` as a PUT on ``resource``: the device's answer; RemoteError if none."""
        request = aiocoap.Message(code=aiocoap.PUT, uri=f"{self.uri}/{resource}", payload=frame,
                                  content_format=CBOR)
        try:
            response = self._loop.run_until_complete(
                asyncio.wait_for(self._context.request(request).response, self.timeout))
        except (asyncio.TimeoutError, aiocoap.error.Error, OSError) as error:
            raise RemoteError(f"{self.uri}: no answer ({type(error).__name__}: {error})") from None
        answer = cbor2.loads(response.payload)
        return [Response(answer["id"], answer["status"], answer["reason"], answer["value"])]

    def close(self) -> None:
        self._loop.run_until_complete(self._context.shutdown())
        self._loop.close()


class RemoteServers(Servers):
    """The domains' servers (keys: the files ``pipsim serve --export-keys`` wrote) sending
    their commands to a device over CoAP + DTLS-PSK, one session for all."""

    def __init__(self, uri: str, psk: tuple[str, str], keys: Path, device: str = DEVICE_NAME,
                 timeout: float = 10, arch: str = "arm"):
        """``arch``: the device's machine (the firmware its updates carry)."""
        super().__init__(device, {path.stem: path.read_bytes()
                                  for path in sorted(Path(keys).glob("*.cose"))})
        self.uri, self.arch = uri.rstrip("/"), arch
        self._client = CoapClient(uri, psk, timeout)

    def submit(self, target: str, command: Command | bytes) -> list[Response]:
        """The command (CBOR form) as a PUT on its resource; raw bytes go to 26261/0/11."""
        resource = command.resource if isinstance(command, Command) else REFRESH
        frame = command.encode() if isinstance(command, Command) else command
        return self._client.send(resource, frame)

    def close(self) -> None:
        self._client.close()


def demo_remote(out, uri: str, psk: tuple[str, str], keys: Path, arch: str = "arm") -> int:
    """The gateway's session against a running device (of ``arch``); 0 if every step went
    as expected."""
    servers = RemoteServers(uri, psk, keys, arch=arch)
    try:
        print(f"session with {uri} over DTLS-PSK as {psk[0]!r} (the steps inside the device "
              "are make run's)", file=out)
        return 0 if transcript(session(servers), out) else 1
    finally:
        servers.close()


def _result(answer: dict) -> tuple[int, str]:
    ok = answer["status"] < 300
    return (0 if ok else 1), (f"{answer['reason']}" + (f": {answer['value']}"
                                                       if answer["value"] is not None else ""))


def register(subparsers) -> None:
    from pipsim.kernel.coaps import psk_arg
    parser = subparsers.add_parser(
        "opmux", help="D3.3's admin operations on a running device (pipsim serve)",
        description="opmux COMMAND DOMAIN [PARAMS] over LwM2M: create DOMAIN IDENT KEY [LPORT] "
        "[CODE], delete DOMAIN IDENT, run DOMAIN IDENT [LPORT], stop DOMAIN IDENT, list DOMAIN "
        "('-': all), exists DOMAIN (prints 0: exists, 1: not), isrun DOMAIN (1: running, 0: "
        "not). LPORT is accepted and unused: domains talk over IPC, not ports.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("domain")
    parser.add_argument("params", nargs="*")
    parser.add_argument("--device", required=True, help="coaps://HOST:PORT of pipsim serve")
    parser.add_argument("--psk", required=True, type=psk_arg, help="IDENTITY:KEY")
    parser.add_argument("--keys", required=True, help="the folder pipsim serve --export-keys "
                        "wrote (the owner's key: owner.cose)")
    parser.add_argument("--owner", default="owner", help="the owner's domain (default owner)")
    parser.add_argument("--name", default=DEVICE_NAME, help="the device's name (default "
                        f"{DEVICE_NAME})")
    parser.add_argument("--pages", type=count_in(1), default=PAGES, help="create: the domain's pages")
    parser.add_argument("--resource", default=APP_RESOURCE,
                        help="create with CODE: the resource its application serves")
    parser.set_defaults(func=_main)


def register_demo(subparsers) -> None:
    from pipsim.kernel.coaps import psk_arg
    parser = subparsers.add_parser("demo-remote", help="play the gateway's session against a "
                                   "running pipsim serve, over the network")
    parser.add_argument("device", help="HOST:PORT of pipsim serve")
    parser.add_argument("--psk", required=True, type=psk_arg, help="IDENTITY:KEY")
    parser.add_argument("--keys", required=True, help="the folder pipsim serve --export-keys "
                        "wrote")
    parser.add_argument("--arch", choices=("arm", "x86"), default="arm",
                        help="the device's machine (its driver update's firmware; default arm)")
    parser.set_defaults(func=lambda args: demo_remote(sys.stdout, f"coaps://{args.device}",
                                                      args.psk, Path(args.keys), args.arch))


def owner_ask(servers: Servers, owner: str, **options):
    """opmux's ``ask(code, resource, value)``: one command sent as ``owner``'s server, with a
    token of its own bound to it (``options``: ``Issuer.issue``'s, e.g. its lifetime)."""
    def ask(code, resource, value):
        grant = servers.token(owner, owner, f"{resource}:{OPERATIONS[code]}", **options)
        (answer,) = servers.submit(owner, servers.command(owner, code, resource, value,
                                                          token=grant))
        return answer.to_map()
    return ask


def _main(args) -> int:
    servers = RemoteServers(args.device, args.psk, Path(args.keys), args.name)
    if args.owner not in servers.issuers:
        servers.close()
        raise ValueError(f"--keys {args.keys}: no {args.owner}.cose (the owner server's key)")
    try:
        status, text = opmux(owner_ask(servers, args.owner), args.command, args.domain,
                             args.params, args.pages, args.resource)
    finally:
        servers.close()
    if text:
        print(text, file=sys.stdout)
    return status
