"""The eight memory services, transcribed from docs/kernel.md §5 (Services.v order of checks).

Each service takes the state, the caller (its descriptor page: a call does not change which
partition runs, kernel.md §6) and its VA arguments (already range-checked by the API).  A failed
check records its reason in ``s.last_error`` and returns Pip's failure value, changing nothing
else; every check happens in the order of the contract, the ``hardened`` checks (policy.py) at
the place kernel.md §9 gives them (prepare and collect keep the levels done before a failure).
VA arguments are taken at page granularity (``vaddr``).
"""
from __future__ import annotations

from ..abi import KERNEL_INDEX, PTE_ALL, PipError as E
from ..types import Prepared
from .internal import (PushNewPageOntoLL, checkChild, childRoots, isDerived, makeInaccessible,
                       putPageBack, writeAccessibleRec)
from .ll import (checkEnoughEntriesLinkedList, findPairByPA, freeEntryOfLL, initConfigPagesList,
                 insertEntryIntoLL, iterLLPagesWithVA, usedPairs)
from .mal import (checkKernelMap, getConfigPagesLL, getIndexOfAddr, getParent, getPd,
                  getSndShadow, getTableAddr, initPEntryTable, initVAddrTable, initVEntryTable,
                  leafIndex, leafMMU, leafSh1, leafSh2, makePE, page_of, readAccessible, readEntry,
                  readPDslot, readPhyEntry, readPresent, readTable, readVirEntry, readVirtual,
                  readWord, vaddr, writeAccessible, writeEntry, writePDflag, writePDslot,
                  writeVirEntry, writeVirtual)
from .policy import kernelPageRefusal, rightsAmplified
from .state import ROOT_PD, State, fail, succeed

# ====================================================================== createPartition


def createPartition(s: State, caller: int, descChild: int, pdChild: int, shadow1: int,
                    shadow2: int, configList: int) -> bool:
    desc, pd, sh1, sh2, ll = (vaddr(s, v) for v in (descChild, pdChild, shadow1, shadow2,
                                                     configList))
    five = (desc, pd, sh1, sh2, ll)
    # 1-3: null, distinct, kernel slot, null
    if desc == 0:
        return fail(s, E.NULL_VADDR, False)
    if len(set(five)) < 5:
        return fail(s, E.SAME_VADDR, False)
    if any(checkKernelMap(s, va) for va in five):
        return fail(s, E.KERNEL_SLOT, False)
    if 0 in (pd, sh1, sh2, ll):
        return fail(s, E.NULL_VADDR, False)
    # 4: the caller's MMU leaf tables
    mmu = {}
    for va in five:
        mmu[va] = leafMMU(s, caller, va)
        if mmu[va] is None:
            return fail(s, E.NOT_MAPPED, False)
    # 5: present and accessible (desc, pd, ll, sh1, sh2)
    for va in (desc, pd, ll, sh1, sh2):
        if not readPresent(s, mmu[va], leafIndex(s, va)):
            return fail(s, E.NOT_PRESENT, False)
        if not readAccessible(s, mmu[va], leafIndex(s, va)):
            return fail(s, E.NOT_ACCESSIBLE, False)
    # 6: the caller's sh1 leaf tables, then derivation
    shadow = {}
    for va in five:
        shadow[va] = leafSh1(s, caller, va)
        if shadow[va] is None:
            return fail(s, E.NOT_MAPPED, False)
    for va in five:
        if isDerived(s, shadow[va], va):
            return fail(s, E.DERIVED, False)
    # 6b (hardened): writable, not a device page; both tested for one VA before the next
    for va in five:
        refusal = kernelPageRefusal(s, mmu[va], va)
        if refusal:
            return fail(s, refusal, False)
    phy = {va: readPhyEntry(s, mmu[va], leafIndex(s, va)) for va in five}
    if phy[desc] == 0 or not s.mem.valid_page(phy[desc]):    # only in a corrupted state
        return fail(s, E.INCONSISTENT_STATE, False)
    # 7: effects
    for va in (pd, sh1, sh2, ll, desc):
        makeInaccessible(s, caller, mmu[va], va)
    initPEntryTable(s, phy[pd])            # mapKernel: the kernel entry is the null entry
    initVEntryTable(s, phy[sh1])
    initVAddrTable(s, phy[sh2])
    initConfigPagesList(s, phy[ll])
    descPage = phy[desc]
    slots = (desc, phy[desc] << 12, pd, phy[pd] << 12, sh1, phy[sh1] << 12,
             sh2, phy[sh2] << 12, ll, phy[ll] << 12, 0, caller << 12)
    for i, value in enumerate(slots):
        writePDslot(s, descPage, i, value)
    for va in (pd, sh1, sh2, ll):
        writeVirEntry(s, shadow[va], leafIndex(s, va), desc)
    writePDflag(s, shadow[desc], leafIndex(s, desc), True)
    return succeed(s, True)


