"""What a management token authorises: one command, bound by its digest.

D3.3 §2.2 asks that "no interceptor can modify the message": a token that named only rights
(its scope) let a captured command be replayed with another value, or at another device.  So
a token also carries the digest of the one command it authorises, in the claim ``cmd``:

    cmd = SHA-256(canonical CBOR of {"domain", "device",
                  "operation": {"code", "objectId", "objectInstanceId", "resourceId"
                                [, "resourceInstanceId"]},
                  "value"})

* the fields are D3.3 §4.2's command, less its ``id`` (the transport's correlation number) and
  its tokens; the map is encoded deterministically: RFC 8949 §4.2.1's preferred serialization
  and definite lengths, with §4.2.3's length-first key order (RFC 7049 §3.9 "canonical CBOR",
  what cbor2 writes with canonical=True), so issuer and device hash the same bytes whatever
  form (CBOR or D3.3's JSON) the command travelled in;
* ``cmd`` is a private-use claim key (RFC 8392 §9.1: keys below -65536), the way DPoP's
  ``ath`` (RFC 9449 §4.3) binds a proof to one access token by its hash;
* token B (paper Fig. 9) covers the command as the owner domain receives it: the same
  command, its ``domain`` the owner's.

The validator compares the claim with the digest of the command it is asked to authorise
(``Validator.validate(..., command=digest)``): any field changed is ``command_mismatch``.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

import cbor2

CMD = -65537                         # the claim key (private use, RFC 8392 §9.1)
OPERATION_KEYS = ("objectId", "objectInstanceId", "resourceId", "resourceInstanceId")
CODE_ALIASES = {"exec": "execute"}   # D3.3 §3.2 writes "exec"; it is LwM2M's execute


def operation_code(code: Any) -> Any:
    """The operation a command's code names (D3.3's "exec" is "execute")."""
    return CODE_ALIASES.get(code, code) if isinstance(code, str) else code


def command_map(domain: str, device: str, code: str, path: Iterable[int], value: Any) -> dict:
    """The command a token covers, as D3.3 §4.2 spells its fields, its keys (and its
    operation's) in canonical order: "value", "device", "domain", "operation"; "code",
    "objectId", "resourceId", "objectInstanceId", "resourceInstanceId"."""
    operation = {"code": operation_code(code), **dict(zip(OPERATION_KEYS, path))}
    return {"value": value, "device": device, "domain": domain,
            "operation": {key: operation[key] for key in _CANONICAL_OPERATION if key in operation}}


_CANONICAL_OPERATION = ("code", "objectId", "resourceId", "objectInstanceId",
                        "resourceInstanceId")
_SCALARS = (type(None), bool, int, str, bytes)


def digest_of(command: Any) -> bytes:
    """The digest of a command given as D3.3 §4.2 writes it (a decoded JSON or CBOR map; its
    ``id`` and tokens, if there, are not covered); ValueError naming what is missing."""
    if not isinstance(command, dict) or not isinstance(command.get("operation"), dict):
        raise ValueError('a command is a map {"domain", "device", "operation": {"code", '
                         '"objectId", "objectInstanceId", "resourceId"[, "resourceInstanceId"]},'
                         ' "value"}')
    op = command["operation"]
    missing = [k for k in ("domain", "device") if k not in command] + [
        k for k in ("code", *OPERATION_KEYS[:3]) if k not in op]
    if missing:
        raise ValueError(f"the command has no {', '.join(missing)}")
    path = tuple(op[k] for k in OPERATION_KEYS if k in op)
    return digest(command["domain"], command["device"], op["code"], path, command.get("value"))


def digest(domain: str, device: str, code: str, path: Iterable[int], value: Any) -> bytes:
    """SHA-256 of the command's canonical CBOR encoding (RFC 8949 §4.2.1, §4.2.3)."""
    command = command_map(domain, device, code, path, value)
    # with its keys in canonical order and a scalar value, the plain encoding is the canonical
    # one (cbor2 writes shortest heads and definite lengths); maps or floats in the value
    # need canonical mode (3.7 µs instead of 0.9)
    encoded = cbor2.dumps(command, canonical=type(value) not in _SCALARS)
    return hashlib.sha256(encoded).digest()
