"""Token Generator (D3.3 §4.3) and Token Validator (§4.4), over REST.

Both take ``POST /token {"domain": ALIAS, "cipheredCommand": TEXT}``: TEXT is a command
request (``pipsim.management.command_request``) signed and encrypted with the key of ALIAS, which
they fetch from the Keystore Manager (``--keystore URL``, as the caller ``--client-tls``).

Token Generator (one domain server's: its ``--policy``, ``pipsim.management.policy``)::

    POST /token   200 {"token": base64url CWT}
                  400 {"error": "Invalid token request", "detail"}       not JSON, unknown
                      alias, not decrypting / not verifying, stale or replayed, bad command
                  403 {"error": "Command not allowed by the access policy", "detail"}
                  500 {"error": "Unsuccessful token generation request", "detail"}
    GET /verify   200 text/plain "Token Generator RESTapi successfully started" (§4.3)

The token (``tokens.Issuer``, the policy's issuer and key, or the device's own key from the
policy's ``device_keys``): aud = the policy's audience,
sub = the caller, scope = the command's operation on its path, cmd = the command's digest
(``pipsim.tokens.binding``), lifetime from the matching grant.

Token Validator: D3.3 §4.4 repeats §4.3's table word for word (its title says "generates"
and its answer is {"token"}).  Read here as its component's role (§3.3: "verify the ODSI
access token"): the request's command carries its ``token``, checked by ``tokens.Validator``
for the command's domain as audience, bound to that command (operation, path, digest)::

    POST /token   200 {"claims": {iss, sub, aud, exp, iat, cti, scope, cmd}} (bytes base64url)
                  400 {"error": "Invalid token request", "detail"}       as above
                  401 {"error": "Invalid token", "reason", "detail"}     tokens.REASONS
                  500 {"error": "Unsuccessful token validation request", "detail"}
    GET /verify   200 text/plain "Token Validator RESTApi successfully started"

It trusts the issuers of the ``--policy`` files it is given (their issuer, key and audience;
grants unused) and keeps a replay cache, as the device's Token & Security Validator does.
"""
from __future__ import annotations

import json
import logging

import aiohttp
from aiohttp import web

from pipsim.tokens import Issuer, KeyVault, TokenError, Validator

from . import service
from .command_request import Receiver, Request, RequestError, b64url
from .keystore import KeystoreClient, KeystoreError
from .policy import Forbidden, Policy, scope_of

log = logging.getLogger("pipsim.token_service")
GENERATOR_PORT, VALIDATOR_PORT = 8442, 8443
GENERATOR_OK = "Token Generator RESTapi successfully started"       # D3.3 §4.3
VALIDATOR_OK = "Token Validator RESTApi successfully started"       # §4.4 names the generator
INVALID = "Invalid token request"                                   # D3.3 §4.3, 400
GENERATION_FAILED = "Unsuccessful token generation request"         # D3.3 §4.3, 500
VALIDATION_FAILED = "Unsuccessful token validation request"
FORBIDDEN = "Command not allowed by the access policy"
INVALID_TOKEN = "Invalid token"
MAX_BODY = 8192
REPLAY_CACHE = 65536          # tokens the validator remembers (tokens.ReplayCache)


def _error(status: int, error: str, detail: str, **more) -> web.Response:
    return web.json_response({"error": error, "detail": detail, **more}, status=status)


class Refusal(Exception):
    """An answer other than 200, with its JSON body."""

    def __init__(self, status: int, error: str, detail: str, **more):
        super().__init__(detail)
        self.response = _error(status, error, detail, **more)