def presentChild(s: State, caller: int, desc: int):
    """The descriptor page of the child named by desc (checkChild done): (page, None), or
    (None, reason) when the caller has no table for desc or the page is not present."""
    mmuDesc = leafMMU(s, caller, desc)
    if mmuDesc is None:
        return None, E.NOT_MAPPED
    if not readPresent(s, mmuDesc, leafIndex(s, desc)):
        return None, E.CHILD_NOT_PRESENT
    return readPhyEntry(s, mmuDesc, leafIndex(s, desc)), None


# ====================================================================== countToMap


def countToMap(s: State, caller: int, descChild: int, vaChild: int) -> int:
    desc, va = vaddr(s, descChild), vaddr(s, vaChild)
    if checkKernelMap(s, va):                    # choice of the contract: see kernel.md §5
        return fail(s, E.KERNEL_SLOT, 0)
    mmuDesc = leafMMU(s, caller, desc)
    if mmuDesc is None:
        return fail(s, E.NOT_MAPPED, 0)
    if not checkChild(s, caller, desc):          # choice of the contract (Pip does not check)
        return fail(s, E.NOT_CHILD, 0)
    child = readPhyEntry(s, mmuDesc, leafIndex(s, desc))
    table = getPd(s, child)
    for level in range(s.nbL, 0, -1):             # countToMapRec
        entry = readEntry(s, table, getIndexOfAddr(s, va, level))
        if entry == 0:
            needLL = checkEnoughEntriesLinkedList(s, getConfigPagesLL(s, child)) is None
            return succeed(s, 3 * level + (1 if needLL else 0))
        table = page_of(entry)
    return succeed(s, 0)


# ====================================================================== prepare


def prepare(s: State, caller: int, descChild: int, vaChild: int, fstVA: int) -> Prepared:
    desc, va, fst = vaddr(s, descChild), vaddr(s, vaChild), vaddr(s, fstVA)
    if checkKernelMap(s, va):                    # choice of the contract: see kernel.md §5
        return fail(s, E.KERNEL_SLOT, Prepared(False, fst))
    if not checkChild(s, caller, desc):
        return fail(s, E.NOT_CHILD, Prepared(False, fst))
    child, why = presentChild(s, caller, desc)
    if why:
        return fail(s, why, Prepared(False, fst))
    mmu, sh1, sh2 = childRoots(s, child)
    return prepareRec(s, caller, child, mmu, sh1, sh2, getConfigPagesLL(s, child), va, fst)


class _Refused(Exception):
    """A failed check inside one level of prepareRec: (reason, returned VA)."""

    def __init__(self, reason: E, va: int):
        super().__init__(reason)
        self.reason, self.va = reason, va


