"""Observing the state (pip-spec §4.1, StateLib.v): tree walks, getChildren, getPartitions,
mappings, configuration pages.  Used by the public observers of ``Kernel`` and by the invariants.

Every walk is bounded and tolerates corrupted memory: a table pointer outside the RAM is not
followed (and is recorded in ``TreeWalk.outside``), LL chains stop on a repeated page, the
partition tree is explored once per page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..abi import KERNEL_INDEX, PAGE_SIZE, PTE_ACCESSIBLE, PTE_PRESENT, SH1_PD_FLAG
from .ll import iterLLPages
from .mal import page_of, readTable, readWord
from .state import ROOT_PD, State


@dataclass
class TreeWalk:
    """One MMU / sh1 / sh2 tree: every table reachable from the root (the kernel slot skipped).

    ``tables`` maps (depth, base VA) to the table's page (depth 0 = the root, nbL = leaf tables);
    ``leaves`` maps the base VA of each leaf table to its ``ts`` words; ``upper`` holds the
    non-null entries of the non-leaf tables; ``outside`` is set when an entry points outside RAM.
    """

    tables: dict[tuple[int, int], int] = field(default_factory=dict)
    leaves: dict[int, tuple[int, ...]] = field(default_factory=dict)
    upper: list[int] = field(default_factory=list)
    outside: bool = False

    def pages(self) -> list[int]:
        return list(self.tables.values())


def walkTree(s: State, root: int) -> TreeWalk:
    walk = TreeWalk()
    if not s.mem.valid_page(root):
        walk.outside = True
        return walk
    walk.tables[(0, 0)] = root
    stack = [(0, 0, root)]
    while stack:
        depth, base, table = stack.pop()
        words = readTable(s, table)
        if depth == s.nbL:
            walk.leaves[base] = words
            continue
        span = PAGE_SIZE * s.ts ** (s.nbL - depth)      # VA bytes covered by one entry
        for idx, entry in enumerate(words):
            if entry == 0 or (depth == 0 and idx == KERNEL_INDEX):
                continue
            walk.upper.append(entry)
            child = page_of(entry)
            if not s.mem.valid_page(child):
                walk.outside = True
                continue
            key = (depth + 1, base + idx * span)
            walk.tables[key] = child
            stack.append((depth + 1, key[1], child))
    return walk


class PartitionInfo:
    """Everything StateLib derives from one partition descriptor."""

    def __init__(self, s: State, pd: int):
        self.s, self.pd = s, pd
        self.slots = [readWord(s, pd, i) for i in range(14)]
        self.parent = page_of(self.slots[11])

    @cached_property
    def mmu(self) -> TreeWalk:
        return walkTree(self.s, page_of(self.slots[3]))

    @cached_property
    def sh1(self) -> TreeWalk:
        return walkTree(self.s, page_of(self.slots[5]))

    @cached_property
    def sh2(self) -> TreeWalk:
        return walkTree(self.s, page_of(self.slots[7]))

    @cached_property
    def llPages(self) -> list[int]:
        """getLLPages, with a repeated page listed twice (then the walk stops)."""
        pages = list(iterLLPages(self.s, page_of(self.slots[9])))
        if pages:
            last = page_of(readWord(self.s, pages[-1], self.s.ts - 1))
            if last in pages:
                pages.append(last)
        return pages

    @cached_property
    def leafEntries(self) -> dict[int, int]:
        """VA -> MMU leaf entry, for every entry of every existing leaf table."""
        return {base + i * PAGE_SIZE: word for base, words in self.mmu.leaves.items()
                for i, word in enumerate(words)}

    @cached_property
    def mappedVAs(self) -> dict[int, int]:
        """getMappedPages with their VAs: VA -> page, for present leaf entries (ascending VA)."""
        return {va: page_of(e) for va, e in sorted(self.leafEntries.items()) if e & PTE_PRESENT}

    @cached_property
    def accessibleVAs(self) -> dict[int, int]:
        both = PTE_PRESENT | PTE_ACCESSIBLE
        return {va: page_of(e) for va, e in self.leafEntries.items() if e & both == both}

    @cached_property
    def mappedPages(self) -> set[int]:
        return set(self.mappedVAs.values())

    @cached_property
    def configList(self) -> list[int]:
        """getConfigPages: [pd] ++ indirections(MMU, sh1, sh2) ++ LL pages (duplicates kept)."""
        return [self.pd] + self.mmu.pages() + self.sh1.pages() + self.sh2.pages() + self.llPages

    @cached_property
    def configPages(self) -> set[int]:
        return set(self.configList)

    @cached_property
    def usedPages(self) -> set[int]:
        return self.configPages | self.mappedPages

    def sh1Entry(self, va: int) -> int | None:
        """The sh1 leaf word for ``va``, None when the sh1 leaf table is missing."""
        words = self.sh1.leaves.get(self._base(va))
        return None if words is None else words[self._leafIdx(va)]

    def sh2Entry(self, va: int) -> int | None:
        words = self.sh2.leaves.get(self._base(va))
        return None if words is None else words[self._leafIdx(va)]

    def mmuEntry(self, va: int) -> int | None:
        words = self.mmu.leaves.get(self._base(va))
        return None if words is None else words[self._leafIdx(va)]

    def _base(self, va: int) -> int:
        return va - (va % (PAGE_SIZE * self.s.ts))

    def _leafIdx(self, va: int) -> int:
        return (va // PAGE_SIZE) % self.s.ts

    @cached_property
    def childVAs(self) -> list[tuple[int, int]]:
        """getChildren with their descriptor VAs: (VA, PD page) for every VA whose sh1 leaf has
        the PD flag and whose MMU entry is present (ascending VA).  A PD page outside RAM or the
        null page is not a partition."""
        children = []
        for base in sorted(self.sh1.leaves):
            mmuWords = self.mmu.leaves.get(base)
            if mmuWords is None:
                continue
            for i, word in enumerate(self.sh1.leaves[base]):
                if word & SH1_PD_FLAG and mmuWords[i] & PTE_PRESENT:
                    page = page_of(mmuWords[i])
                    if page != 0 and self.s.mem.valid_page(page):
                        children.append((base + i * PAGE_SIZE, page))
        return children


class Snapshot:
    """The partition tree (getPartitions from the root, preorder, children by descriptor VA)."""

    def __init__(self, s: State):
        self.s = s
        self.infos: dict[int, PartitionInfo] = {}
        self.order: list[int] = []
        self.childrenOf: dict[int, list[int]] = {}
        self.parentOf: dict[int, int | None] = {ROOT_PD: None}
        self.duplicates = False                  # a PD reached twice (noDupPartitionTree)
        seen = {ROOT_PD}
        stack = [ROOT_PD]
        while stack:
            pd = stack.pop()
            self.order.append(pd)
            kids = []
            for _va, child in self.info(pd).childVAs:
                if child in seen:
                    self.duplicates = True
                    continue
                seen.add(child)
                kids.append(child)
                self.parentOf[child] = pd
            self.childrenOf[pd] = kids
            stack.extend(reversed(kids))
        self.members = set(self.order)

    def info(self, pd: int) -> PartitionInfo:
        if pd not in self.infos:
            self.infos[pd] = PartitionInfo(self.s, pd)
        return self.infos[pd]
