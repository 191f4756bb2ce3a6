"""Pip's MAL (memory abstraction layer) over the byte encodings of docs/kernel.md §2.

Tables are named by their physical page; an entry by (table, index).  Names follow Pip's
``MAL.v`` / ``Internal.v`` (readPresent, readAccessible, readPhyEntry, writeAccessible,
readVirEntry, readPDflag, readVirtual, getTableAddr, initPEntryTable, ...).
"""
from __future__ import annotations

from ..abi import (KERNEL_INDEX, PAGE_SHIFT, PAGE_SIZE, PD_INT_STATE, PTE_ACCESSIBLE, PTE_EXEC,
                   PTE_PRESENT, PTE_READ, PTE_WRITE, SH1_PD_FLAG)
from .memory import WORDS_PER_PAGE
from .state import ROOT_PD, State

# ---------------------------------------------------------------- words of a page


def readWord(s: State, page: int, idx: int) -> int:
    """Word ``idx`` of ``page`` (0 if the page or the index lies outside memory/the page)."""
    if 0 <= idx < WORDS_PER_PAGE and 0 <= page < s.mem.pages:
        return s.mem.read_word(page * PAGE_SIZE + 4 * idx)
    return 0


def writeWord(s: State, page: int, idx: int, value: int) -> None:
    if 0 <= idx < WORDS_PER_PAGE and 0 <= page < s.mem.pages:
        s.mem.write_word(page * PAGE_SIZE + 4 * idx, value)


def readTable(s: State, page: int) -> tuple[int, ...]:
    """The ``ts`` words of the table held by ``page``."""
    if 0 <= page < s.mem.pages:
        return s.mem.read_words(page * PAGE_SIZE, s.ts)
    return (0,) * s.ts


def page_of(pa_word: int) -> int:
    """A stored PA (``page << 12``) -> its page number."""
    return pa_word >> PAGE_SHIFT


# ---------------------------------------------------------------- virtual addresses


def vaddr(s: State, word: int) -> int:
    """A VA argument or a VA read from memory, taken at page granularity and below VA_LIMIT."""
    return word & s.va_page_mask


def getIndexOfAddr(s: State, va: int, level: int) -> int:
    return s.geo.index(va, level)


def checkKernelMap(s: State, va: int) -> bool:
    """True when ``va`` lies in the kernel slot (Pip's checkKernelMap returns the opposite)."""
    return getIndexOfAddr(s, va, s.nbL) == KERNEL_INDEX


def leafIndex(s: State, va: int) -> int:
    return getIndexOfAddr(s, va, 0)


# ---------------------------------------------------------------- table initialisation


def initPEntryTable(s: State, page: int) -> None:
    """A table of null entries (MMU tables; the kernel entry of a root is null too: mapKernel)."""
    if 0 <= page < s.mem.pages:
        s.mem.zero_words(page * PAGE_SIZE, s.ts)


initVEntryTable = initPEntryTable     # sh1 tables: VE {pd=false, va=null} encode as 0
initVAddrTable = initPEntryTable      # sh2 tables: null VAs encode as 0


# ---------------------------------------------------------------- MMU entries (PE)


def readEntry(s: State, table: int, idx: int) -> int:
    return readWord(s, table, idx)


def writeEntry(s: State, table: int, idx: int, value: int) -> None:
    writeWord(s, table, idx, value)


def readPresent(s: State, table: int, idx: int) -> bool:
    return bool(readEntry(s, table, idx) & PTE_PRESENT)


def readAccessible(s: State, table: int, idx: int) -> bool:
    return bool(readEntry(s, table, idx) & PTE_ACCESSIBLE)


def readPhyEntry(s: State, table: int, idx: int) -> int:
    """The page an entry points to."""
    return page_of(readEntry(s, table, idx))


def writeAccessible(s: State, table: int, idx: int, flag: bool) -> None:
    entry = readEntry(s, table, idx)
    entry = entry | PTE_ACCESSIBLE if flag else entry & ~PTE_ACCESSIBLE
    writeEntry(s, table, idx, entry)


