"""``pipsim token keygen|issue|inspect|verify``: the token package on the command line.

Keys are COSE_Key files (CBOR) or the hex of a COSE_Key; tokens are hex or files of raw bytes.
The top-level ``pipsim`` CLI calls :func:`register` and reports the errors (``pipsim: error:
...``, exit status 2); a rejected token is a result: exit status 1.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from pipsim.kernel import exits
from pipsim.kernel.argtypes import positive_seconds, seconds
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.keyfiles import write_private
from pipsim.kernel.wire import CBORError, loads

from . import binding, cose, cwt
from .cbor import diagnostic
from .errors import TokenError
from .issuer import Issuer
from .keys import ALGORITHMS, CoseKey
from .validator import Validator
from .vault import KeyVault, as_kid

ALG_NAMES = [alg.name.replace(" ", "") for alg in ALGORITHMS.values()]


class CliError(PipsimError):
    """Bad command-line input (``pipsim`` prints it, exit status 2)."""


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``token`` command (with keygen, issue, inspect, verify) to an argparse subparsers object."""
    parser = subparsers.add_parser("token", help="issue, inspect and verify CBOR Web Tokens",
                                   description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="token_command", metavar="COMMAND", required=True)

    keygen = commands.add_parser("keygen", help="generate a COSE_Key")
    keygen.add_argument("--alg", default="HMAC256/64", type=str, help=f"one of {', '.join(ALG_NAMES)}")
    keygen.add_argument("--kid", required=True, help="key id (text)")
    keygen.add_argument("--out", help="write the COSE_Key here (default: print hex)")
    keygen.add_argument("--public-out", help="also write the verify-only public COSE_Key here")

    issue = commands.add_parser("issue", help="issue a token")
    issue.add_argument("--key", required=True, help="COSE_Key file or hex (must allow issuing)")
    issue.add_argument("--issuer", required=True, help="iss claim")
    issue.add_argument("--audience", required=True, help="aud claim: the partition the token is for")
    issue.add_argument("--scope", required=True, help='rights, e.g. "26261/0/7:w 3303/0:r"')
    issue.add_argument("--command", help="the command it authorises (its cmd claim): D3.3 JSON "
                       '{"domain", "device", "operation": {...}, "value"} or a file holding it')
    issue.add_argument("--lifetime", type=positive_seconds, default=300, help="seconds (default 300)")
    issue.add_argument("--subject", help="sub claim")
    issue.add_argument("--now", type=seconds, help="issue time (default: the clock)")
    issue.add_argument("--untagged", action="store_true", help="omit the COSE tag")
    issue.add_argument("--cwt-tag", action="store_true", help="wrap in the CWT tag 61")
    issue.add_argument("--out", help="write the raw token here (default: print hex)")

    inspect = commands.add_parser("inspect", help="show a token's CBOR and claims")
    inspect.add_argument("token", help="token hex, or a file holding the raw token")
    inspect.add_argument("--key", help="also check the MAC / signature with this COSE_Key")

    verify = commands.add_parser("verify", help="fully validate a token")
    verify.add_argument("token", help="token hex, or a file holding the raw token")
    verify.add_argument("--key", required=True, action="append", help="COSE_Key file or hex (repeatable)")
    verify.add_argument("--audience", required=True)
    verify.add_argument("--issuer", required=True, action="append", help="accepted issuer (repeatable)")
    verify.add_argument("--operation", help="requested operation: read, write, execute, delete, create")
    verify.add_argument("--resource", help="requested LwM2M path, e.g. 26261/0/7")
    verify.add_argument("--command", help="the command asked for (JSON or a file): the token "
                        "must cover it")
    verify.add_argument("--leeway", type=seconds, default=30,
                        help="clock skew allowed, seconds (default 30)")
    verify.add_argument("--now", type=seconds, help="validation time (default: the clock)")
    parser.set_defaults(func=run)
    return parser


def run(args, out=None) -> int:
    """Handle a parsed ``token`` command; returns the exit status (0 ok, 1 token rejected).
    Bad input raises a PipsimError (CliError, VaultError, ScopeError, TokenError)."""
    return _COMMANDS[args.token_command](args, out or sys.stdout)


def _read_arg(text: str, what: str) -> bytes:
    if os.path.isfile(text):
        with open(text, "rb") as handle:
            return handle.read()
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise CliError(f"{what} {text!r} is neither a file nor hex") from None


