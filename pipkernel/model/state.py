"""The model's state: Pip's ``state = {currentPartition; memory}`` plus the CPU context.

``current`` is the physical page of the running partition's descriptor (Pip's
``currentPartition``: the services take their caller apart and leave it, but for a switch and
deletePartition's one case, kernel.md §6); ``cpu`` is the 20-word context of the running partition;
``last_error`` is the reason of the last syscall's failure (None after a success); ``policy`` is
fixed at boot and ``devices`` holds the pages marked as device (MMIO) pages (kernel.md §9).
"""
from __future__ import annotations

from ..abi import CONTEXT_WORDS, PipError
from ..types import Geometry
from .memory import PhysicalMemory

#: Pip's ``pageRootPartition := CPage 1`` (the multiplexer)
ROOT_PD = 1


class State:
    def __init__(self, geometry: Geometry, policy: str):
        self.geo = geometry
        self.ts = geometry.table_size
        self.levels = geometry.levels
        self.nbL = geometry.levels - 1            # top level index (Pip's nbL)
        self.va_limit = geometry.va_limit
        #: mask applied to VAs read from memory or given as arguments: page-aligned, below VA_LIMIT
        self.va_page_mask = (geometry.va_limit - 1) & ~0xFFF
        self.mem = PhysicalMemory(geometry.pages)
        self.current = ROOT_PD
        self.cpu: list[int] = [0] * CONTEXT_WORDS
        self.last_error: PipError | None = None
        self.policy = policy
        self.devices: set[int] = set()

    @property
    def hardened(self) -> bool:
        return self.policy == "hardened"


def fail(s: State, reason: PipError, value):
    """A failed check: record why and return Pip's failure value."""
    s.last_error = reason
    return value


def succeed(s: State, value):
    s.last_error = None
    return value