def prepareRec(s: State, caller: int, child: int, mmu: int, sh1: int, sh2: int, cur: int,
               va: int, fst: int) -> Prepared:
    """One level at a time from the top; changes made at upper levels stay if a lower one fails."""
    for level in range(s.nbL, -1, -1):
        if level == 0:
            return succeed(s, Prepared(True, fst))
        if fst == 0:
            return fail(s, E.NULL_VADDR, Prepared(False, fst))
        idx = getIndexOfAddr(s, va, level)
        if readEntry(s, mmu, idx) != 0:           # this level exists: descend
            mmu, sh1, sh2 = (readPhyEntry(s, t, idx) for t in (mmu, sh1, sh2))
            continue
        try:
            mmu, sh1, sh2, cur, fst = prepareLevel(s, caller, child, mmu, sh1, sh2, cur, idx,
                                                   fst)
        except _Refused as refused:
            return fail(s, refused.reason, Prepared(False, refused.va))
    raise AssertionError("unreachable")


def _callerPage(s: State, caller: int, va: int, fst: int, order: str, retOnPresent: int
                ) -> tuple[int, int]:
    """Check one page the caller gives to prepare: MMU leaf table, then the flags in ``order``
    ("ap": accessible then present, "pa": present then accessible).  Returns (MMU table, page)."""
    table = leafMMU(s, caller, va)
    if table is None:
        raise _Refused(E.NOT_MAPPED, fst)
    idx = leafIndex(s, va)
    for flag in order:
        if flag == "a" and not readAccessible(s, table, idx):
            raise _Refused(E.NOT_ACCESSIBLE, fst)
        if flag == "p" and not readPresent(s, table, idx):
            raise _Refused(E.NOT_PRESENT, retOnPresent)
    return table, readPhyEntry(s, table, idx)


def _callerSh1(s: State, caller: int, va: int, fst: int) -> int:
    table = leafSh1(s, caller, va)
    if table is None:
        raise _Refused(E.NOT_MAPPED, fst)
    return table


def _kernelPage(s: State, table: int, va: int, fst: int) -> None:
    """kernel.md §9 (c) (hardened): the page may become a kernel table."""
    refusal = kernelPageRefusal(s, table, va)
    if refusal:
        raise _Refused(refusal, fst)


def prepareLevel(s: State, caller: int, child: int, mmu: int, sh1: int, sh2: int, cur: int,
                 idx: int, fst: int) -> tuple[int, int, int, int, int]:
    """Take fst, snd, trd (and fth if the LL is full) for the missing tables at index ``idx`` of
    the child's tables ``mmu``/``sh1``/``sh2``.  Returns the new tables, the LL page used and the
    next free VA."""
    tFst, pFst = _callerPage(s, caller, fst, fst, "ap", fst)
    snd = vaddr(s, readWord(s, pFst, 0))
    if snd == 0:
        raise _Refused(E.NULL_VADDR, fst)
    tSnd, pSnd = _callerPage(s, caller, snd, fst, "ap", snd)
    trd = vaddr(s, readWord(s, pSnd, 0))
    if trd == 0:
        raise _Refused(E.NULL_VADDR, fst)
    if fst == snd or fst == trd or snd == trd:
        raise _Refused(E.SAME_VADDR, fst)
    shFst = _callerSh1(s, caller, fst, fst)
    shSnd = _callerSh1(s, caller, snd, fst)
    tTrd, pTrd = _callerPage(s, caller, trd, fst, "ap", trd)
    shTrd = _callerSh1(s, caller, trd, fst)
    for va, shadow in ((fst, shFst), (snd, shSnd), (trd, shTrd)):
        if isDerived(s, shadow, va):
            raise _Refused(E.DERIVED, fst)
    for va, table in ((fst, tFst), (snd, tSnd), (trd, tTrd)):
        _kernelPage(s, table, va, fst)

    ll = checkEnoughEntriesLinkedList(s, cur)
    if ll is None:
        fth = vaddr(s, readWord(s, pTrd, 0))
        if fth == 0:
            raise _Refused(E.NULL_VADDR, fst)
        if fth in (fst, snd, trd):
            raise _Refused(E.SAME_VADDR, fst)
        tFth, pFth = _callerPage(s, caller, fth, fst, "pa", fst)
        shFth = _callerSh1(s, caller, fth, fst)
        if isDerived(s, shFth, fth):
            raise _Refused(E.DERIVED, fst)
        _kernelPage(s, tFth, fth, fst)
        nextVA = vaddr(s, readWord(s, pFth, 0))
        makeInaccessible(s, caller, tFth, fth)
        writeVirEntry(s, shFth, leafIndex(s, fth), fth)
        PushNewPageOntoLL(s, child, pFth, fth)
        ll = pFth
    else:
        nextVA = vaddr(s, readWord(s, pTrd, 0))

    for va, table in ((fst, tFst), (snd, tSnd), (trd, tTrd)):
        makeInaccessible(s, caller, table, va)
    initPEntryTable(s, pFst)
    initVEntryTable(s, pSnd)
    initVAddrTable(s, pTrd)
    for va, shadow in ((fst, shFst), (snd, shSnd), (trd, shTrd)):
        writeVirEntry(s, shadow, leafIndex(s, va), va)
    writeEntry(s, mmu, idx, pFst << 12 | PTE_ALL)
    writeEntry(s, sh1, idx, pSnd << 12 | PTE_ALL)
    writeEntry(s, sh2, idx, pTrd << 12 | PTE_ALL)
    for va, page in ((fst, pFst), (snd, pSnd), (trd, pTrd)):
        insertEntryIntoLL(s, ll, va, page << 12)
    return pFst, pSnd, pTrd, ll, nextVA


