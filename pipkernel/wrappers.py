"""A convenience layer in the spirit of libpip (pip-spec §8): build children and
map pages in one call.  Built only on the system calls of a PartitionAPI, so it
works the same on the C core and on the reference model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .abi import PAGE_SIZE, PipError, reason_message
from .errors import PipsimError
from .layout import PARTITION_PAGES, build_spare

if TYPE_CHECKING:
    from . import kernel, model
    #: a partition's system calls, on the C core or on the reference model
    API = kernel.PartitionAPI | model.PartitionAPI


class PipCallError(PipsimError, RuntimeError):
    """A system call the convenience layer relied on was refused: ``call`` and the kernel's
    ``reason``, named in the message with what it means (abi.MESSAGES)."""

    def __init__(self, call: str, reason: PipError | None):
        why = "no reason given" if reason is None else f"{reason.name}, {reason_message(reason)}"
        super().__init__(f"{call} refused ({why})")
        self.call, self.reason = call, reason


class NoFreePages(PipsimError):
    """A page allocator has no page left to give."""


def free_pages(api: API, vas: Iterable[int]) -> list[int]:
    """Those of ``vas`` the partition ``api`` can still use or give: its own, writable,
    mapped in no child."""
    return [va for va in vas if api.translate(va, "w") is not None
            and not api.mapped_in_child(va)]


class PageAllocator:
    """The caller's own pool of free pages (VAs it maps, accessible and underived)."""

    def __init__(self, vas: Iterable[int]):
        self._free = sorted(vas, reverse=True)

    @classmethod
    def for_root(cls, kernel: kernel.Kernel | model.Kernel,
                 exclude: Iterable[int] = ()) -> "PageAllocator":
        """Every page the root maps at boot except its VIDT and the VAs in `exclude`
        (e.g. the machine's device pages)."""
        skip = {kernel.geometry.vidt_va, *exclude}
        return cls(va for va in kernel.mappings(kernel.root) if va not in skip)

    def __len__(self) -> int:
        return len(self._free)

    def alloc(self) -> int:
        """A free page's VA; NoFreePages if none is left."""
        if not self._free:
            raise NoFreePages("no pages left in the pool")
        return self._free.pop()

    def free(self, va: int) -> None:
        """Give the page at ``va`` back to the pool."""
        self._free.append(va)


def create_child(api: API, alloc: PageAllocator) -> int:
    """Create a child from PARTITION_PAGES fresh pages; returns its descriptor's VA.

    The descriptor page is cleared first, so the child starts with interrupt
    state 0 (Pip leaves slots 12-13 as the page held them).
    """
    pages = [alloc.alloc() for _ in range(PARTITION_PAGES)]
    api.write(pages[0], bytes(PAGE_SIZE))
    if not api.create_partition(*pages):
        reason = api.kernel.last_error
        for va in pages:
            alloc.free(va)
        raise PipCallError("createPartition", reason)
    return pages[0]


def map_page(api: API, alloc: PageAllocator, desc: int, src: int, dst: int,
             r: bool = True, w: bool = True, e: bool = False) -> None:
    """Pip_MapPageWrapper: countToMap, chain free pages, prepare, addVAddr.

    countToMap only asks whether *some* LL page has room for one level; a prepare
    that builds several levels may need one more LL page per level, so the chain
    carries up to levels - 1 spare pages (pipsim.kernel.layout.build_spare; as many as the
    pool has) and prepare's unused tail goes back to the pool."""
    needed = api.count_to_map(desc, dst)
    if needed:
        if len(alloc) < needed:
            raise NoFreePages(f"prepare needs {needed} pages, the pool has {len(alloc)}")
        spare = build_spare(api.kernel.geometry)
        chain = [alloc.alloc() for _ in range(min(needed + spare, len(alloc)))]
        for va, nxt in zip(chain, chain[1:] + [0]):
            api.write(va, nxt.to_bytes(4, "little"))
        ok, unused = api.prepare(desc, dst, chain[0])
        if not ok:
            raise PipCallError("prepare", api.kernel.last_error)
        for va in chain[chain.index(unused):] if unused else ():
            alloc.free(va)
    if not api.add_vaddr(src, desc, dst, r, w, e):
        raise PipCallError("addVAddr", api.kernel.last_error)


def map_range(api: API, alloc: PageAllocator, desc: int, dst: int, count: int,
              r: bool = True, w: bool = True, e: bool = False) -> list[int]:
    """Map `count` fresh pages of the caller at dst, dst+4K, ... in the child; returns them."""
    srcs = [alloc.alloc() for _ in range(count)]
    for i, src in enumerate(srcs):
        map_page(api, alloc, desc, src, dst + i * PAGE_SIZE, r, w, e)
    return srcs
