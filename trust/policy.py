"""A trust policy: which signer keys an image's signatures may come from, in which role
(developer or authority), and which permissions each may grant (docs/trust.md "Policy").

A TOML file; key paths are relative to its folder::

    [[signer]]
    kid = "firmware-developer"        # the key's kid
    role = "developer"                # every image needs a developer's signature
    key = "developer.pub.cose"        # its public COSE_Key (EdDSA or ES256)
    grants = ["ipc", "console"]       # public permissions only (default: all of them)

    [[signer]]
    kid = "platform-authority"
    role = "authority"                # its signature grants privileged permissions
    key = "authority.pub.cose"
    grants = ["device:*", "partitions"]
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipsim.kernel.errors import PipsimError
from pipsim.tokens.errors import VaultError
from pipsim.tokens.keys import VERIFY, CoseKey

from . import permissions

DEVELOPER, AUTHORITY = "developer", "authority"
ROLES = (DEVELOPER, AUTHORITY)
_SIGNER_KEYS = {"kid", "role", "key", "grants"}


class PolicyError(PipsimError, ValueError):
    """A trust policy that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Signer:
    """One signer a policy trusts: its kid, role, verify-only key and what it may grant."""

    kid: bytes
    role: str
    key: CoseKey                       # verify-only
    grants: frozenset[str]


@dataclass(frozen=True)
class TrustPolicy:
    """The signers an image's signatures are checked against (docs/trust.md), by kid."""

    signers: dict[bytes, Signer]
    source: Path | None = None

    def signer(self, kid: bytes | None, role: str) -> Signer | None:
        """The policy's signer ``kid`` if it has ``role``, else None."""
        found = self.signers.get(kid) if kid is not None else None
        return found if found is not None and found.role == role else None


def load(path: str | os.PathLike) -> TrustPolicy:
    """Read and check a policy file; PolicyError says what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"{path}: cannot read a trust policy ({error})") from None
    return parse(data, path.parent, source=path)


def parse(data: dict, base: str | os.PathLike = ".", source: Path | None = None) -> TrustPolicy:
    """Check a policy given as its decoded TOML (key paths relative to ``base``); PolicyError
    says what is wrong."""
    where = source or "trust policy"
    if set(data) != {"signer"} or not isinstance(data["signer"], list) or not data["signer"]:
        raise PolicyError(f"{where}: a trust policy is a non-empty array of [[signer]] tables")
    signers: dict[bytes, Signer] = {}
    for i, table in enumerate(data["signer"]):
        signer = _signer(f"{where}: signer[{i}]", table, Path(base))
        if signer.kid in signers:
            raise PolicyError(f"{where}: signer[{i}].kid: {signer.kid.decode()!r} is listed twice")
        signers[signer.kid] = signer
    if not any(s.role == DEVELOPER for s in signers.values()):
        raise PolicyError(f"{where}: no developer signer: every image needs one's signature")
    return TrustPolicy(signers, source)


def _signer(where: str, table: Any, base: Path) -> Signer:
    if not isinstance(table, dict) or not {"kid", "role", "key"} <= set(table) <= _SIGNER_KEYS:
        raise PolicyError(f"{where}: needs kid, role and key (and may have grants)")
    kid, role, key_path = table["kid"], table["role"], table["key"]
    if not isinstance(kid, str) or not kid or not isinstance(key_path, str) or not key_path:
        raise PolicyError(f"{where}: kid and key are non-empty text")
    if role not in ROLES:
        raise PolicyError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    grants = table.get("grants", list(permissions.PUBLIC) if role == DEVELOPER else None)
    if not isinstance(grants, list):
        raise PolicyError(f"{where}.grants: an array of permissions (an authority must list them)")
    for grant in grants:
        why = permissions.grant_problem(grant)
        if why is not None:
            raise PolicyError(f"{where}.grants: {why}")
        if role == DEVELOPER and permissions.privileged(grant):
            raise PolicyError(f"{where}.grants: {grant!r} is privileged: only an authority "
                              "grants it")
    try:
        key = CoseKey.from_bytes((base / key_path).read_bytes(), uses={VERIFY})
    except (OSError, VaultError) as error:
        raise PolicyError(f"{where}.key: {error}") from None
    if key.is_symmetric:
        raise PolicyError(f"{where}.key: {key.alg.name} is symmetric; a signer's key is EdDSA or "
                          "ES256")
    if key.kid != kid.encode():
        raise PolicyError(f"{where}.key: its kid is {key.kid!r}, not {kid!r}")
    return Signer(key.kid, role, key.public_key(), frozenset(grants))
