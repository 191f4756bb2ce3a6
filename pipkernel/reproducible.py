"""The one source of what a session's transcript prints that would otherwise differ from run
to run: token ids (random bytes) and the wall clock.  By default, ``os.urandom`` and
``time.time``; within ``seeded(seed)`` (``pipsim run --seed N``) a ``random.Random(seed)``
and a simulated clock that starts at `EPOCH` and advances `TICK` seconds at each reading, so
that the same seed prints the same transcript, byte for byte.

Only what a transcript shows draws on it: key material (keys, their nonces, attestation
challenges, sealing) never does, seeded or not, and a service (``pipsim serve``) never runs
seeded.  A seeded run's token ids are predictable by design: it is for demonstrations and
tests, not for a device that meets attackers."""
from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

EPOCH = 1_700_000_000          # the simulated clock's first reading: 2023-11-14 22:13:20 UTC
TICK_MS = 1                    # how far the simulated clock advances at each reading (ms)


@dataclass
class _Seeded:
    random: random.Random
    readings: int = field(default=0)

    def clock(self) -> float:
        self.readings += 1
        return (EPOCH * 1000 + self.readings * TICK_MS) / 1000


_source: ContextVar[_Seeded | None] = ContextVar("pipsim_reproducible", default=None)


def random_bytes(n: int) -> bytes:
    """``n`` random bytes for an identifier a transcript may show (a token's cti)."""
    source = _source.get()
    return os.urandom(n) if source is None else source.random.randbytes(n)


def clock() -> float:
    """The time, in seconds since the Unix epoch: the wall clock, or when seeded the
    simulated one."""
    source = _source.get()
    return time.time() if source is None else source.clock()


@contextmanager
def seeded(seed: int):
    """Within the block, random_bytes and clock are the seed's (see the module)."""
    token = _source.set(_Seeded(random.Random(seed)))
    try:
        yield
    finally:
        _source.reset(token)
