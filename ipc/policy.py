"""The Configuration Manager's channel policy: which endpoint may send to which, how big."""
from __future__ import annotations

from typing import Iterable, Mapping

from .mailbox import MAX_PAYLOAD, Reason


class Policy:
    """A set of authorised (source, destination) channels, each with an optional size limit.

    Endpoints are partition names.  ``channels`` is manifest-style data: items
    ``{"from": "a", "to": "b", "max_size": 64}`` or tuples ``(src, dst[, max_size])``.
    Channels are one-way; ``allow(a, b, both=True)`` adds both directions.
    """

    def __init__(self, channels: Iterable = ()):
        self._max: dict[tuple[str, str], int] = {}
        for channel in channels:
            if isinstance(channel, Mapping):
                unknown = set(channel) - {"from", "to", "max_size"}
                if unknown or not {"from", "to"} <= set(channel):
                    raise ValueError(f"a channel needs 'from' and 'to' (and optionally "
                                     f"'max_size'), got keys {sorted(channel)}")
                self.allow(channel["from"], channel["to"], channel.get("max_size"))
            elif isinstance(channel, (tuple, list)) and len(channel) in (2, 3):
                self.allow(*channel)
            else:
                raise ValueError(f"a channel is (src, dst[, max_size]) or a mapping, "
                                 f"not {channel!r}")

    def allow(self, src: str, dst: str, max_size: int | None = None,
              both: bool = False) -> Policy:
        """Allow messages from ``src`` to ``dst`` (with ``both``, back too) of at most
        ``max_size`` payload bytes (None: MAX_PAYLOAD); returns the policy."""
        for name in (src, dst):
            if not isinstance(name, str) or not name:
                raise ValueError(f"channel endpoints are partition names, not {name!r}")
        if src == dst:
            raise ValueError(f"a channel joins two endpoints, not {src!r} to itself")
        if max_size is None:
            max_size = MAX_PAYLOAD
        if type(max_size) is not int or not 1 <= max_size <= MAX_PAYLOAD:
            raise ValueError(f"max_size must be an int in [1, {MAX_PAYLOAD}], not {max_size!r}")
        self._max[src, dst] = max_size
        if both:
            self._max[dst, src] = max_size
        return self

    def revoke(self, name: str) -> None:
        """Remove every channel from or to `name`."""
        self._max = {pair: size for pair, size in self._max.items() if name not in pair}

    @property
    def endpoints(self) -> set[str]:
        """Every endpoint a channel names."""
        return {name for pair in self._max for name in pair}

    def check(self, src: str, dst: str, length: int) -> Reason | None:
        """None if the channel src -> dst is authorised for a payload of `length` bytes."""
        limit = self._max.get((src, dst))
        if limit is None:
            return Reason.UNAUTHORISED
        return Reason.OVERSIZED if length > limit else None

    def __contains__(self, pair: Iterable[str]) -> bool:
        return tuple(pair) in self._max

    def __repr__(self) -> str:
        return f"Policy({len(self._max)} channels)"