# ====================================================================== addVAddr


def addVAddr(s: State, caller: int, vaParent: int, descChild: int, vaChild: int, r: bool,
             w: bool, e: bool) -> bool:
    vaP, desc, vaC = vaddr(s, vaParent), vaddr(s, descChild), vaddr(s, vaChild)
    if vaP == 0 or desc == 0:
        return fail(s, E.NULL_VADDR, False)
    if checkKernelMap(s, vaP) or checkKernelMap(s, vaC):
        return fail(s, E.KERNEL_SLOT, False)
    if not r:                                      # checkRights (choice: r required)
        return fail(s, E.BAD_RIGHTS, False)
    if not checkChild(s, caller, desc):
        return fail(s, E.NOT_CHILD, False)
    sh1P = leafSh1(s, caller, vaP)
    if sh1P is None:
        return fail(s, E.NOT_MAPPED, False)
    mmuP = leafMMU(s, caller, vaP)
    if mmuP is None:
        return fail(s, E.NOT_MAPPED, False)
    child, why = presentChild(s, caller, desc)
    if why:
        return fail(s, why, False)
    mmuC = leafMMU(s, child, vaC)
    if mmuC is None:
        return fail(s, E.CHILD_TABLE_MISSING, False)
    if isDerived(s, sh1P, vaP):
        return fail(s, E.DERIVED, False)
    if not readAccessible(s, mmuP, leafIndex(s, vaP)):
        return fail(s, E.NOT_ACCESSIBLE, False)
    if not readPresent(s, mmuP, leafIndex(s, vaP)):
        return fail(s, E.NOT_PRESENT, False)
    if rightsAmplified(s, mmuP, vaP, w, e):
        return fail(s, E.RIGHTS_AMPLIFIED, False)
    if readPresent(s, mmuC, leafIndex(s, vaC)):
        return fail(s, E.CHILD_VADDR_PRESENT, False)
    sh2C = leafSh2(s, child, vaC)
    if sh2C is None:
        return fail(s, E.CHILD_TABLE_MISSING, False)
    writeVirtual(s, sh2C, leafIndex(s, vaC), vaP)
    writeVirEntry(s, sh1P, leafIndex(s, vaP), desc)
    page = readPhyEntry(s, mmuP, leafIndex(s, vaP))
    writeEntry(s, mmuC, leafIndex(s, vaC), makePE(page, True, True, True, bool(w), bool(e)))
    return succeed(s, True)


