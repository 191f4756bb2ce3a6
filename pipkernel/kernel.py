"""The Python API over the C core (pipkernel/c, built by cffi in API mode).

Arguments are checked here, before the core sees them: wrong types raise
TypeError, out-of-range values ValueError.  Well-typed calls that Pip refuses
return Pip's result and leave the reason in ``Kernel.last_error``.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Iterable

from ._pipcore import ffi, lib
from .abi import (BOOT_ERRORS, CONTEXT_WORDS, EXTRA_PROPERTIES, INVARIANTS, PAGE_SIZE, POLICIES,
                  RESUME_SELF, PipError)
from .types import Geometry, Mapping, MemoryFault, Partition, Prepared

_ERRORS = {e.value: e for e in PipError}
# the memory services, bound once: a module global is cheaper than a lookup on `lib`
(_createPartition, _deletePartition, _addVAddr, _removeVAddr, _prepare, _collect, _countToMap,
 _mappedInChild, _user_copy) = (lib.pip_createPartition, lib.pip_deletePartition,
                                lib.pip_addVAddr, lib.pip_removeVAddr, lib.pip_prepare,
                                lib.pip_collect, lib.pip_countToMap, lib.pip_mappedInChild,
                                lib.pip_user_copy)
_ACCESS = {"r": 0, "w": 1, "x": 2}
_WORD = 1 << 32


def _check_ints(names: Iterable[str], values: Iterable[object], limit: int) -> None:
    """Raise the clear error for the first argument that is not an int in [0, limit)."""
    for name, value in zip(names, values):
        if not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not 0 <= value < limit:
            raise ValueError(f"{name}={value:#x} is outside [0, {limit:#x})")


class PartitionAPI:
    """The system calls, issued with one partition as the caller (Pip's currentPartition)."""

    __slots__ = ("kernel", "partition", "_k", "_pd", "_bits", "_fault")

    def __init__(self, kernel: "Kernel", partition: Partition):
        self.kernel, self.partition = kernel, partition
        self._k, self._pd = kernel._k, partition.pd
        self._bits = kernel.geometry.va_limit.bit_length() - 1
        self._fault = ffi.new("uint32_t *")       # where pip_user_copy reports a refused VA

    def _check(self, names: tuple[str, ...], values: tuple[object, ...],
               limit: int | None = None) -> None:
        """Slow path of the fast checks below: name the offending argument."""
        _check_ints(names, values, limit or (1 << self._bits))

    # ---- memory services (pip-spec §2.3) ----
    def create_partition(self, desc: int, pd: int, sh1: int, sh2: int, ll: int) -> bool:
        """createPartition: the five pages the caller maps at these VAs become a child partition
        (its descriptor at ``desc``); True if Pip accepts."""
        try:
            bad = (desc | pd | sh1 | sh2 | ll) >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc", "pd", "sh1", "sh2", "ll"), (desc, pd, sh1, sh2, ll))
        return _createPartition(self._k, self._pd, desc, pd, sh1, sh2, ll)

    def delete_partition(self, desc: int) -> bool:
        """deletePartition: delete the child whose descriptor is at ``desc``, its subtree with it;
        its pages come back to the caller."""
        try:
            bad = desc >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc",), (desc,))
        return _deletePartition(self._k, self._pd, desc)

    def add_vaddr(self, src: int, desc: int, dst: int, r: int, w: int, e: int) -> bool:
        """addVAddr: give the caller's page at ``src`` to the child ``desc`` at ``dst`` with rights
        r w e (each 0 or 1)."""
        try:
            bad = (src | desc | dst) >> self._bits or (r | w | e) >> 1
        except TypeError:
            bad = True
        if bad:
            self._check(("src", "desc", "dst"), (src, desc, dst))
            self._check(("r", "w", "e"), (r, w, e), 2)
        return _addVAddr(self._k, self._pd, src, desc, dst, r, w, e)

    def remove_vaddr(self, desc: int, va: int) -> bool:
        """removeVAddr: take back the page mapped at ``va`` in the child ``desc``."""
        try:
            bad = (desc | va) >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc", "va"), (desc, va))
        return _removeVAddr(self._k, self._pd, desc, va)

    def prepare(self, desc: int, va: int, first_free_va: int) -> Prepared:
        """prepare: lend the child ``desc`` the kernel pages it needs to map ``va``, from the
        caller's free list at ``first_free_va``; (ok, the list's next VA)."""
        try:
            bad = (desc | va | first_free_va) >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc", "va", "first_free_va"), (desc, va, first_free_va))
        packed = _prepare(self._k, self._pd, desc, va, first_free_va)
        return Prepared(packed & 1 == 1, packed & ~1)

    def collect(self, desc: int, va: int) -> bool:
        """collect: take back a configuration page of the child ``desc`` that ``va`` no longer
        needs."""
        try:
            bad = (desc | va) >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc", "va"), (desc, va))
        return _collect(self._k, self._pd, desc, va)

    def count_to_map(self, desc: int, va: int) -> int:
        """countToMap: the pages prepare still needs before ``va`` can be mapped in the child
        ``desc``."""
        try:
            bad = (desc | va) >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("desc", "va"), (desc, va))
        return _countToMap(self._k, self._pd, desc, va)

    def mapped_in_child(self, va: int) -> int:
        """mappedInChild: the descriptor VA of the child the caller's page at ``va`` is given to, 0
        if none."""
        try:
            bad = va >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._check(("va",), (va,))
        return _mappedInChild(self._k, self._pd, va)

    # ---- control flow (pip-spec §2.4-2.6) ----
    def _words(self, names: tuple[str, ...], values: tuple[object, ...], vas: int = 0) -> None:
        """Check 32-bit arguments; the first `vas` of them are VAs of this address space."""
        _check_ints(names[:vas], values[:vas], 1 << self._bits)
        _check_ints(names[vas:], values[vas:], _WORD)

    def yield_(self, callee: int, target_interrupt: int, save_index: int, flags_on_yield: int,
               flags_on_wake: int) -> int:
        """Pip v0.2's yield: switch to ``callee`` (0: the parent, else a child's descriptor VA)
        through its vector ``target_interrupt``, saving the caller's context in its slot
        ``save_index``; 0 on success, else Pip's failure code."""
        self._words(("callee", "target_interrupt", "save_index", "flags_on_yield",
                     "flags_on_wake"),
                    (callee, target_interrupt, save_index, flags_on_yield, flags_on_wake), 1)
        return lib.pip_yield(self._k, self._pd, callee, target_interrupt, save_index,
                             flags_on_yield, flags_on_wake)

    def dispatch(self, desc: int, vint: int, notify: int, data1: int, data2: int) -> int:
        """dispatch: deliver the virtual interrupt ``vint`` with ``notify``, ``data1``, ``data2``
        to the parent (``desc`` 0) or a child; 0 on success, else Pip's failure code."""
        self._words(("desc", "vint", "notify", "data1", "data2"), (desc, vint, notify, data1, data2),
                    1)
        return lib.pip_dispatch(self._k, self._pd, desc, vint, notify, data1, data2)

    def resume(self, desc: int, pipflags: int) -> int:
        """desc: 0 = the parent, RESUME_SELF (0xFFFFFFFF) = the caller, else a child's VA."""
        self._words(("desc", "pipflags"), (desc, pipflags), 0 if desc == RESUME_SELF else 1)
        return lib.pip_resume(self._k, self._pd, desc, pipflags)

    def get_int_state(self, desc: int) -> int:
        """The interrupt state of the child ``desc`` (0xFFFFFFFF: refused)."""
        self._words(("desc",), (desc,), 1)
        return lib.pip_get_int_state(self._k, self._pd, desc)

    def set_int_state(self, value: int) -> None:
        """Set the caller's interrupt state (0: it accepts no interrupts)."""
        self._words(("value",), (value,))
        lib.pip_set_int_state(self._k, self._pd, value)

    # ---- memory as this partition sees it ----
    def translate(self, va: int, access: str) -> int | None:
        """The PA the MMU gives this partition for va, or None if it refuses."""
        if access not in _ACCESS:
            raise ValueError(f"access must be one of 'r', 'w', 'x', not {access!r}")
        self._words(("va",), (va,), 1)
        pa = ffi.new("uint32_t *")
        return None if lib.pip_translate(self._k, self._pd, va, _ACCESS[access], pa) else pa[0]

    def read(self, va: int, n: int) -> bytes:
        """``n`` bytes at ``va`` as this partition reads them; MemoryFault where it may not."""
        try:
            bad = va >> self._bits or n >> 32 or n < 0
        except TypeError:
            bad = True
        if bad:
            self._words(("va", "n"), (va, n), 1)
        buf = ffi.new("uint8_t[]", n)
        if _user_copy(self._k, self._pd, va, buf, n, 0, self._fault):
            raise MemoryFault(self.partition, self._fault[0], "read")
        return ffi.buffer(buf, n)[:]

    def write(self, va: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``va`` as this partition would; MemoryFault where it may not (nothing
        written)."""
        try:
            bad = va >> self._bits
        except TypeError:
            bad = True
        if bad:
            self._words(("va",), (va,), 1)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        if _user_copy(self._k, self._pd, va, ffi.from_buffer(data), len(data), 1, self._fault):
            raise MemoryFault(self.partition, self._fault[0], "write")


def _check_policy(policy: object) -> int:
    """The index of a policy name in abi.POLICIES, or the clear error naming them."""
    allowed = ", ".join(repr(p) for p in POLICIES)
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a str, one of {allowed}, not {type(policy).__name__}")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: expected one of {allowed}")
    return POLICIES.index(policy)


class Kernel:
    """A booted Pip kernel over simulated physical memory (docs/kernel.md); `policy` is
    "pip" (Pip v0.2 exactly) or "hardened" (§9), fixed at boot."""

    def __init__(self, pages: int = 4096, table_size: int = 1024, levels: int = 2,
                 policy: str = "pip"):
        self.geometry = Geometry(pages, table_size, levels)
        policy_index = _check_policy(policy)
        self._k = ffi.new("pip_kernel *")
        code = lib.pip_boot(self._k, pages, table_size, levels, policy_index)
        if code:
            raise ValueError(f"cannot boot pages={pages}, table_size={table_size}, "
                             f"levels={levels}: {BOOT_ERRORS[code]}")
        weakref.finalize(self, lib.pip_shutdown, self._k)
        self.root = Partition(self._k.root)

    @property
    def policy(self) -> str:
        """"pip" or "hardened" (docs/kernel.md §9), fixed at boot."""
        return POLICIES[self._k.policy]

    # ---- device pages (docs/kernel.md §9) ----
    def mark_device(self, page: int) -> None:
        """Record that physical page `page` is a device (MMIO) page; marking twice is harmless."""
        if not isinstance(page, int) or isinstance(page, bool):
            raise TypeError(f"page must be an int (a physical page number), "
                            f"not {type(page).__name__}")
        if not 0 < page < self.geometry.pages:
            raise ValueError(f"page={page} is outside [1, {self.geometry.pages}): a device page "
                             f"is a physical page other than the null page")
        lib.pip_mark_device(self._k, page)

    def device_pages(self) -> frozenset[int]:
        """The physical pages mark_device recorded."""
        (pages,) = self._collect(lib.pip_device_pages, None, "page")
        return frozenset(pages)

    # ---- calls ----
    def as_partition(self, partition: Partition) -> PartitionAPI:
        """The system calls with ``partition`` as the caller; ValueError if it is not a partition
        of this kernel."""
        if not isinstance(partition, Partition):
            raise TypeError(f"expected a Partition, not {type(partition).__name__}")
        if not self.is_partition(partition):
            raise ValueError(f"{partition} is not a partition of this kernel")
        return PartitionAPI(self, partition)

    @property
    def last_error(self) -> PipError | None:
        """Why Pip refused the last call (None after a success)."""
        return _ERRORS.get(self._k.last_error)

    @property
    def current(self) -> Partition:
        """The running partition (Pip's currentPartition): the calls leave it as it is; a
        successful yield / dispatch / resume and the deliveries of faults and interrupts
        change it, and deleting the subtree it is in makes the deleter run (docs/kernel.md §6)."""
        return Partition(self._k.current)

    @property
    def handle(self) -> Any:
        """The core's ``pip_kernel *`` (cffi), for C glue that calls the core itself
        (pipsim.kernel.machine: pip_machine_init, pip_root_set_rights; the interrupt functions
        of pip.h in tests).  Python code uses the methods of this class."""
        return self._k

    @property
    def cpu_context(self) -> tuple[int, ...]:
        """The running partition's CPU context (CONTEXT_WORDS words, docs/abi.md "Contexts")."""
        return tuple(self._k.cpu)

    @cpu_context.setter
    def cpu_context(self, words: Iterable[int]) -> None:
        words = tuple(words)
        if len(words) != CONTEXT_WORDS:
            raise ValueError(f"a context has {CONTEXT_WORDS} words, got {len(words)}")
        _check_ints([f"word {i}" for i in range(CONTEXT_WORDS)], words, _WORD)
        self._k.cpu = list(words)

    def deliver_fault(self, vector: int, address: int = 0, access: int = 0) -> Partition | None:
        """Pip's fault delivery for the running partition (pip-spec §5, docs/abi.md): to its
        parent, as a double fault further up when a parent has no handler.  Returns the
        partition now running, or None for a kernel panic.  The machine calls the same
        core function when the CPU faults."""
        _check_ints(("vector", "address", "access"), (vector, address, access), _WORD)
        to = lib.pip_fault(self._k, vector, address, access)
        return Partition(to) if to else None

    # ---- observable state (docs/kernel.md §8) ----
    def is_partition(self, partition: Partition) -> bool:
        """``partition`` is a live partition of this kernel."""
        return 0 < partition.pd < self.geometry.pages and bool(
            lib.pip_is_partition(self._k, partition.pd))

    def _collect(self, fn: Callable[..., int], part: Partition | None, *buffers: str) -> tuple:
        """Call a C enumerator (of part, or of the kernel when None), growing its output
        arrays until everything fits."""
        cap = 64
        args = () if part is None else (part.pd,)
        while True:
            bufs = [ffi.new(f"uint32_t[{cap}]") for _ in buffers]
            n = fn(self._k, *args, *bufs, cap)
            if n <= cap:
                return tuple(list(b[0:n]) for b in bufs)
            cap = n

    def children(self, partition: Partition) -> list[Partition]:
        """A partition's children, in the order of their descriptors."""
        pds, _ = self._collect(lib.pip_children, partition, "pd", "va")
        return [Partition(pd) for pd in pds]

    def parent(self, partition: Partition) -> Partition | None:
        """A partition's parent (None for the root)."""
        if partition == self.root:
            return None
        return Partition(lib.pip_parent(self._k, partition.pd))

    def partitions(self) -> list[Partition]:
        """Every partition, the root first, parents before their children (depth first)."""
        order, stack = [], [self.root]
        while stack:
            p = stack.pop()
            order.append(p)
            stack.extend(reversed(self.children(p)))
        return order

    def mappings(self, partition: Partition) -> dict[int, Mapping]:
        """A partition's address space: VA -> Mapping (physical address and rights)."""
        vas, ptes = self._collect(lib.pip_mappings, partition, "va", "pte")
        return {va: Mapping(pte & ~0xFFF, bool(pte & 4), bool(pte & 8), bool(pte & 16),
                            bool(pte & 2)) for va, pte in zip(vas, ptes)}

    def config_pages(self, partition: Partition) -> frozenset[int]:
        """The physical pages holding a partition's kernel structures (page tables, shadows,
        lists)."""
        (pages,) = self._collect(lib.pip_config_pages, partition, "page")
        return frozenset(pages)

    def used_pages(self, partition: Partition) -> frozenset[int]:
        """The physical pages a partition uses: its configuration pages and the pages it maps."""
        mapped = {m.pa >> 12 for m in self.mappings(partition).values()}
        return self.config_pages(partition) | mapped

    def check_invariants(self) -> list[str]:
        """The violated properties of Pip's proof (INVARIANTS names), [] when all hold."""
        bits = lib.pip_check_invariants(self._k)
        return [name for i, name in enumerate(INVARIANTS) if bits >> i & 1]

    def check_extra_properties(self) -> list[str]:
        """The violated properties beyond Pip's (docs/kernel.md §10), [] when all hold."""
        bits = lib.pip_check_extra_properties(self._k)
        return [name for i, name in enumerate(EXTRA_PROPERTIES) if bits >> i & 1]

    def physical_memory(self) -> memoryview:
        """The simulated RAM itself, for the machine (devices, loader): not a partition's view."""
        return memoryview(ffi.buffer(self._k.mem, self.geometry.pages * PAGE_SIZE))

    # ---- test-only access to raw physical memory ----
    def debug_read_word(self, pa: int) -> int:
        """The word at physical address ``pa`` (tests read raw state)."""
        self._check_pa(pa)
        return int.from_bytes(ffi.buffer(self._k.mem + pa, 4), "little")

    def debug_write_word(self, pa: int, value: int) -> None:
        """Corrupt the state on purpose (tests of the invariant checkers)."""
        self._check_pa(pa)
        ffi.buffer(self._k.mem + pa, 4)[:] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def _check_pa(self, pa: int) -> None:
        if not isinstance(pa, int) or not 0 <= pa <= self.geometry.pages * 4096 - 4 or pa % 4:
            raise ValueError(f"pa={pa!r} is not a word address of physical memory")
