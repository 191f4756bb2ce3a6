"""Exceptions raised by the token package."""
from pipsim.kernel.errors import PipsimError

REASONS = frozenset({
    "malformed", "unsupported_algorithm", "unknown_key", "bad_signature",
    "wrong_issuer", "expired", "not_yet_valid", "wrong_audience", "out_of_scope",
    "missing_claim", "command_mismatch", "replayed", "replay_cache_full",
})


class TokenError(PipsimError):
    """A token was rejected; ``reason`` is one of ``REASONS``, ``detail`` says what was wrong."""

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"unknown TokenError reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class VaultError(PipsimError):
    """A key could not be imported, generated, found or stored."""
