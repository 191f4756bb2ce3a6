"""The public API of the reference model: ``Kernel`` and the per-partition syscall view.

Arguments are validated here, before the kernel is entered (TypeError / ValueError naming the
argument); the services themselves (services.py, control.py) only see in-range integers.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..abi import CONTEXT_WORDS, PAGE_SIZE, POLICIES, PTE_ACCESSIBLE, PTE_EXEC, PTE_PRESENT, \
    PTE_READ, PTE_WRITE, RESUME_SELF, PipError
from ..types import Geometry, Mapping, MemoryFault, Partition, Prepared
from . import control, services
from .boot import boot
from .extra_properties import checkExtraProperties
from .invariants import checkInvariants
from .mal import leafIndex, leafMMU, readEntry
from .observe import Snapshot
from .state import ROOT_PD, State

WORD_LIMIT = 1 << 32
_ACCESS_BITS = {"r": PTE_READ, "w": PTE_WRITE, "x": PTE_EXEC}


# ---------------------------------------------------------------- argument validation


def _check_va(k: "Kernel", name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (a virtual address), not {type(value).__name__}")
    if not 0 <= value < k.geometry.va_limit:
        raise ValueError(f"{name} must satisfy 0 <= {name} < {k.geometry.va_limit:#x}, "
                         f"got {value:#x}" if value >= 0 else f"{name} must be >= 0, got {value}")
    return int(value)


def _check_word(name: str, value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < WORD_LIMIT:
        raise ValueError(f"{name} must be a 32-bit value (0 <= {name} < 2**32), got {value}")
    return int(value)


def _check_policy(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"policy must be a str (one of {', '.join(POLICIES)}), "
                        f"not {type(value).__name__}")
    if value not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {value!r}")
    return value


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be a bool (or 0/1), not {type(value).__name__}")
    if value not in (0, 1):
        raise ValueError(f"{name} must be a bool (or 0/1), got {value}")
    return bool(value)


# ---------------------------------------------------------------- the kernel


_ACCESS_NAMES = {"r": "read", "w": "write", "x": "execute"}


class Kernel:
    """The pure-Python reference model of the Pip-style kernel (docs/kernel.md)."""

    def __init__(self, pages: int = 4096, table_size: int = 1024, levels: int = 2,
                 policy: str = "pip"):
        self.geometry = Geometry(pages, table_size, levels)
        self._s = State(self.geometry, _check_policy(policy))
        boot(self._s)
        self._snapshot: Snapshot | None = None
        self._snapshot_generation = -1

    # ---- state ----
    @property
    def policy(self) -> str:
        """"pip" or "hardened" (docs/kernel.md §9), fixed at boot."""
        return self._s.policy

    @property
    def root(self) -> Partition:
        """As pipsim.kernel.Kernel.root: the root partition."""
        return Partition(ROOT_PD)

    @property
    def current(self) -> Partition:
        """As pipsim.kernel.Kernel.current."""
        return Partition(self._s.current)

    @property
    def cpu_context(self) -> tuple[int, ...]:
        """As pipsim.kernel.Kernel.cpu_context."""
        return tuple(self._s.cpu)

    @cpu_context.setter
    def cpu_context(self, values: Sequence[int]) -> None:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError("cpu_context must be a sequence of 20 ints")
        if len(values) != CONTEXT_WORDS:
            raise ValueError(f"cpu_context must have {CONTEXT_WORDS} words, got {len(values)}")
        self._s.cpu = [_check_word(f"cpu_context[{i}]", v) for i, v in enumerate(values)]

    @property
    def last_error(self) -> PipError | None:
        """As pipsim.kernel.Kernel.last_error."""
        return self._s.last_error

    def as_partition(self, p: Partition) -> "PartitionAPI":
        """As pipsim.kernel.Kernel.as_partition."""
        self._live(p)
        return PartitionAPI(self, p)

    # ---- observers (docs/kernel.md §8) ----
    def _tree(self) -> Snapshot:
        if self._snapshot is None or self._snapshot_generation != self._s.mem.generation:
            self._snapshot = Snapshot(self._s)
            self._snapshot_generation = self._s.mem.generation
        return self._snapshot

    def _live(self, p: Partition) -> int:
        if not isinstance(p, Partition):
            raise TypeError(f"expected a Partition, not {type(p).__name__}")
        if p.pd not in self._tree().members:
            raise ValueError(f"{p} is not a live partition of this kernel")
        return p.pd

    def partitions(self) -> list[Partition]:
        """As pipsim.kernel.Kernel.partitions."""
        return [Partition(pd) for pd in self._tree().order]

    def children(self, p: Partition) -> list[Partition]:
        """As pipsim.kernel.Kernel.children."""
        return [Partition(pd) for pd in self._tree().childrenOf[self._live(p)]]

    def parent(self, p: Partition) -> Partition | None:
        """As pipsim.kernel.Kernel.parent."""
        parent = self._tree().parentOf[self._live(p)]
        return None if parent is None else Partition(parent)

    def mappings(self, p: Partition) -> dict[int, Mapping]:
        """As pipsim.kernel.Kernel.mappings."""
        info = self._tree().info(self._live(p))
        return {va: Mapping(page * PAGE_SIZE, bool(e & PTE_READ), bool(e & PTE_WRITE),
                            bool(e & PTE_EXEC), bool(e & PTE_ACCESSIBLE))
                for va, page in info.mappedVAs.items()
                for e in (info.leafEntries[va],)}

    def config_pages(self, p: Partition) -> frozenset[int]:
        """As pipsim.kernel.Kernel.config_pages."""
        return frozenset(self._tree().info(self._live(p)).configPages)

    def used_pages(self, p: Partition) -> frozenset[int]:
        """As pipsim.kernel.Kernel.used_pages."""
        return frozenset(self._tree().info(self._live(p)).usedPages)

    def check_invariants(self) -> list[str]:
        """As pipsim.kernel.Kernel.check_invariants."""
        return checkInvariants(self._s)

    def check_extra_properties(self) -> list[str]:
        """The violated properties of docs/kernel.md §10 (abi.EXTRA_PROPERTIES order)."""
        return checkExtraProperties(self._s)

    # ---- device pages (docs/kernel.md §9) ----
    def mark_device(self, page: int) -> None:
        """Record that physical ``page`` is a device (MMIO) page; no page table changes."""
        if not isinstance(page, int) or isinstance(page, bool):
            raise TypeError(f"page must be an int (a physical page number), "
                            f"not {type(page).__name__}")
        if not 1 <= page < self.geometry.pages:
            raise ValueError(f"page must satisfy 1 <= page < {self.geometry.pages}, got {page}")
        self._s.devices.add(int(page))

    def device_pages(self) -> frozenset[int]:
        """As pipsim.kernel.Kernel.device_pages."""
        return frozenset(self._s.devices)

    def physical_memory(self) -> memoryview:
        """The simulated RAM, read-only (the frame conditions compare it before and after)."""
        return memoryview(self._s.mem.data).toreadonly()

    # ---- test-only raw access ----
    def debug_write_word(self, pa: int, value: int) -> None:
        """As pipsim.kernel.Kernel.debug_write_word."""
        pa = self._check_pa(pa)
        self._s.mem.write_word(pa, _check_word("value", value))

    def debug_read_word(self, pa: int) -> int:
        """As pipsim.kernel.Kernel.debug_read_word."""
        return self._s.mem.read_word(self._check_pa(pa))

    def _check_pa(self, pa: object) -> int:
        if not isinstance(pa, int) or isinstance(pa, bool):
            raise TypeError(f"pa must be an int, not {type(pa).__name__}")
        if not 0 <= pa <= self._s.mem.size - 4 or pa % 4:
            raise ValueError(f"pa must be a 4-byte aligned physical address inside memory, "
                             f"got {pa:#x}")
        return pa

    def __repr__(self) -> str:
        g = self.geometry
        return (f"model.Kernel(pages={g.pages}, table_size={g.table_size}, levels={g.levels}, "
                f"policy={self.policy!r}, partitions={len(self.partitions())})")


class PartitionAPI:
    """Syscalls issued by one partition, the caller; they do not change which partition runs
    (only a successful yield / dispatch / resume does, kernel.md §6)."""

    def __init__(self, kernel: Kernel, partition: Partition):
        self._k, self.partition = kernel, partition
        self.kernel = kernel

    def _enter(self) -> tuple[State, int]:
        """The state and the caller, the two first arguments of every service."""
        return self._k._s, self.partition.pd

    def _va(self, name: str, value: object) -> int:
        return _check_va(self._k, name, value)

    # ---- memory services ----
    def create_partition(self, desc: int, pd: int, sh1: int, sh2: int, ll: int) -> bool:
        """As pipsim.kernel.PartitionAPI.create_partition."""
        args = [self._va(n, v) for n, v in
                (("desc", desc), ("pd", pd), ("sh1", sh1), ("sh2", sh2), ("ll", ll))]
        return services.createPartition(*self._enter(), *args)

    def delete_partition(self, desc: int) -> bool:
        """As pipsim.kernel.PartitionAPI.delete_partition."""
        desc = self._va("desc", desc)
        return services.deletePartition(*self._enter(), desc)

    def add_vaddr(self, src: int, desc: int, dst: int, r: int, w: int, e: int) -> bool:
        """As pipsim.kernel.PartitionAPI.add_vaddr."""
        src, desc, dst = self._va("src", src), self._va("desc", desc), self._va("dst", dst)
        r, w, e = _check_flag("r", r), _check_flag("w", w), _check_flag("e", e)
        return services.addVAddr(*self._enter(), src, desc, dst, r, w, e)

    def remove_vaddr(self, desc: int, va: int) -> bool:
        """As pipsim.kernel.PartitionAPI.remove_vaddr."""
        desc, va = self._va("desc", desc), self._va("va", va)
        return services.removeVAddr(*self._enter(), desc, va)

    def prepare(self, desc: int, va: int, first_free_va: int) -> Prepared:
        """As pipsim.kernel.PartitionAPI.prepare."""
        desc, va = self._va("desc", desc), self._va("va", va)
        fst = self._va("first_free_va", first_free_va)
        return services.prepare(*self._enter(), desc, va, fst)

    def collect(self, desc: int, va: int) -> bool:
        """As pipsim.kernel.PartitionAPI.collect."""
        desc, va = self._va("desc", desc), self._va("va", va)
        return services.collect(*self._enter(), desc, va)

    def count_to_map(self, desc: int, va: int) -> int:
        """As pipsim.kernel.PartitionAPI.count_to_map."""
        desc, va = self._va("desc", desc), self._va("va", va)
        return services.countToMap(*self._enter(), desc, va)

    def mapped_in_child(self, va: int) -> int:
        """As pipsim.kernel.PartitionAPI.mapped_in_child."""
        va = self._va("va", va)
        return services.mappedInChild(*self._enter(), va)

    # ---- control flow ----
    def dispatch(self, desc: int, vint: int, notify: int, data1: int, data2: int) -> int:
        """As pipsim.kernel.PartitionAPI.dispatch."""
        desc = self._va("desc", desc)
        vint, notify = _check_word("vint", vint), _check_word("notify", notify)
        data1, data2 = _check_word("data1", data1), _check_word("data2", data2)
        return control.dispatch(*self._enter(), desc, vint, notify, data1, data2)

    def resume(self, desc: int, pipflags: int) -> int:
        """As pipsim.kernel.PartitionAPI.resume."""
        if not (isinstance(desc, int) and not isinstance(desc, bool) and desc == RESUME_SELF):
            desc = self._va("desc", desc)
        pipflags = _check_word("pipflags", pipflags)
        return control.resume(*self._enter(), desc, pipflags)

    def yield_(self, callee: int, target_interrupt: int, save_index: int, flags_on_yield: int,
               flags_on_wake: int) -> int:
        """As pipsim.kernel.PartitionAPI.yield_."""
        callee = self._va("callee", callee)
        args = [_check_word(n, v) for n, v in
                (("target_interrupt", target_interrupt), ("save_index", save_index),
                 ("flags_on_yield", flags_on_yield), ("flags_on_wake", flags_on_wake))]
        return control.yield_(*self._enter(), callee, *args)

    def get_int_state(self, desc: int) -> int:
        """As pipsim.kernel.PartitionAPI.get_int_state."""
        desc = self._va("desc", desc)
        return control.get_int_state(*self._enter(), desc)

    def set_int_state(self, value: int) -> None:
        """As pipsim.kernel.PartitionAPI.set_int_state."""
        value = _check_word("value", value)
        control.set_int_state(*self._enter(), value)

    # ---- memory accesses as this partition (docs/kernel.md §7) ----
    def translate(self, va: int, access: str) -> int | None:
        """As pipsim.kernel.PartitionAPI.translate."""
        va = self._va("va", va)
        if not isinstance(access, str):
            raise TypeError(f"access must be one of 'r', 'w', 'x', not {type(access).__name__}")
        if access not in _ACCESS_BITS:
            raise ValueError(f"access must be one of 'r', 'w', 'x', got {access!r}")
        return self._translate(va, access)

    def _translate(self, va: int, access: str) -> int | None:
        s = self._k._s
        if va >= s.va_limit:
            return None
        table = leafMMU(s, self.partition.pd, va)
        if table is None:
            return None
        entry = readEntry(s, table, leafIndex(s, va))
        needed = PTE_PRESENT | PTE_ACCESSIBLE | _ACCESS_BITS[access]
        if entry & needed != needed:
            return None
        return (entry & ~0xFFF) | (va & 0xFFF)

    def _pieces(self, va: int, n: int, access: str) -> list[tuple[int, int]]:
        """(PA, length) of every page touched by [va, va + n), all checked before any copy."""
        pieces = []
        cursor, end = va, va + n
        while cursor < end:
            length = min(end - cursor, PAGE_SIZE - (cursor & (PAGE_SIZE - 1)))
            pa = self._translate(cursor, access)
            if pa is None or pa + length > self._k._s.mem.size:
                raise MemoryFault(self.partition, cursor, _ACCESS_NAMES[access])
            pieces.append((pa, length))
            cursor += length
        return pieces

    def read(self, va: int, n: int) -> bytes:
        """As pipsim.kernel.PartitionAPI.read."""
        va = self._va("va", va)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        mem = self._k._s.mem
        return b"".join(mem.read_bytes(pa, length) for pa, length in self._pieces(va, n, "r"))

    def write(self, va: int, data: bytes | bytearray | memoryview) -> None:
        """As pipsim.kernel.PartitionAPI.write."""
        va = self._va("va", va)
        try:
            data = bytes(memoryview(data))
        except TypeError:
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}") from None
        mem = self._k._s.mem
        done = 0
        for pa, length in self._pieces(va, len(data), "w"):
            mem.write_bytes(pa, data[done:done + length])
            done += length

    def __repr__(self) -> str:
        return f"PartitionAPI({self.partition})"