class TokenService:
    """What both services share: reading a ciphered request with the keystore's keys."""

    def __init__(self, keystore: KeystoreClient, failed: str):
        self.keystore, self.failed = keystore, failed
        self.receiver = Receiver()

    async def read(self, request: web.Request, *, signed: bool) -> tuple[str, str, Request]:
        """(caller, alias, the request it sent); Refusal otherwise."""
        identity = service.caller(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refusal(400, INVALID, "the body is not JSON") from None
        if not isinstance(body, dict) or set(body) != {"domain", "cipheredCommand"}:
            raise Refusal(400, INVALID, 'the body must be {"domain", "cipheredCommand"}')
        alias = body["domain"]
        if not isinstance(alias, str):
            raise Refusal(400, INVALID, "domain must be a string")
        try:
            key = await self.keystore.key(alias)
        except (KeystoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise Refusal(500, self.failed, f"the keystore: {exc}") from None
        if key is None:
            raise Refusal(400, INVALID, f"the keystore holds no key for domain {alias!r}")
        try:
            return identity, alias, self.receiver.open(key, body["cipheredCommand"], signed=signed)
        except RequestError as exc:
            raise Refusal(400, INVALID, str(exc)) from None

    def application(self, handler, verified: str) -> web.Application:
        async def post(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except Refusal as refusal:
                return refusal.response
            except web.HTTPException:
                raise
            except Exception as exc:                  # D3.3 §4.3: 500, the service goes on
                log.exception("POST /token failed")
                return _error(500, self.failed, f"{type(exc).__name__}: {exc}")

        async def verify(request: web.Request) -> web.Response:
            return web.Response(text=verified)

        async def close(app):
            await self.keystore.close()

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/token", post)
        app.router.add_get("/verify", verify)
        app.on_cleanup.append(close)
        return app


def generator(policy: Policy, keystore: KeystoreClient) -> web.Application:
    """The Token Generator of the domain server ``policy`` describes."""
    shared = TokenService(keystore, GENERATION_FAILED)

    def issuer_of(key) -> Issuer:               # one vault each: the devices' keys share a kid
        vault = KeyVault()
        return Issuer(vault, vault.add(key).kid, policy.issuer)
    issuer = issuer_of(policy.key)
    device_issuers = {device: issuer_of(key) for device, key in policy.device_keys.items()}

    async def token(request: web.Request) -> web.Response:
        identity, alias, asked = await shared.read(request, signed=False)
        command = asked.command
        try:
            grant = policy.check(identity, alias, command)
        except Forbidden as exc:
            raise Refusal(403, FORBIDDEN, str(exc)) from None
        issued = device_issuers.get(command.device, issuer).issue(
            policy.audience, scope_of(command), grant.lifetime, subject=identity,
            command=command.digest())
        log.info("token for %s: %s %s on %s", identity, command.code, command.resource, command.device)
        return web.json_response({"token": b64url(issued)})

    return shared.application(token, GENERATOR_OK)


def validator(policies: list[Policy], keystore: KeystoreClient) -> web.Application:
    """The Token Validator trusting the issuers of ``policies``."""
    shared = TokenService(keystore, VALIDATION_FAILED)
    vault = KeyVault()
    trusted: dict[str, dict[str, list]] = {}
    for policy in policies:
        kid = vault.add(policy.key, replace=True).kid
        trusted.setdefault(policy.audience, {}).setdefault(policy.issuer, []).append(kid)
    validators = {audience: Validator(vault, audience, issuers, cache_size=REPLAY_CACHE)
                  for audience, issuers in trusted.items()}

    async def token(request: web.Request) -> web.Response:
        _, _, asked = await shared.read(request, signed=True)
        command = asked.command
        checker = validators.get(command.domain)
        try:
            if checker is None:
                raise TokenError("wrong_audience", f"no trusted issuer issues for domain {command.domain!r}")
            claims = checker.validate(command.token, operation=command.code, resource=command.resource,
                                      command=command.digest())
        except TokenError as exc:
            raise Refusal(401, INVALID_TOKEN, exc.detail, reason=exc.reason) from None
        return web.json_response({"claims": {str(name): b64url(value) if isinstance(value, bytes) else value
                                             for name, value in claims.named().items()}})

    return shared.application(token, VALIDATOR_OK)


def _arguments(parser, port: int) -> None:
    service.add_arguments(parser, port)
    parser.add_argument("--keystore", required=True, metavar="URL",
                        help="the Keystore Manager, e.g. https://127.0.0.1:8441")
    parser.add_argument("--client-tls", metavar="DIR",
                        help="the bundle to call the keystore with (default: --tls's)")


def _keystore(args) -> KeystoreClient:
    return KeystoreClient(args.keystore, args.client_tls or args.tls)


def register_generator(subparsers) -> None:
    parser = subparsers.add_parser("token-generator", help="a domain server's Token Generator "
                                   "(D3.3 §4.3), REST", description=__doc__.splitlines()[0])
    _arguments(parser, GENERATOR_PORT)
    parser.add_argument("--policy", required=True, metavar="TOML",
                        help="the domain server's issuer, key and access policy")
    parser.set_defaults(func=lambda args: service.run(
        generator(Policy.load(args.policy), _keystore(args)), service.Listen.from_args(args),
        "token-generator"))


def register_validator(subparsers) -> None:
    parser = subparsers.add_parser("token-validator", help="the Token Validator (D3.3 §4.4), REST",
                                   description=__doc__.splitlines()[0])
    _arguments(parser, VALIDATOR_PORT)
    parser.add_argument("--policy", required=True, action="append", metavar="TOML",
                        help="trust the issuer (and key, audience) of this policy (repeatable)")
    parser.set_defaults(func=lambda args: service.run(
        validator([Policy.load(p) for p in args.policy], _keystore(args)),
        service.Listen.from_args(args), "token-validator"))
