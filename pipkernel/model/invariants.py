"""Pip's proved properties as executable checks (pip-spec §4.2-4.3, Isolation.v/Consistency.v).

``checkInvariants(s)`` returns the names (Coq names) of the violated properties, in the order of
``PROPERTIES``; ``[]`` when all hold.  All checks read the byte encodings through
``observe.Snapshot`` (bounded walks), so corrupted state never crashes or hangs them; a check that
raises all the same (a bug of the model) is reported apart, as ``"<name>: checker crashed (...)"``,
never as the property's name: a crash is not mistaken for a detected violation.

Reading of the typed-cell properties over a byte encoding (what each check verifies):

* partitionDescriptorEntry: for every partition, VA slots 0, 2, 4, 6, 8 hold page-aligned VAs
  below VA_LIMIT, PA slots 1, 3, 5, 7, 9 hold page-aligned addresses of non-null pages inside
  RAM, and (for every partition but the root, which has no parent) slot 11 too.  "Holds a VA" /
  "holds a PA" are type facts in Coq; the alignment / range tests are what a byte encoding can
  express.  Slot 10 (the root's IO mask) is not checked.
* dataStructurePdSh1Sh2asRoot(MMU|sh1|sh2): the root page lies in RAM; every non-null non-leaf
  entry is a PE (only flag bits 0-4, page inside RAM); MMU leaf entries are PEs (same test); sh1
  leaf entries are VEs (only bit 0 below the VA, VA < VA_LIMIT); sh2 leaf entries are VAs
  (page-aligned, < VA_LIMIT).
* isPresentNotDefaultIff: present bit clear <=> page 0, for every entry of every MMU table and
  every non-leaf entry of the shadows of every partition.
* wellFormedShadows(sh1|sh2): as in Coq, one direction: every non-null MMU indirection (root
  included) has a non-null indirection at the same place in the shadow.  The other direction for
  sh1 leaves is wellFormedFstShadowIfNone.
* Properties about "the parent" use PD slot 11 (Coq's getParent); the root is exempt from the
  conjuncts that would need a parent (parentInPartitionList, isChild,
  accessibleChildPageIsAccessibleIntoParent, wellFormedSndShadow).
* Trees skip the kernel slot (the kernel entry of every root is the null entry).
"""
from __future__ import annotations

from typing import Callable

from ..abi import PAGE_SIZE, PTE_ACCESSIBLE, PTE_PRESENT, SH1_PD_FLAG
from .mal import page_of, readWord
from .observe import PartitionInfo, Snapshot, TreeWalk
from .state import ROOT_PD, State

PROPERTIES = (
    "verticalSharing", "partitionsIsolation", "kernelDataIsolation",
    "partitionDescriptorEntry", "dataStructurePdSh1Sh2asRoot(MMU)",
    "dataStructurePdSh1Sh2asRoot(sh1)", "dataStructurePdSh1Sh2asRoot(sh2)",
    "currentPartitionInPartitionsList", "noDupMappedPagesList", "noDupConfigPagesList",
    "parentInPartitionList", "accessibleVAIsNotPartitionDescriptor",
    "accessibleChildPageIsAccessibleIntoParent", "noCycleInPartitionTree",
    "configTablesAreDifferent", "isChild", "isPresentNotDefaultIff", "physicalPageNotDerived",
    "multiplexerWithoutParent", "isParent", "noDupPartitionTree", "wellFormedFstShadow",
    "wellFormedSndShadow", "wellFormedShadows(sh1)", "wellFormedShadows(sh2)",
    "currentPartitionIsNotDefaultPage", "wellFormedFstShadowIfNone",
    "wellFormedFstShadowIfDefaultValues",
)

PE_FLAG_BITS = 0x1F


