"""Bounded replay cache for token ids (ODSI security architecture §V.C.3).

Each accepted token is remembered by (issuer, cti) until its expiry plus the leeway;
while remembered, the same (issuer, cti) is rejected as ``replayed``.  After that the
token is rejected as ``expired`` anyway, so the entry can go.  The cache holds at most
``capacity`` live entries: when it is full of entries that have not yet expired, a new
token cannot be remembered, and the validator fails closed with ``replay_cache_full``
rather than accept a token it could not later recognise as a replay.  Size it as
(peak accepted tokens per second) x (longest lifetime + leeway).

The cache lives in RAM and is empty after a reboot; see ``Validator(boot_time=...)``
for how tokens issued before boot are kept out.
"""
from __future__ import annotations

from heapq import heappop, heappush

from .errors import TokenError


class ReplayCache:
    """(issuer, cti) -> time until which the pair is remembered, bounded to ``capacity``."""

    def __init__(self, capacity: int = 1024):
        if capacity < 1:
            raise ValueError("replay cache capacity must be at least 1")
        self.capacity = capacity
        self._until: dict[tuple[str, bytes], float] = {}
        self._expiries: list[tuple[float, tuple[str, bytes]]] = []  # min-heap over _until

    def __len__(self) -> int:
        return len(self._until)

    def remember(self, issuer: str, cti: bytes, until: float, now: float) -> None:
        """Record a token seen at ``now``; raises TokenError if it was seen and is still remembered."""
        key = (issuer, cti)
        known = self._until
        seen_until = known.get(key)
        if seen_until is not None and seen_until > now:
            raise TokenError("replayed", f"token {cti.hex()} from {issuer!r} was already used")
        if len(known) >= self.capacity or len(self._expiries) >= 2 * self.capacity:
            self._purge(now)  # the heap also holds superseded entries; they are all past
            if len(self._until) >= self.capacity:
                raise TokenError("replay_cache_full",
                                 f"all {self.capacity} replay-cache entries hold unexpired tokens;"
                                 f" the earliest frees at {self._expiries[0][0]}")
        known[key] = until
        heappush(self._expiries, (until, key))

    def _purge(self, now: float) -> None:
        expiries, until = self._expiries, self._until
        while expiries and expiries[0][0] <= now:
            when, key = heappop(expiries)
            if until.get(key) == when:
                del until[key]