# ====================================================================== mappedInChild


def mappedInChild(s: State, caller: int, vaParent: int) -> int:
    va = vaddr(s, vaParent)
    mmu = leafMMU(s, caller, va)
    if mmu is None:
        return fail(s, E.NOT_MAPPED, 0)
    if not readPresent(s, mmu, leafIndex(s, va)):
        return fail(s, E.NOT_PRESENT, 0)
    if not readAccessible(s, mmu, leafIndex(s, va)):
        return fail(s, E.NOT_ACCESSIBLE, 0)
    sh1 = leafSh1(s, caller, va)
    if sh1 is None:
        return fail(s, E.NOT_MAPPED, 0)
    return succeed(s, readVirEntry(s, sh1, leafIndex(s, va)))


# ====================================================================== removeVAddr


def removeVAddr(s: State, caller: int, descChild: int, vaChild: int) -> bool:
    desc, vaC = vaddr(s, descChild), vaddr(s, vaChild)
    if checkKernelMap(s, vaC):
        return fail(s, E.KERNEL_SLOT, False)
    if not checkChild(s, caller, desc):
        return fail(s, E.NOT_CHILD, False)
    child, why = presentChild(s, caller, desc)
    if why:
        return fail(s, why, False)
    mmuC = leafMMU(s, child, vaC)
    if mmuC is None:
        return fail(s, E.CHILD_TABLE_MISSING, False)
    sh1C = leafSh1(s, child, vaC)
    if sh1C is None:
        return fail(s, E.CHILD_TABLE_MISSING, False)
    idxC = leafIndex(s, vaC)
    if not readPresent(s, mmuC, idxC):
        return fail(s, E.CHILD_PAGE_NOT_PRESENT, False)
    if not readAccessible(s, mmuC, idxC):
        return fail(s, E.CHILD_PAGE_NOT_ACCESSIBLE, False)
    if isDerived(s, sh1C, vaC):
        return fail(s, E.CHILD_PAGE_DERIVED, False)
    sh2C = leafSh2(s, child, vaC)
    if sh2C is None:
        return fail(s, E.CHILD_TABLE_MISSING, False)
    vaP = readVirtual(s, sh2C, idxC)
    sh1P = leafSh1(s, caller, vaP)
    if sh1P is None:
        return fail(s, E.INCONSISTENT_STATE, False)
    writeEntry(s, mmuC, idxC, 0)
    writeVirtual(s, sh2C, idxC, 0)
    writeVirEntry(s, sh1P, leafIndex(s, vaP), 0)
    return succeed(s, True)


# ====================================================================== deletePartition


def unmapChildPages(s: State, caller: int, child: int) -> None:
    """Every VA stored in the child's sh2 leaves is underived in the caller's sh1."""
    for va in sh2LeafValues(s, getSndShadow(s, child)):
        sh1 = leafSh1(s, caller, va)
        if sh1 is not None:
            writeVirEntry(s, sh1, leafIndex(s, va), 0)


def sh2LeafValues(s: State, root: int) -> list[int]:
    """The non-null VAs of every sh2 leaf entry, ascending VA of the entry, kernel slot skipped."""
    values: list[int] = []

    def walk(table: int, level: int) -> None:
        words = readTable(s, table)
        for idx, word in enumerate(words):
            if level == s.nbL and idx == KERNEL_INDEX:
                continue
            if level == 0:
                va = vaddr(s, word)
                if va != 0:
                    values.append(va)
            elif word != 0:
                walk(page_of(word), level - 1)

    walk(root, s.nbL)
    return values


def putIndirectionsBack(s: State, caller: int, child: int) -> None:
    """Every page of the child's LL (its used pairs, then the LL page itself) goes back."""
    for pageVA, page in iterLLPagesWithVA(s, readPDslot(s, child, 8), getConfigPagesLL(s, child)):
        for va, _pa in usedPairs(s, page):
            putPageBack(s, caller, va)
        putPageBack(s, caller, pageVA)