class Checker:
    """One snapshot of the state and one method per property (True = holds)."""

    def __init__(self, s: State):
        self.s = s
        self.tree = Snapshot(s)
        self.parts = [self.tree.info(pd) for pd in self.tree.order]

    def info(self, pd: int) -> PartitionInfo:
        return self.tree.info(pd)

    def children(self, p: PartitionInfo) -> list[PartitionInfo]:
        return [self.info(c) for c in self.tree.childrenOf[p.pd]]

    def nonRoot(self) -> list[PartitionInfo]:
        return [p for p in self.parts if p.pd != ROOT_PD]

    def validPage(self, page: int) -> bool:
        return page != 0 and self.s.mem.valid_page(page)

    # ---------------------------------------------------------------- §4.2 security properties

    def verticalSharing(self) -> bool:
        return all(c.usedPages <= p.mappedPages for p in self.parts for c in self.children(p))

    def partitionsIsolation(self) -> bool:
        for p in self.parts:
            seen: set[int] = set()
            for c in self.children(p):
                if c.usedPages & seen:
                    return False
                seen |= c.usedPages
        return True

    def kernelDataIsolation(self) -> bool:
        accessible = set().union(*(set(p.accessibleVAs.values()) for p in self.parts))
        config = set().union(*(p.configPages for p in self.parts))
        return not accessible & config

    # ---------------------------------------------------------------- §4.3 consistency

    def partitionDescriptorEntry(self) -> bool:
        for p in self.parts:
            for slot in (0, 2, 4, 6, 8):
                va = p.slots[slot]
                if va & 0xFFF or va >= self.s.va_limit:
                    return False
            paSlots = (1, 3, 5, 7, 9) if p.pd == ROOT_PD else (1, 3, 5, 7, 9, 11)
            for slot in paSlots:
                pa = p.slots[slot]
                if pa & 0xFFF or not self.validPage(page_of(pa)):
                    return False
        return True

    def _wellTypedTree(self, walk: TreeWalk, leafOk: Callable[[int], bool]) -> bool:
        if walk.outside or not walk.tables:
            return False
        if any(e & 0xFFF & ~PE_FLAG_BITS for e in walk.upper):
            return False
        return all(leafOk(w) for words in walk.leaves.values() for w in words)

    def _pe(self, e: int) -> bool:
        return not e & 0xFFF & ~PE_FLAG_BITS and self.s.mem.valid_page(page_of(e))

    def _ve(self, e: int) -> bool:
        return not e & 0xFFE and e & ~0xFFF < self.s.va_limit

    def _va(self, e: int) -> bool:
        return not e & 0xFFF and e < self.s.va_limit

    def dataStructureMMU(self) -> bool:
        return all(self._wellTypedTree(p.mmu, self._pe) for p in self.parts)

    def dataStructureSh1(self) -> bool:
        return all(self._wellTypedTree(p.sh1, self._ve) for p in self.parts)

    def dataStructureSh2(self) -> bool:
        return all(self._wellTypedTree(p.sh2, self._va) for p in self.parts)

    def currentPartitionInPartitionsList(self) -> bool:
        return self.s.current in self.tree.members

    def currentPartitionIsNotDefaultPage(self) -> bool:
        return self.s.current != 0

    def noDupMappedPagesList(self) -> bool:
        return all(len(p.mappedPages) == len(p.mappedVAs) for p in self.parts)

    def noDupConfigPagesList(self) -> bool:
        return all(len(p.configPages) == len(p.configList) for p in self.parts)

    def parentInPartitionList(self) -> bool:
        return all(p.parent in self.tree.members for p in self.nonRoot())

    def multiplexerWithoutParent(self) -> bool:
        return self.info(ROOT_PD).parent == 0

    def accessibleVAIsNotPartitionDescriptor(self) -> bool:
        for p in self.parts:
            for va in p.accessibleVAs:
                entry = p.sh1Entry(va)
                if entry is not None and entry & SH1_PD_FLAG:
                    return False
        return True

    def accessibleChildPageIsAccessibleIntoParent(self) -> bool:
        both = PTE_PRESENT | PTE_ACCESSIBLE
        for c in self.nonRoot():
            if not c.accessibleVAs:
                continue
            if not self.validPage(c.parent):
                return False
            parent = self.info(c.parent)
            for va, page in c.accessibleVAs.items():
                vaInParent = c.sh2Entry(va)
                if vaInParent is None:
                    return False
                entry = parent.mmuEntry(vaInParent & self.s.va_page_mask)
                if entry is None or entry & both != both or page_of(entry) != page:
                    return False
        return True

    def noCycleInPartitionTree(self) -> bool:
        for p in self.parts:
            seen: set[int] = set()
            ancestor = p.parent
            while ancestor != 0 and ancestor not in seen and self.s.mem.valid_page(ancestor):
                if ancestor == p.pd:
                    return False
                seen.add(ancestor)
                ancestor = page_of(readWord(self.s, ancestor, 11))
        return True

    def configTablesAreDifferent(self) -> bool:
        seen: set[int] = set()
        for p in self.parts:
            if p.configPages & seen:
                return False
            seen |= p.configPages
        return True

    def isChild(self) -> bool:
        for p in self.nonRoot():
            if not self.validPage(p.parent):
                return False
            if p.pd not in (pd for _va, pd in self.info(p.parent).childVAs):
                return False
        return True

    def isParent(self) -> bool:
        for p in self.parts:
            for _va, child in p.childVAs:
                if self.info(child).parent != p.pd:
                    return False
        return True

    def isPresentNotDefaultIff(self) -> bool:
        def iff(e: int) -> bool:
            return (not e & PTE_PRESENT) == (page_of(e) == 0)
        for p in self.parts:
            for walk in (p.mmu, p.sh1, p.sh2):
                if not all(iff(e) for e in walk.upper):
                    return False
            if not all(iff(e) for words in p.mmu.leaves.values() for e in words):
                return False
        return True

    def physicalPageNotDerived(self) -> bool:
        for p in self.parts:
            notDerived = set()
            for va, page in p.mappedVAs.items():
                entry = p.sh1Entry(va)
                if entry is None or entry & self.s.va_page_mask == 0:
                    notDerived.add(page)
            for c in self.children(p):
                if notDerived & c.mappedPages:
                    return False
        return True

    def noDupPartitionTree(self) -> bool:
        return not self.tree.duplicates

    def wellFormedFstShadow(self) -> bool:
        return all(p.sh1Entry(va) is not None for p in self.parts for va in p.mappedVAs)

    def wellFormedSndShadow(self) -> bool:
        for p in self.nonRoot():
            for va in p.mappedVAs:
                entry = p.sh2Entry(va)
                if entry is None or entry & self.s.va_page_mask == 0:
                    return False
        return True

    def _sameShape(self, shadow: str) -> bool:
        for p in self.parts:
            tables = getattr(p, shadow).tables
            if any(key not in tables for key in p.mmu.tables):
                return False
        return True

    def wellFormedShadowsSh1(self) -> bool:
        return self._sameShape("sh1")

    def wellFormedShadowsSh2(self) -> bool:
        return self._sameShape("sh2")

    def wellFormedFstShadowIfNone(self) -> bool:
        return all(base in p.mmu.leaves for p in self.parts for base in p.sh1.leaves)

    def wellFormedFstShadowIfDefaultValues(self) -> bool:
        for p in self.parts:
            for va, entry in p.leafEntries.items():
                if entry & PTE_PRESENT:
                    continue
                sh1 = p.sh1Entry(va)
                if sh1 is None or sh1 & SH1_PD_FLAG or sh1 & self.s.va_page_mask:
                    return False
        return True


