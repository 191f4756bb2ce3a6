"""Boot layout (docs/kernel.md §3).

Page 0 null; 1 root PD; 2, 3, 4, 5 root MMU root, sh1 root, sh2 root, LL page; then the tables
the root's mappings need (per missing table: MMU, sh1, sh2 page), then the root's free pages,
mapped present/accessible/RWX at consecutive VAs from ROOT_VA_START except the last one, mapped at
the VIDT VA.
"""
from __future__ import annotations

from ..abi import PAGE_SIZE, PTE_ALL, ROOT_IO_MASK
from .ll import initConfigPagesList
from .mal import getIndexOfAddr, initPEntryTable, page_of, readEntry, writeEntry, writePDslot
from .state import ROOT_PD, State

ROOT_MMU, ROOT_SH1, ROOT_SH2, ROOT_LL = 2, 3, 4, 5
FIRST_TABLE_PAGE = 6


def tablesNeeded(s: State, free: int) -> int:
    """Number of tables below the root (each = 3 pages) needed to map ``free`` pages: ``free-1``
    consecutive VAs from ROOT_VA_START plus the VIDT VA."""
    start = s.geo.root_va_start
    last = start + (free - 2) * PAGE_SIZE       # VA of the last consecutive page
    vidt = s.geo.vidt_va
    total = 0
    for depth in range(1, s.levels):
        span = PAGE_SIZE * s.ts ** (s.levels - depth)   # VA bytes covered by one such table
        count = last // span - start // span + 1
        if vidt // span > last // span:
            count += 1
        total += count
    return total


def freePageCount(s: State) -> int:
    """The free pages F: the largest F with F + 3 * tablesNeeded(F) <= N - 6 (the fixed point
    "tables needed for the free pages that remain" when it exists; see the module docs)."""
    available = s.mem.pages - FIRST_TABLE_PAGE
    free = available
    while free >= 2 and free + 3 * tablesNeeded(s, free) > available:
        free -= 1
    return free


def boot(s: State) -> None:
    free = freePageCount(s)
    if free < 2:
        raise ValueError(f"pages={s.mem.pages} leaves fewer than 2 free pages for the root")
    start = s.geo.root_va_start
    if start + (free - 1) * PAGE_SIZE > s.geo.vidt_va:
        raise ValueError(f"the root's {free} free pages do not fit between ROOT_VA_START "
                         f"{start:#x} and the VIDT VA {s.geo.vidt_va:#x}")
    for page in (ROOT_MMU, ROOT_SH1, ROOT_SH2):
        initPEntryTable(s, page)
    initConfigPagesList(s, ROOT_LL)
    slots = (0x1000, 0x1000, ROOT_MMU << 12, ROOT_MMU << 12, ROOT_SH1 << 12, ROOT_SH1 << 12,
             ROOT_SH2 << 12, ROOT_SH2 << 12, ROOT_LL << 12, ROOT_LL << 12, ROOT_IO_MASK, 0, 0, 0)
    for i, value in enumerate(slots):
        writePDslot(s, ROOT_PD, i, value)

    firstFree = FIRST_TABLE_PAGE + 3 * tablesNeeded(s, free)
    vas = [start + i * PAGE_SIZE for i in range(free - 1)] + [s.geo.vidt_va]
    nextTable = FIRST_TABLE_PAGE
    for i, va in enumerate(vas):
        mmu, sh1, sh2 = ROOT_MMU, ROOT_SH1, ROOT_SH2
        for level in range(s.nbL, 0, -1):
            idx = getIndexOfAddr(s, va, level)
            if readEntry(s, mmu, idx) == 0:       # missing table: MMU, sh1, sh2 pages
                for table, page in ((mmu, nextTable), (sh1, nextTable + 1),
                                    (sh2, nextTable + 2)):
                    initPEntryTable(s, page)
                    writeEntry(s, table, idx, page << 12 | PTE_ALL)
                nextTable += 3
            mmu, sh1, sh2 = (page_of(readEntry(s, t, idx)) for t in (mmu, sh1, sh2))
        writeEntry(s, mmu, getIndexOfAddr(s, va, 0), (firstFree + i) << 12 | PTE_ALL)
    assert nextTable == firstFree      # the root's sh1 and sh2 leaf entries stay 0
