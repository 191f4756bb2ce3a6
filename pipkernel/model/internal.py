"""Pip's internal helpers (Internal.v), on top of the MAL: checkChild, checkDerivation,
writeAccessibleRec, PushNewPageOntoLL, and the page give-back used by deletePartition
(putIndirectionsBack / putShadowsBack) and collect.
"""
from __future__ import annotations

from .ll import initConfigPagesList, maxIndex
from .mal import (getFstShadow, getParent, getPd, getSndShadow, getTableAddr, isRoot, leafIndex,
                  leafMMU, leafSh1, leafSh2, readPDflag, readPDslot, readVirEntry, readVirtual,
                  writeAccessible, writePDslot, writeVirEntry, writeWord)
from .state import State


def checkChild(s: State, caller: int, va: int) -> bool:
    """The caller's sh1 leaf table for ``va`` exists and its PD flag is set."""
    table = leafSh1(s, caller, va)
    return table is not None and readPDflag(s, table, leafIndex(s, va))


def isDerived(s: State, sh1table: int, va: int) -> bool:
    """"derived" = the sh1 leaf VA is not null (Pip's checkDerivation returns the negation)."""
    return readVirEntry(s, sh1table, leafIndex(s, va)) != 0


def writeAccessibleRec(s: State, va: int, pd: int, flag: bool) -> None:
    """Propagate the accessible flag of ``va`` (in partition ``pd``) to every ancestor.

    While pd is not the root: va' := pd.sh2[va] (stop if the sh2 table is missing or va' is 0);
    pd := parent(pd); set the accessible bit of pd's PTE for va' (stop if missing); va := va'.
    Bounded by the number of pages (Pip's timeout), so a corrupted parent chain cannot loop.
    """
    for _ in range(s.mem.pages):
        if isRoot(pd):
            return
        sh2 = leafSh2(s, pd, va)
        if sh2 is None:
            return
        vaInParent = readVirtual(s, sh2, leafIndex(s, va))
        if vaInParent == 0:
            return
        pd = getParent(s, pd)
        mmu = leafMMU(s, pd, vaInParent)
        if mmu is None:
            return
        writeAccessible(s, mmu, leafIndex(s, vaInParent), flag)
        va = vaInParent


def makeInaccessible(s: State, caller: int, mmuTable: int, va: int) -> None:
    """accessible := 0 in the caller's PTE for ``va``, then in every ancestor."""
    writeAccessible(s, mmuTable, leafIndex(s, va), False)
    writeAccessibleRec(s, va, caller, False)


def putPageBack(s: State, caller: int, va: int) -> None:
    """A kernel page of a child goes back to the caller (putIndirectionsBack / putShadowsBack):
    caller sh1 VA := 0, accessible := 1 in the caller and in its ancestors."""
    sh1 = leafSh1(s, caller, va)
    if sh1 is not None:
        writeVirEntry(s, sh1, leafIndex(s, va), 0)
    mmu = leafMMU(s, caller, va)
    if mmu is not None:
        writeAccessible(s, mmu, leafIndex(s, va), True)
    writeAccessibleRec(s, va, caller, True)


def PushNewPageOntoLL(s: State, child: int, page: int, va: int) -> None:
    """``page`` (VA ``va`` in the parent) becomes the head LL page of ``child``."""
    oldVA, oldPA = readPDslot(s, child, 8), readPDslot(s, child, 9)
    initConfigPagesList(s, page)
    writeWord(s, page, maxIndex(s) - 1, oldVA)
    writeWord(s, page, maxIndex(s), oldPA)
    writePDslot(s, child, 8, va)
    writePDslot(s, child, 9, page << 12)


def childRoots(s: State, child: int) -> tuple[int, int, int]:
    """(MMU root, sh1 root, sh2 root) pages of a partition."""
    return getPd(s, child), getFstShadow(s, child), getSndShadow(s, child)


__all__ = ["checkChild", "isDerived", "writeAccessibleRec", "makeInaccessible", "putPageBack",
           "PushNewPageOntoLL", "childRoots", "getTableAddr"]