def makePE(page: int, present: bool, user: bool, r: bool, w: bool, x: bool) -> int:
    return (page << PAGE_SHIFT | (PTE_PRESENT if present else 0) | (PTE_ACCESSIBLE if user else 0)
            | (PTE_READ if r else 0) | (PTE_WRITE if w else 0) | (PTE_EXEC if x else 0))


# ---------------------------------------------------------------- sh1 leaf entries (VE)


def readVirEntry(s: State, table: int, idx: int) -> int:
    """The VA part of a VE (``va | pd``)."""
    return vaddr(s, readWord(s, table, idx))


def readPDflag(s: State, table: int, idx: int) -> bool:
    return bool(readWord(s, table, idx) & SH1_PD_FLAG)


def writeVirEntry(s: State, table: int, idx: int, va: int) -> None:
    """Write the VA of a VE, keeping its PD flag."""
    writeWord(s, table, idx, va | (readWord(s, table, idx) & SH1_PD_FLAG))


def writePDflag(s: State, table: int, idx: int, flag: bool) -> None:
    """Write the PD flag of a VE, keeping its VA."""
    entry = readWord(s, table, idx) & ~SH1_PD_FLAG
    writeWord(s, table, idx, entry | (SH1_PD_FLAG if flag else 0))


# ---------------------------------------------------------------- sh2 leaf entries (VA)


def readVirtual(s: State, table: int, idx: int) -> int:
    return vaddr(s, readWord(s, table, idx))


def writeVirtual(s: State, table: int, idx: int, va: int) -> None:
    writeWord(s, table, idx, va)


# ---------------------------------------------------------------- partition descriptor


def readPDslot(s: State, pd: int, slot: int) -> int:
    return readWord(s, pd, slot)


def writePDslot(s: State, pd: int, slot: int, value: int) -> None:
    writeWord(s, pd, slot, value)


def getPd(s: State, pd: int) -> int:
    """Page of the partition's MMU root (PD slot 3)."""
    return page_of(readPDslot(s, pd, 3))


def getFstShadow(s: State, pd: int) -> int:
    return page_of(readPDslot(s, pd, 5))


def getSndShadow(s: State, pd: int) -> int:
    return page_of(readPDslot(s, pd, 7))


def getConfigPagesLL(s: State, pd: int) -> int:
    return page_of(readPDslot(s, pd, 9))


def getParent(s: State, pd: int) -> int:
    """Page of the parent's PD (0 for the root)."""
    return page_of(readPDslot(s, pd, 11))


def getIntState(s: State, pd: int) -> int:
    return readPDslot(s, pd, PD_INT_STATE)


def setIntState(s: State, pd: int, value: int) -> None:
    writePDslot(s, pd, PD_INT_STATE, value)


def isRoot(pd: int) -> bool:
    return pd == ROOT_PD


# ---------------------------------------------------------------- tree walks


def getTableAddr(s: State, root: int, va: int, depth: int | None = None) -> int | None:
    """The table reached from ``root`` by walking ``depth`` levels down for ``va``.

    ``depth`` defaults to nbL (the leaf table).  None when an entry on the way is 0.
    """
    if depth is None:
        depth = s.nbL
    table = root
    for level in range(s.nbL, s.nbL - depth, -1):
        entry = readEntry(s, table, getIndexOfAddr(s, va, level))
        if entry == 0:
            return None
        table = page_of(entry)
    return table


def leafMMU(s: State, pd: int, va: int) -> int | None:
    """The partition's MMU leaf table for ``va`` (or None)."""
    return getTableAddr(s, getPd(s, pd), va)


def leafSh1(s: State, pd: int, va: int) -> int | None:
    return getTableAddr(s, getFstShadow(s, pd), va)


def leafSh2(s: State, pd: int, va: int) -> int | None:
    return getTableAddr(s, getSndShadow(s, pd), va)


def isPresentAccessible(s: State, pd: int, va: int) -> bool:
    table = leafMMU(s, pd, va)
    if table is None:
        return False
    entry = readEntry(s, table, leafIndex(s, va))
    return entry & (PTE_PRESENT | PTE_ACCESSIBLE) == PTE_PRESENT | PTE_ACCESSIBLE
