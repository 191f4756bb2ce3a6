"""Properties beyond Pip's (docs/kernel.md §10) as executable checks, apart from Pip's own.

``checkExtraProperties(s)`` returns the names of the violated ones in ``abi.EXTRA_PROPERTIES``
order, ``[]`` when all hold.  Under ``pip`` the attacks of §9 break them while every property of
invariants.py still holds; ``hardened`` keeps the first three by construction.

Reading: "C's parent" is the partition tree's (``k.parent``, kernel.md §8, the same as PD slot 11
whenever Pip's invariants hold), so only partitions of the tree are visited.  In
rightsMonotonicity a leaf entry whose sh2 leaf table is missing has no v' and is not constrained.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..abi import EXTRA_PROPERTIES, PTE_EXEC, PTE_PRESENT, PTE_WRITE, cli_sti_save_indices
from .control import ctxWritable, readVidtSlot, vidtPage
from .invariants import Checker, violatedProperties
from .mal import page_of
from .observe import PartitionInfo
from .state import State

_RIGHTS = PTE_WRITE | PTE_EXEC
_PRESENT_WRITABLE = PTE_PRESENT | PTE_WRITE


class ExtraChecker(Checker):
    """One method per property of kernel.md §10 (True = holds)."""

    def parentsAndChildren(self) -> Iterator[tuple[PartitionInfo, PartitionInfo]]:
        """(P, C) for every partition C other than the root, P its parent."""
        for parent in self.parts:
            for child in self.children(parent):
                yield parent, child

    def rightsMonotonicity(self) -> bool:
        """For every present leaf entry of C at v, P's entry for v' = C.sh2[v], if present,
        carries W when C's carries W and X when C's carries X."""
        for parent, child in self.parentsAndChildren():
            for va, entry in child.leafEntries.items():
                if not entry & PTE_PRESENT:
                    continue
                vaInParent = child.sh2Entry(va)
                if vaInParent is None:
                    continue
                parentEntry = parent.mmuEntry(vaInParent & self.s.va_page_mask)
                if parentEntry is None or not parentEntry & PTE_PRESENT:
                    continue
                if entry & _RIGHTS & ~parentEntry:
                    return False
        return True

    def configPagesWritableInParent(self) -> bool:
        """Every page of config_pages(C) is mapped in P by a present entry carrying W
        (accessible or not)."""
        for parent, child in self.parentsAndChildren():
            writable = {page_of(e) for e in parent.leafEntries.values()
                        if e & _PRESENT_WRITABLE == _PRESENT_WRITABLE}
            if not child.configPages <= writable:
                return False
        return True

    def noDeviceConfigPages(self) -> bool:
        """No configuration page of any partition is a device page."""
        return not any(p.configPages & self.s.devices for p in self.parts)

    def saveSlotsWritable(self) -> bool:
        """For every partition P whose VIDT is present and accessible, VIDT slots CLI_SAVE_INDEX
        and STI_SAVE_INDEX each hold 0 or a VA where a context is writable in P."""
        for p in self.parts:
            vidt = vidtPage(self.s, p.pd)
            if vidt is None:
                continue
            for slot in cli_sti_save_indices(self.s.ts):
                va = readVidtSlot(self.s, vidt, slot)
                if va != 0 and not ctxWritable(self.s, p.pd, va):
                    return False
        return True


def checkExtraProperties(s: State) -> list[str]:
    return violatedProperties(ExtraChecker(s), EXTRA_PROPERTIES, {})


__all__ = ["checkExtraProperties", "ExtraChecker"]
