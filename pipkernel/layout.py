"""Where a partition's pages go and what they cost the kernel: the one owner of the page-layout
arithmetic above the core (docs/layers.md).

The root's free pages come from the C core (`pip_root_free_pages`, the computation its boot
does); everything else is the layout convention of this project's images:

* a child maps its pages at consecutive VAs from `CHILD_VA_START` (a firmware child: from the
  end of its image), skipping the kernel slot, below the VIDT;
* devices take the root's last linear pages; a machine's console and system pages its first two
  (pipsim.kernel.abi CONSOLE_VA, SYSTEM_VA);
* creating a child costs its parent `PARTITION_PAGES`, then three tables (MMU, sh1, sh2) for each
  table of the child's tree below its root, and LL pages to record them (`kernel_pages`).
"""
from __future__ import annotations

from typing import Iterable

from ._pipcore import lib
from .abi import KERNEL_INDEX, PAGE_SHIFT, PAGE_SIZE, ROOT_IMAGE_BASE
from .types import Geometry

CHILD_VA_START = PAGE_SIZE     # a child's pages start here (page 0 stays unmapped)
PARTITION_PAGES = 5            # createPartition: descriptor, MMU root, sh1 root, sh2 root, LL
FIRMWARE_HEAP_PAGES = 256      # libpip's root heap after __image_end (PIP_ROOT_HEAP_PAGES)

Ranges = list[tuple[int, int]]


def root_free_pages(geometry: Geometry) -> int:
    """The pages the root maps at boot, its VIDT included (docs/kernel.md §3), as the C core
    computes them; 0 for a geometry the core refuses."""
    return lib.pip_root_free_pages(geometry.pages, geometry.table_size, geometry.levels)


def root_capacity(geometry: Geometry) -> int:
    """The most pages the root's linear range and VIDT can hold."""
    return (geometry.vidt_va - geometry.root_va_start) // PAGE_SIZE + 1


def root_linear_vas(geometry: Geometry) -> list[int]:
    """The root's free pages but its VIDT, ascending, as the kernel boots them."""
    start = geometry.root_va_start
    return [start + i * PAGE_SIZE for i in range(max(root_free_pages(geometry) - 1, 0))]


def device_vas(linear: list[int], count: int) -> list[int]:
    """Where the root sees its `count` devices: its last linear pages, the first device last."""
    if count > len(linear) // 2:
        raise ValueError(f"{count} devices do not fit the root's {len(linear)} pages "
                         "(half of them at most)")
    return [linear[-1 - i] for i in range(count)]


def firmware_reserve(image_end: int) -> range:
    """The root VAs a root firmware image ending at `image_end` keeps for itself and its heap
    (empty without one)."""
    if not image_end:
        return range(0)
    end = -(-image_end // PAGE_SIZE) * PAGE_SIZE
    return range(ROOT_IMAGE_BASE, end + FIRMWARE_HEAP_PAGES * PAGE_SIZE)


def child_ranges(geometry: Geometry, count: int, start: int = CHILD_VA_START) -> Ranges:
    """The VA ranges of a child's first `count` pages: from `start` (page-aligned; a firmware
    partition's pages follow its image) up, skipping the kernel slot, below the VIDT.
    ValueError if they do not fit."""
    ranges = []
    low_end = KERNEL_INDEX * geometry.slot_size
    for lo, hi in ((start, low_end), (max(start, geometry.root_va_start), geometry.vidt_va)):
        n = max(0, min(count, (hi - lo) // PAGE_SIZE))
        if n:
            ranges.append((lo, lo + n * PAGE_SIZE))
        count -= n
    if count > 0:
        raise ValueError(f"{count} pages more than a partition's address space holds "
                         f"from {start:#x}")
    return ranges


def child_vas(geometry: Geometry, count: int, start: int = CHILD_VA_START) -> list[int]:
    """The VAs of a child's first `count` pages, in layout order."""
    return [va for lo, hi in child_ranges(geometry, count, start)
            for va in range(lo, hi, PAGE_SIZE)]


def page_ranges(vas: Iterable[int]) -> Ranges:
    """One-page ranges of the VAs `vas` (a VIDT, an image's pages) for `kernel_pages`."""
    return [(va, va + PAGE_SIZE) for va in vas]


def _count_tables(geometry: Geometry, ranges: Ranges) -> int:
    """Tables below the root one MMU tree needs to map the VA ranges [start, end), sorted."""
    total = 0
    for depth in range(1, geometry.levels):
        shift = PAGE_SHIFT + (geometry.levels - depth) * geometry.index_bits
        last = -1
        for start, end in ranges:
            lo, hi = max(start >> shift, last + 1), (end - 1) >> shift
            if end > start and hi >= lo:
                total += hi - lo + 1
                last = hi
    return total


def kernel_pages(geometry: Geometry, ranges: Ranges) -> int:
    """Pages the kernel takes from a parent for a child mapping the VA ranges `ranges`: its
    `PARTITION_PAGES` creation pages, 3 tables (MMU, sh1, sh2) per table of its tree below the
    root, and one more LL page per (ts/2 - 2) // 3 tables beyond the first LL's."""
    tables = _count_tables(geometry, sorted(ranges))
    per_ll = (geometry.table_size // 2 - 2) // 3
    ll_pages = max(1, -(-tables // per_ll))
    return PARTITION_PAGES - 1 + 3 * tables + ll_pages


def build_spare(geometry: Geometry) -> int:
    """Pages a parent needs beyond its children's costs while their tables are built:
    prepare's chain carries levels - 1 spare LL pages (pipsim.kernel.wrappers.map_page)."""
    return geometry.levels - 1


def runs(vas: Iterable[int]) -> list[tuple[int, int]]:
    """The VAs `vas` (ascending) as (first VA, page count) runs of consecutive pages."""
    found: list[tuple[int, int]] = []
    for va in vas:
        if found and found[-1][0] + found[-1][1] * PAGE_SIZE == va:
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((va, 1))
    return found
