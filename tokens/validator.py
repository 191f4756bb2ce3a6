"""Token & Security Validator: checks a management command's token (ODSI §V.C.3, D3.3 §4.4)."""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import EllipsisType

from pipsim.kernel import reproducible

from . import cose, cwt
from .errors import TokenError
from .keys import VERIFY, CoseKey
from .replay import ReplayCache
from .scope import ScopeError, allows, parse, request as parse_request
from .vault import KeyVault, as_kid

DEFAULT_LEEWAY = 30.0


class Validator:
    """Validates CWTs for one audience (the partition the commands are for).

    ``issuers`` is a collection of accepted issuer names (any vault key), or a mapping
    from issuer name to the kids that issuer may use, None meaning any (binding keys to
    issuers, so one domain's key cannot vouch for another domain's tokens).

    Checks run in ACE order (RFC 9200 §5.10.1.1): integrity (COSE MAC/signature with the
    vault key named by kid), issuer, expiry and not-before (with ``leeway`` seconds of
    clock skew), audience, scope against the requested operation and resource, then the
    replay check.  Management tokens must carry iss, aud, exp, cti and scope (ODSI
    §V.C.3: destination, rights, token id and expiry); iat too while ``boot_time`` is set.

    Reboots: the replay cache is in RAM, so after a reboot it cannot recognise tokens
    used before.  With ``boot_time`` (default: when the validator was created) tokens
    whose iat is earlier than ``boot_time - leeway`` are refused as ``replayed``; issuers
    simply issue a fresh token.  ``boot_time=None`` turns this off (only safe if the
    cache survives reboots or tokens are single-use by other means).
    """

    def __init__(self, vault: KeyVault, audience: str, issuers: Collection[str] | Mapping[str, Collection],
                 *, leeway: float = DEFAULT_LEEWAY, replay_cache: ReplayCache | None = None,
                 cache_size: int = 1024, boot_time: float | None | EllipsisType = ...,
                 clock: Callable[[], float] = reproducible.clock):
        if isinstance(issuers, str):
            raise TypeError("issuers must be a collection of names, not one string")
        self.vault = vault
        self.audience = audience
        if isinstance(issuers, Mapping):
            self.issuers = {name: None if kids is None else frozenset(map(as_kid, kids))
                            for name, kids in issuers.items()}
        else:
            self.issuers = dict.fromkeys(issuers)
        self.leeway = float(leeway)
        self.replay_cache = replay_cache if replay_cache is not None else ReplayCache(cache_size)
        self.clock = clock
        self.boot_time = clock() if boot_time is ... else boot_time

    def validate(self, token: bytes, *, operation: str | None = None, resource: str | None = None,
                 command: bytes | None = None, now: float | None = None,
                 external_aad: bytes = b"") -> cwt.Claims:
        """Return the token's claims if it authorizes ``operation`` on ``resource``; else raise TokenError.

        ``operation`` is a name or letter ("write", "w"), ``resource`` a path ("26261/0/7");
        a malformed request raises ScopeError (a ValueError), not TokenError.  Without
        them the scope is only checked for form.  ``command``: the digest of the command
        asked for (pipsim.tokens.binding.digest); the token must carry the same in its ``cmd``
        claim (``command_mismatch``; ``missing_claim`` without one).  An Administration
        Manager authorizing a command passes all three.  The token is recorded in the
        replay cache only when every other check passed."""
        if (operation is None) != (resource is None):
            raise ValueError("pass both operation and resource, or neither")
        request = None if operation is None else parse_request(operation, resource)
        if now is None:
            now = self.clock()
        message = cose.decode(token)
        kid = message.kid
        message.verify(self._key(kid), external_aad)
        claims = cwt.decode(message.payload)
        iss, _, aud, exp, nbf, iat, cti, scope, cmd, _ = claims
        boot_time = self.boot_time
        if iss is None or aud is None or exp is None or cti is None or scope is None \
                or iat is None and boot_time is not None:
            name = next(n for n in ("iss", "aud", "exp", "cti", "scope", "iat") if getattr(claims, n) is None)
            raise TokenError("missing_claim", f"management tokens must carry {name}")
        allowed_kids = self.issuers.get(iss, ())
        if allowed_kids is not None and kid not in allowed_kids:
            if iss not in self.issuers:
                raise TokenError("wrong_issuer", f"issuer {iss!r} is not accepted")
            raise TokenError("wrong_issuer", f"issuer {iss!r} may not use key {kid!r}")
        leeway = self.leeway
        if now >= exp + leeway:
            raise TokenError("expired", f"token expired at {exp} (now {now}, leeway {leeway:g}s)")
        if nbf is not None and now < nbf - leeway:
            raise TokenError("not_yet_valid", f"token not valid before {nbf} (now {now})")
        if iat is not None and iat > now + leeway:
            raise TokenError("not_yet_valid", f"token issued in the future at {iat} (now {now})")
        if aud != self.audience:
            raise TokenError("wrong_audience", f"token is for {aud!r}, not {self.audience!r}")
        try:
            granted = parse(scope) if request is None else allows(scope, *request)
        except ScopeError as exc:
            raise TokenError("malformed", f"scope: {exc}") from None
        if not granted:
            raise TokenError("out_of_scope", f"scope {scope!r} does not allow {operation} on {resource}")
        if command is not None and cmd != command:
            if cmd is None:
                raise TokenError("missing_claim", "management tokens must carry cmd, the digest "
                                 "of the command they authorise")
            raise TokenError("command_mismatch", "the command differs from the one the token "
                             f"authorises (its digest {command.hex()[:16]}..., the token's "
                             f"{cmd.hex()[:16]}...)")
        if boot_time is not None and iat is not None and iat < boot_time - leeway:
            raise TokenError("replayed", f"token issued at {iat}, before boot at {boot_time};"
                             " the replay cache cannot vouch for it")
        self.replay_cache.remember(iss, cti, exp + leeway, now)
        return claims

    def _key(self, kid: bytes | None) -> CoseKey:
        """The vault key a token's kid names, if it may verify."""
        if kid is None:
            raise TokenError("unknown_key", "token names no kid")
        key = self.vault.get(kid)
        if key is None:
            raise TokenError("unknown_key", f"no key with kid {kid!r}")
        if VERIFY not in key.uses:
            raise TokenError("unknown_key", f"key {kid!r} is not allowed to verify")
        return key
