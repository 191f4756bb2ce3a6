"""Where a device image's pages go and what they cost the kernel (docs/manifests.md "Memory").

Pure arithmetic on a `pipkernel.Geometry`, shared by validation (before anything boots) and
by the boot itself, so the numbers the validator checks are the ones the boot spends.
"""
from __future__ import annotations

from pipkernel.abi import KERNEL_INDEX, PAGE_SHIFT, PAGE_SIZE

CHILD_VA_START = PAGE_SIZE     # a child's pages start here (page 0 stays unmapped)
PARTITION_PAGES = 5            # createPartition: descriptor, MMU root, sh1 root, sh2 root, LL
ROOT_BASE_PAGES = 6            # null page, root descriptor, its three roots, its LL page
FIRMWARE_HEAP_PAGES = 256      # libpip's root heap after __image_end (PIP_ROOT_HEAP_PAGES)


def _count_tables(geometry, ranges) -> int:
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


def child_ranges(geometry, count: int, start: int = CHILD_VA_START) -> list[tuple[int, int]]:
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


def child_vas(geometry, count: int, start: int = CHILD_VA_START) -> list[int]:
    """The VAs of a child's first `count` pages, in layout order."""
    return [va for lo, hi in child_ranges(geometry, count, start)
            for va in range(lo, hi, PAGE_SIZE)]


def kernel_pages(geometry, count: int, start: int = CHILD_VA_START, extra=()) -> int:
    """Pages the kernel takes from the parent for a child that maps `count` pages at the
    child layout from `start`, and the VA ranges `extra` (a firmware image, a VIDT page):
    its 5 creation pages, 3 tables (MMU, sh1, sh2) per table of its tree below the root,
    and one more LL page per (ts/2 - 2) // 3 tables beyond the first LL's."""
    tables = _count_tables(geometry, sorted(child_ranges(geometry, count, start) + list(extra)))
    per_ll = (geometry.table_size // 2 - 2) // 3
    ll_pages = max(1, -(-tables // per_ll))
    return PARTITION_PAGES - 1 + 3 * tables + ll_pages


def _root_tables(geometry, free: int) -> int:
    start, vidt = geometry.root_va_start, geometry.vidt_va
    ranges = [(start, start + (free - 1) * PAGE_SIZE), (vidt, vidt + PAGE_SIZE)] if free else []
    return 3 * _count_tables(geometry, ranges)


def root_free_pages(geometry) -> int:
    """The pages the root maps at boot, its VIDT included (docs/kernel.md §3): the most that
    fit together with the tables mapping them."""
    avail = geometry.pages - ROOT_BASE_PAGES
    lo, hi = 0, max(avail, 0)
    while lo < hi:                       # free + tables(free) grows with free
        mid = (lo + hi + 1) // 2
        if mid + _root_tables(geometry, mid) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo


def root_capacity(geometry) -> int:
    """The most pages the root's linear range and VIDT can hold."""
    return (geometry.vidt_va - geometry.root_va_start) // PAGE_SIZE + 1


def root_linear_vas(geometry) -> list[int]:
    """The root's free pages but its VIDT, ascending, as the kernel boots them."""
    start = geometry.root_va_start
    return [start + i * PAGE_SIZE for i in range(root_free_pages(geometry) - 1)]


def root_layout(linear: list[int], machine: bool, devices: int, reserved: range = range(0)):
    """Split the root's linear pages into (pool, device VAs): devices take the last pages
    (as `pipkernel.machine.Machine` places them), a machine's console and system device the
    first two; the pool is the rest minus the VAs in `reserved` (firmware image and heap)."""
    device_vas = [linear[-1 - i] for i in range(devices)]
    taken = set(device_vas) | (set(linear[:2]) if machine else set())
    return [va for va in linear if va not in taken and va not in reserved], device_vas
