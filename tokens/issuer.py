"""Token generator (ODSI D3.3 §4.3): issues CWTs for management commands."""
from __future__ import annotations

from typing import Callable

from pipsim.kernel import reproducible

from . import cose
from .cwt import Claims
from .errors import VaultError
from .keys import ISSUE
from .scope import Scope, parse
from .vault import KeyVault, as_kid

CTI_BYTES = 8


class Issuer:
    """Issues CWTs signed or MACed with the vault key ``kid``, with iss = ``issuer``.

    Tokens are COSE_Mac0 / COSE_Sign1 by the key's algorithm, COSE-tagged (17/18) unless
    ``tagged`` is false, and wrapped in the CWT tag 61 if ``cwt_tag``."""

    def __init__(self, vault: KeyVault, kid: bytes | str, issuer: str, *, tagged: bool = True,
                 cwt_tag: bool = False, clock: Callable[[], float] = reproducible.clock):
        key = vault.get(kid)
        if key is None:
            raise VaultError(f"no key with kid {as_kid(kid)!r}")
        if ISSUE not in key.uses:
            raise VaultError(f"key {key.kid!r} is not allowed to issue")
        self.key = key
        self.issuer = issuer
        self.tagged = tagged
        self.cwt_tag = cwt_tag
        self.clock = clock

    def issue(self, audience: str, scope: str | Scope, lifetime: float = 300, *, subject: str | None = None,
              now: float | None = None, not_before: float | None = None, cti: bytes | None = None,
              command: bytes | None = None, extra: dict | None = None) -> bytes:
        """A token for ``audience`` granting ``scope`` (see pipsim.tokens.scope), valid ``lifetime`` s,
        for the one command whose digest is ``command`` (pipsim.tokens.binding.digest: a management
        token must name it).

        iat = now, exp = now + lifetime; cti is random unless given (pipsim.kernel.reproducible:
        a seeded run's are the seed's)."""
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        scope_text = str(scope if isinstance(scope, Scope) else parse(scope))
        now = int(self.clock() if now is None else now)
        claims = Claims(iss=self.issuer, sub=subject, aud=audience, exp=now + int(lifetime), nbf=not_before,
                        iat=now, cti=reproducible.random_bytes(CTI_BYTES) if cti is None else cti, scope=scope_text,
                        cmd=command, other=dict(extra or {}))
        return cose.encode(self.key, claims.encode(), tagged=self.tagged, cwt_tag=self.cwt_tag)
