"""The checks the ``hardened`` policy adds to Pip's (docs/kernel.md §9 (b)-(d)).

Each returns what the check finds and is a no-op under ``pip``; the services and the control
calls call them at the place §9 gives.  §9 (a), the writable save area, is ``ctxWritable`` in
control.py, next to Pip's ``ctxOk``.
"""
from __future__ import annotations

from ..abi import PTE_EXEC, PTE_WRITE, PipError, cli_sti_save_indices
from .mal import getParent, leafIndex, readEntry, readPhyEntry
from .state import State


def rightsAmplified(s: State, mmuTable: int, va: int, w: bool, e: bool) -> bool:
    """§9 (b), addVAddr: w asked without W on the caller's own PTE for ``va``, or e without X."""
    if not s.hardened:
        return False
    entry = readEntry(s, mmuTable, leafIndex(s, va))
    return (w and not entry & PTE_WRITE) or (e and not entry & PTE_EXEC)


def kernelPageRefusal(s: State, mmuTable: int, va: int) -> PipError | None:
    """§9 (c), createPartition / prepare: why the caller's page at ``va`` cannot become a kernel
    structure (its PTE lacks W, then: it is a device page), None when it can."""
    if not s.hardened:
        return None
    idx = leafIndex(s, va)
    if not readEntry(s, mmuTable, idx) & PTE_WRITE:
        return PipError.NOT_WRITABLE
    if readPhyEntry(s, mmuTable, idx) in s.devices:
        return PipError.DEVICE_PAGE
    return None


def reservedVector(s: State, caller: int, target: int, vector: int) -> bool:
    """§9 (d), yield / dispatch step 3b: a call to the caller's parent names a vector below the
    save slots (faults, double fault, hardware interrupts: the kernel's own events)."""
    return (s.hardened and target == getParent(s, caller)
            and vector < cli_sti_save_indices(s.ts)[0])