def _command(text: str | None) -> bytes | None:
    """The digest of the command a --command argument gives (JSON text or a JSON file)."""
    if text is None:
        return None
    try:
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as handle:
                text = handle.read()
        return binding.digest_of(json.loads(text))
    except (ValueError, OSError) as exc:
        raise CliError(f"--command: {exc}") from None


def _load_key(text: str) -> CoseKey:
    return CoseKey.from_bytes(_read_arg(text, "key"))


def _keygen(args, out) -> int:
    key = CoseKey.generate(args.alg, as_kid(args.kid))
    if args.public_out and key.is_symmetric:
        raise CliError(f"{key.alg.name} keys are symmetric: there is no public part to write")
    if args.out:
        key.save(args.out)
        print(f"wrote {key.alg.name} key {args.kid!r} to {args.out} (mode 0600)", file=out)
    else:
        print(key.to_bytes().hex(), file=out)
    if args.public_out:
        key.save(args.public_out, private=False)
        print(f"wrote public key to {args.public_out}", file=out)
    return 0


def _issue(args, out) -> int:
    vault = KeyVault()
    key = vault.add(_load_key(args.key))
    token = Issuer(vault, key.kid, args.issuer, tagged=not args.untagged, cwt_tag=args.cwt_tag).issue(
        args.audience, args.scope, args.lifetime, subject=args.subject, now=args.now,
        command=_command(args.command))
    if args.out:
        write_private(args.out, token, replace=True)     # a bearer credential
        print(f"wrote {len(token)}-byte token to {args.out}", file=out)
    else:
        print(token.hex(), file=out)
    return 0


def _when(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return f"{value} ({datetime.datetime.fromtimestamp(value, datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
        except (OverflowError, ValueError, OSError):
            pass
    return diagnostic(value)


def _inspect(args, out) -> int:
    data = _read_arg(args.token, "token")
    print(f"token: {len(data)} bytes", file=out)
    try:
        print(f"CBOR: {diagnostic(loads(data))}", file=out)
    except CBORError as exc:
        print(f"not acceptable CBOR: {exc}", file=out)
        return exits.NO
    try:
        message = cose.decode(data)
    except TokenError as exc:
        print(f"rejected: {exc}", file=out)
        return exits.NO
    kind = "COSE_Mac0" if message.alg.is_mac else "COSE_Sign1"
    tags = ", ".join(t for t, on in (("CWT tag 61", message.cwt_tagged), ("COSE tag", message.cose_tagged)) if on)
    print(f"{kind} ({tags or 'untagged'}), alg {message.alg.name}, kid {diagnostic(message.kid)}", file=out)
    print(f"protected: {diagnostic(dict(message.protected))}", file=out)
    print(f"unprotected: {diagnostic(dict(message.unprotected))}", file=out)
    status = 0
    try:
        claims = cwt.decode(message.payload)
    except TokenError as exc:
        print(f"claims: rejected: {exc}", file=out)
        status = exits.NO
    else:
        print("claims:", file=out)
        for name, value in claims.named().items():
            shown = _when(value) if name in ("exp", "nbf", "iat") else diagnostic(value)
            print(f"  {name}: {shown}", file=out)
    if args.key:
        key = _load_key(args.key)
        try:
            message.verify(key)
        except TokenError as exc:
            print(f"verifies with key {diagnostic(key.kid)}: no ({exc})", file=out)
            return exits.NO
        print(f"verifies with key {diagnostic(key.kid)}: yes", file=out)
    return status


def _verify(args, out) -> int:
    vault = KeyVault()
    for text in args.key:
        vault.add(_load_key(text), replace=True)
    validator = Validator(vault, args.audience, set(args.issuer), leeway=args.leeway, boot_time=None)
    try:
        claims = validator.validate(_read_arg(args.token, "token"), operation=args.operation,
                                    resource=args.resource, command=_command(args.command),
                                    now=args.now)
    except TokenError as exc:
        print(f"invalid: {exc}", file=out)
        return exits.NO
    except ValueError as exc:  # operation / resource malformed
        raise CliError(str(exc)) from None
    print("valid", file=out)
    for name, value in claims.named().items():
        print(f"  {name}: {_when(value) if name in ('exp', 'nbf', 'iat') else diagnostic(value)}", file=out)
    return 0


_COMMANDS = {"keygen": _keygen, "issue": _issue, "inspect": _inspect, "verify": _verify}