def putShadowsBack(s: State, caller: int, child: int) -> None:
    """The descriptor and the three roots (PD slots 0, 2, 4, 6) go back to the caller."""
    for slot in (0, 2, 4, 6):
        putPageBack(s, caller, vaddr(s, readPDslot(s, child, slot)))


def inSubtree(s: State, part: int, child: int) -> bool:
    """``part`` is ``child`` or one of its descendants (parent links, bounded)."""
    for _ in range(s.geo.pages):
        if part == child:
            return True
        if part in (0, ROOT_PD):
            return False
        part = getParent(s, part)
    return False


def deletePartition(s: State, caller: int, descChild: int) -> bool:
    desc = vaddr(s, descChild)
    if not checkChild(s, caller, desc):
        return fail(s, E.NOT_CHILD, False)
    mmuDesc = leafMMU(s, caller, desc)
    if mmuDesc is None:
        return fail(s, E.NOT_MAPPED, False)
    child = readPhyEntry(s, mmuDesc, leafIndex(s, desc))
    sh1Desc = leafSh1(s, caller, desc)           # found: checkChild read it
    if child == 0 or not s.mem.valid_page(child) or sh1Desc is None:
        return fail(s, E.INCONSISTENT_STATE, False)
    if inSubtree(s, s.current, child):           # it leaves the tree: the caller runs (§6)
        s.current = caller
    unmapChildPages(s, caller, child)
    putIndirectionsBack(s, caller, child)
    writePDflag(s, sh1Desc, leafIndex(s, desc), False)
    putShadowsBack(s, caller, child)
    return succeed(s, True)


# ====================================================================== collect


def collect(s: State, caller: int, descChild: int, vaToCollect: int) -> bool:
    desc, va = vaddr(s, descChild), vaddr(s, vaToCollect)
    if checkKernelMap(s, va):
        return fail(s, E.KERNEL_SLOT, False)
    if not checkChild(s, caller, desc):
        return fail(s, E.NOT_CHILD, False)
    mmuDesc = leafMMU(s, caller, desc)
    if mmuDesc is None:
        return fail(s, E.NOT_MAPPED, False)
    child = readPhyEntry(s, mmuDesc, leafIndex(s, desc))
    roots = childRoots(s, child)
    head = getConfigPagesLL(s, child)
    # depth = number of levels walked down from the roots: nbL (the leaf table of va) up to 1
    for depth in range(s.nbL, 0, -1):
        mmu = getTableAddr(s, roots[0], va, depth)
        if mmu is None:
            return fail(s, E.CHILD_TABLE_MISSING, False)
        if any(readTable(s, mmu)):
            return succeed(s, True)
        tables = [mmu]
        for root in roots[1:]:
            table = getTableAddr(s, root, va, depth)
            if table is None:
                return fail(s, E.CHILD_TABLE_MISSING, False)
            tables.append(table)
        pairs = [findPairByPA(s, head, table) for table in tables]
        if any(pair is None for pair in pairs):
            return fail(s, E.INCONSISTENT_STATE, False)
        vas = [vaddr(s, readWord(s, page, i)) for page, i in pairs]
        for page, i in pairs:
            freeEntryOfLL(s, page, i)
        upperIdx = getIndexOfAddr(s, va, s.nbL - depth + 1)
        for root in roots:
            writeEntry(s, getTableAddr(s, root, va, depth - 1), upperIdx, 0)
        for pageVA in vas:
            mmuP = leafMMU(s, caller, pageVA)
            if mmuP is not None:
                writeAccessible(s, mmuP, leafIndex(s, pageVA), True)
            writeAccessibleRec(s, pageVA, caller, True)
            sh1P = leafSh1(s, caller, pageVA)
            if sh1P is not None:
                writeVirEntry(s, sh1P, leafIndex(s, pageVA), 0)
    return succeed(s, True)
