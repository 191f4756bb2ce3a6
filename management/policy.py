"""A domain server's access policy (paper §V.C, Fig. 8 "client authenticated, policy
checked"; Fig. 9 for token B): which authenticated caller may obtain a token for which
operations on which resources of which devices.  A TOML file::

    issuer = "owner-server"        # the tokens' iss: this domain server's name
    key = "owner.cose"             # its issuing COSE_Key (the enrolment copy `pipsim serve
                                   # --export-keys` writes), relative to this file
    audience = "owner"             # the domain the tokens are for: a command's "domain"
    lifetime = 300                 # seconds a token lives (default 300)

    [device_keys]                  # optional: a device's own issuing key (each device of a
    dev-000 = "keys/dev-000/owner.cose"   # fleet boots its own), instead of ``key``

    [[grant]]
    client = "alice"               # the caller's identity (certificate CN); "*": any caller
    domain = "owner"               # the alias whose key ciphered the request
    devices = ["gateway"]          # device names, or ["*"]
    operations = ["read", "write"] # read, write, execute (or exec), delete, create
    paths = ["3311/0/5850", "26261"]  # LwM2M paths; each covers what is below it
    lifetime = 60                  # optional: shorter tokens for this grant

A grant to another domain's server (client = "maintainer-server", domain = "maintainer")
is what lets that domain obtain token B for the commands it forwards to this one (Fig. 9).
A request is allowed when one grant matches all of caller, alias, device, operation and
path; the token it gets grants exactly that operation on that path (least privilege).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipsim.domains.commands import Command
from pipsim.kernel.errors import PipsimError
from pipsim.tokens import CoseKey, VaultError, binding
from pipsim.tokens.scope import OPERATIONS, ScopeError, parse_path

ANY = "*"
DEFAULT_LIFETIME = 300
_TOP = {"issuer", "key", "audience", "lifetime", "grant", "device_keys"}
_GRANT = {"client", "domain", "devices", "operations", "paths", "lifetime"}


class PolicyError(PipsimError):
    """A policy file that cannot be used; the message names the file and the field."""


class Forbidden(PipsimError):
    """The policy does not allow what was asked; the message says what."""


@dataclass(frozen=True)
class Grant:
    client: str
    domain: str
    devices: frozenset
    operations: frozenset
    paths: tuple
    lifetime: int

    def allows(self, client: str, alias: str, command: Command) -> bool:
        return (self.client in (ANY, client) and self.domain == alias
                and (ANY in self.devices or command.device in self.devices)
                and command.code in self.operations
                and any(command.path[:len(p)] == p for p in self.paths))


@dataclass(frozen=True)
class Policy:
    issuer: str
    key: CoseKey
    audience: str
    grants: tuple
    device_keys: dict = field(default_factory=dict)   # device name -> its own CoseKey

    def key_for(self, device: str) -> CoseKey:
        """The key that issues tokens for ``device``: its own, or the policy's ``key``."""
        return self.device_keys.get(device, self.key)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"policy {path}: {exc}") from None
        where = f"policy {path}"
        _known(data, _TOP, where)
        issuer, audience = _text(data, "issuer", where), _text(data, "audience", where)
        lifetime = _lifetime(data.get("lifetime", DEFAULT_LIFETIME), where)
        key = _issuing_key(path.parent / _text(data, "key", where), where)
        device_keys = data.get("device_keys", {})
        if not isinstance(device_keys, dict):
            raise PolicyError(f"{where}: device_keys must be a table (device = key file)")
        device_keys = {device: _issuing_key(path.parent / _text(device_keys, device,
                                                                f"{where}: device_keys"), where)
                       for device in device_keys}
        grants = data.get("grant", [])
        if not isinstance(grants, list):
            raise PolicyError(f"{where}: grant must be an array of tables ([[grant]])")
        return cls(issuer, key, audience,
                   tuple(_grant(g, lifetime, f"{where}, grant {i + 1}") for i, g in enumerate(grants)),
                   device_keys)

    def check(self, client: str, alias: str, command: Command) -> Grant:
        """The grant that lets ``client``, with the key of ``alias``, have a token for
        ``command``; Forbidden if none does."""
        if command.domain != self.audience:
            raise Forbidden(f"this server issues tokens for domain {self.audience!r}, "
                            f"not {command.domain!r}")
        for grant in self.grants:
            if grant.allows(client, alias, command):
                return grant
        raise Forbidden(f"{client!r} (with the key of {alias!r}) may not {command.code} "
                        f"{command.resource} on {command.device!r}")


def scope_of(command: Command) -> str:
    """The token's scope for one command: its operation on its path (pipsim.tokens.scope)."""
    return f"{command.resource}:{OPERATIONS[command.code]}"


def _issuing_key(path: Path, where: str) -> CoseKey:
    try:
        key = CoseKey.from_bytes(path.read_bytes())
    except (OSError, VaultError) as exc:
        raise PolicyError(f"{where}: key {path}: {exc}") from None
    if "issue" not in key.uses:
        raise PolicyError(f"{where}: key {path} may not issue tokens")
    return key


def _known(table, keys: set, where: str) -> None:
    if not isinstance(table, dict):
        raise PolicyError(f"{where} must be a table")
    unknown = set(table) - keys
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")


def _text(table: dict, name: str, where: str) -> str:
    value = table.get(name)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: {name} must be a non-empty string")
    return value


def _texts(table: dict, name: str, where: str) -> list:
    value = table.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"{where}: {name} must be a non-empty list of strings")
    return value


def _lifetime(value, where: str) -> int:
    if type(value) is not int or value <= 0:
        raise PolicyError(f"{where}: lifetime must be a positive whole number of seconds")
    return value


def _grant(table, default_lifetime: int, where: str) -> Grant:
    _known(table, _GRANT, where)
    operations = [binding.operation_code(op) for op in _texts(table, "operations", where)]
    unknown = set(operations) - set(OPERATIONS)
    if unknown:
        raise PolicyError(f"{where}: unknown operation(s) {', '.join(sorted(unknown))}; "
                          f"use {', '.join(OPERATIONS)}")
    try:
        paths = tuple(parse_path(p) for p in _texts(table, "paths", where))
    except ScopeError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    return Grant(_text(table, "client", where), _text(table, "domain", where),
                 frozenset(_texts(table, "devices", where)), frozenset(operations), paths,
                 _lifetime(table.get("lifetime", default_lifetime), where))
