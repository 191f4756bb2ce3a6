"""The small interface more MMIO devices plug in through (docs/abi.md "Memory map").

A device owns one physical page. The machine gives it one of the root's pages (the
last pages of the root's linear range, below its VIDT), so the root can delegate it
down the tree like any page; guest reads and writes of that page reach the device's
`read` / `write`. The console and the system device are built in (native C); devices
written in Python cost one callback (about a microsecond) per access.
"""
from __future__ import annotations

from typing import Callable, Protocol


class Device(Protocol):
    """A device written in Python: its name and what guest loads and stores of its page do."""

    name: str

    def read(self, offset: int, size: int) -> int:
        """The value a guest load of `size` bytes at `offset` in the page returns."""
        ...

    def write(self, offset: int, size: int, value: int) -> None:
        """A guest store of `size` bytes at `offset` in the page."""
        ...


class Registers:
    """A device that is just a page of 32-bit registers, with an optional hook per write:
    a minimal base for sensors and actuators."""

    def __init__(self, name: str, on_write: Callable[[int, int], object] | None = None):
        self.name, self._on_write = name, on_write
        self.words: dict[int, int] = {}

    def read(self, offset: int, size: int) -> int:
        """The register at ``offset`` (its word; 0 if never written)."""
        return self.words.get(offset & ~3, 0)

    def write(self, offset: int, size: int, value: int) -> None:
        """Set the register at ``offset``, then call the write hook with (word offset, value)."""
        self.words[offset & ~3] = value
        if self._on_write:
            self._on_write(offset & ~3, value)

    # the device's own side (the hardware changing or showing its registers)
    def get(self, offset: int) -> int:
        """The register at ``offset``, as the device reads it."""
        return self.words.get(offset & ~3, 0)

    def set(self, offset: int, value: int) -> None:
        """Set the register at ``offset`` from the device's side (no hook)."""
        self.words[offset & ~3] = value & 0xFFFFFFFF

    # a snapshot's (Machine.snapshot, Machine.restore)
    def state(self) -> dict[int, int]:
        """The registers: {word offset: value}."""
        return dict(self.words)

    def set_state(self, state: dict) -> None:
        """The registers a snapshot holds: {word offset in the page: 32-bit value}; ValueError,
        nothing changed, for anything else."""
        if not (isinstance(state, dict) and all(
                type(o) is int and type(v) is int and 0 <= o < 4096 and not o & 3
                and 0 <= v < 1 << 32 for o, v in state.items())):
            raise ValueError(f"device {self.name!r}: a state is {{word offset: 32-bit value}}")
        self.words = dict(state)
