"""The configuration-pages list (LL, Pip's "shadow 3"), docs/kernel.md §2 and pip-spec §3.3.

One LL page, ``max = ts - 1``: word 0 = index of the first free pair, word 1 = number of free
pairs, pairs ``(2k, 2k+1)`` for ``k = 1 .. ts/2 - 2`` hold (VA in the parent, PA) when used and
(0, index of the next free pair) when free; words ``max-1``, ``max`` = VA, PA of the next LL page.
"""
from __future__ import annotations

from typing import Iterator

from .mal import page_of, readWord, vaddr, writeWord
from .state import State


def maxIndex(s: State) -> int:
    return s.ts - 1


def pairIndices(s: State) -> range:
    """Word index of the first cell of every pair (2k for k = 1 .. ts/2 - 2)."""
    return range(2, s.ts - 2, 2)


def initConfigPagesList(s: State, page: int) -> None:
    """A fresh LL page (Internal.v initConfigPagesListAux)."""
    last = s.ts - 4                                   # first cell of the last pair
    writeWord(s, page, 0, 2)
    writeWord(s, page, 1, s.ts // 2 - 2)
    for i in pairIndices(s):
        writeWord(s, page, i, 0)
        writeWord(s, page, i + 1, 0 if i == last else i + 2)
    writeWord(s, page, maxIndex(s) - 1, 0)
    writeWord(s, page, maxIndex(s), 0)


def insertEntryIntoLL(s: State, page: int, va: int, pa: int) -> None:
    """Store the pair (va, pa) in the first free pair of ``page`` (``pa`` is an address)."""
    i = readWord(s, page, 0)
    writeWord(s, page, i, va)
    nxt = readWord(s, page, i + 1)
    writeWord(s, page, i + 1, pa)
    writeWord(s, page, 0, nxt)
    writeWord(s, page, 1, readWord(s, page, 1) - 1)


def freeEntryOfLL(s: State, page: int, i: int) -> None:
    """Give the pair at word ``i`` back to the free list of ``page`` (collect)."""
    writeWord(s, page, i, 0)
    writeWord(s, page, i + 1, readWord(s, page, 0))
    writeWord(s, page, 0, i)
    writeWord(s, page, 1, readWord(s, page, 1) + 1)


def nextLLPage(s: State, page: int) -> tuple[int, int]:
    """(VA, page) of the LL page that follows ``page`` (page 0 at the end)."""
    m = maxIndex(s)
    return readWord(s, page, m - 1), page_of(readWord(s, page, m))


def iterLLPages(s: State, head: int) -> Iterator[int]:
    """The LL pages from ``head`` (bounded: stops at 0, at a page outside RAM or on a repeated
    page)."""
    seen: set[int] = set()
    page = head
    while page != 0 and page not in seen and s.mem.valid_page(page):
        seen.add(page)
        yield page
        page = nextLLPage(s, page)[1]


def checkEnoughEntriesLinkedList(s: State, head: int) -> int | None:
    """The first LL page from ``head`` with at least 3 free pairs, or None."""
    for page in iterLLPages(s, head):
        if readWord(s, page, 1) >= 3:
            return page
    return None


def findPairByPA(s: State, head: int, table: int) -> tuple[int, int] | None:
    """(LL page, word index) of the first pair whose PA is ``table``'s (parseConfigPagesList)."""
    for page in iterLLPages(s, head):
        for i in pairIndices(s):
            if page_of(readWord(s, page, i + 1)) == table:
                return page, i
    return None


def usedPairs(s: State, page: int) -> list[tuple[int, int]]:
    """(VA, PA word) of the used pairs of one LL page (a used pair has a non-null VA)."""
    pairs = []
    for i in pairIndices(s):
        va = vaddr(s, readWord(s, page, i))
        if va != 0:
            pairs.append((va, readWord(s, page, i + 1)))
    return pairs


def iterLLPagesWithVA(s: State, headVA: int, head: int) -> Iterator[tuple[int, int]]:
    """(VA in the parent, page) of every LL page, from the head given by PD slots 8/9."""
    seen: set[int] = set()
    va, page = headVA, head
    while page != 0 and page not in seen and s.mem.valid_page(page):
        seen.add(page)
        yield vaddr(s, va), page
        va, page = nextLLPage(s, page)