CHECKS: dict[str, str] = {
    "dataStructurePdSh1Sh2asRoot(MMU)": "dataStructureMMU",
    "dataStructurePdSh1Sh2asRoot(sh1)": "dataStructureSh1",
    "dataStructurePdSh1Sh2asRoot(sh2)": "dataStructureSh2",
    "wellFormedShadows(sh1)": "wellFormedShadowsSh1",
    "wellFormedShadows(sh2)": "wellFormedShadowsSh2",
}


def violatedProperties(checker: Checker, names: tuple[str, ...],
                       methods: dict[str, str]) -> list[str]:
    """The names (in order) whose check (the method ``methods.get(name, name)``) fails, and
    ``"<name>: checker crashed (<error>)"`` for a check that raises."""
    violated = []
    for name in names:
        try:
            holds = getattr(checker, methods.get(name, name))()
        except Exception as error:          # reported, not taken for a violation
            violated.append(f"{name}: checker crashed ({type(error).__name__}: {error})")
            continue
        if not holds:
            violated.append(name)
    return violated


def checkInvariants(s: State) -> list[str]:
    return violatedProperties(Checker(s), PROPERTIES, CHECKS)


__all__ = ["PROPERTIES", "checkInvariants", "violatedProperties", "Checker", "PAGE_SIZE"]
