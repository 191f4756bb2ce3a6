"""Value types shared by the C-backed kernel and the reference model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .abi import (KERNEL_INDEX, MAX_PAGES, MAX_TABLE_SIZE, MIN_TABLE_SIZE, PAGE_SHIFT,
                  PAGE_SIZE)


@dataclass(frozen=True, order=True)
class Partition:
    """A partition, named by the physical page of its partition descriptor (pip-spec §1)."""

    pd: int

    def __repr__(self) -> str:
        return f"Partition(pd={self.pd})"


class Mapping(NamedTuple):
    """One present leaf entry of a partition's MMU tree."""

    pa: int
    r: bool
    w: bool
    x: bool
    accessible: bool


class Prepared(NamedTuple):
    """prepare's result: Pip packs ``ok`` into bit 0 of the returned VA (pip-spec §2.3)."""

    ok: bool
    next_va: int

    def __bool__(self) -> bool:
        return self.ok


class MemoryFault(Exception):
    """An access the partition's page tables refuse, as the MMU would."""

    def __init__(self, partition: Partition, va: int, access: str):
        super().__init__(f"{access} access to VA {va:#x} refused for {partition}")
        self.partition, self.va, self.access = partition, va, access


@dataclass(frozen=True)
class Geometry:
    """Page-table geometry chosen at boot (docs/kernel.md §1)."""

    pages: int
    table_size: int
    levels: int

    def __post_init__(self) -> None:
        for name in ("pages", "table_size", "levels"):
            value = getattr(self, name)
            if type(value) is not int:
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        ts, levels = self.table_size, self.levels
        if ts < MIN_TABLE_SIZE or ts > MAX_TABLE_SIZE or ts & (ts - 1):
            raise ValueError(f"table_size must be a power of two in [{MIN_TABLE_SIZE}, "
                             f"{MAX_TABLE_SIZE}], got {ts}")
        if levels < 2 or PAGE_SHIFT + levels * self.index_bits > 32:
            raise ValueError(f"levels must be >= 2 with levels*log2(table_size)+12 <= 32, "
                             f"got levels={levels} for table_size={ts}")
        if not 8 <= self.pages <= MAX_PAGES:
            raise ValueError(f"pages must be in [8, {MAX_PAGES}], got {self.pages}")

    @property
    def index_bits(self) -> int:
        """Bits of a VA that index one table (log2 of table_size)."""
        return self.table_size.bit_length() - 1

    @property
    def va_limit(self) -> int:
        """The first VA past an address space."""
        return 1 << (PAGE_SHIFT + self.levels * self.index_bits)

    @property
    def vidt_va(self) -> int:
        """Where every partition's VIDT page is: the last page of its address space."""
        return self.va_limit - PAGE_SIZE

    @property
    def slot_size(self) -> int:
        """Bytes of VA covered by one top-level entry."""
        return 1 << (PAGE_SHIFT + (self.levels - 1) * self.index_bits)

    @property
    def root_va_start(self) -> int:
        """The root's first VA past the kernel's top-level slot."""
        return (KERNEL_INDEX + 1) * self.slot_size

    def index(self, va: int, level: int) -> int:
        """The index of ``va`` in a table of ``level`` (0: a leaf table)."""
        return (va >> (PAGE_SHIFT + level * self.index_bits)) & (self.table_size - 1)
