"""Control flow: yield, the v0.2 dispatch/resume, get/set_int_state (docs/kernel.md §6).

Contexts are 20 little-endian words (0 pc, 1 pipflags, 2 status, 3 valid, 4-19 r0-r15) stored in
a partition's memory at a VA read from its VIDT (the page at ``VA_LIMIT - 4096``); the kernel
reaches them through that partition's page tables, so a context may straddle two pages.
"""
from __future__ import annotations

import struct

from ..abi import (CONTEXT_SIZE, CONTEXT_WORDS, CTX_PIPFLAGS, CTX_REGS, CTX_VALID,
                   GET_INT_STATE_ERROR, PAGE_SIZE, PTE_WRITE, RESUME_SELF, YIELD_CODES,
                   PipError as E, cli_sti_save_indices)
from .internal import checkChild
from .mal import (getIntState, getParent, isPresentAccessible, isRoot, leafIndex, leafMMU,
                  readEntry, readPDslot, readPhyEntry, readPresent, readWord, setIntState, vaddr)
from .policy import reservedVector
from .state import State, fail, succeed

_CTX = struct.Struct(f"<{CONTEXT_WORDS}I")


class _YieldFailure(Exception):
    def __init__(self, reason: E):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- VIDT and contexts


def vidtPage(s: State, pd: int) -> int | None:
    """The page of the partition's VIDT if it is present and accessible there, else None."""
    va = s.geo.vidt_va
    if not isPresentAccessible(s, pd, va):
        return None
    return readPhyEntry(s, leafMMU(s, pd, va), leafIndex(s, va))


def readVidtSlot(s: State, vidt: int, i: int) -> int:
    """VIDT word ``i``: the VA of a context (bits above VA_LIMIT ignored, offset kept)."""
    return readWord(s, vidt, i) & (s.va_limit - 1)


def ctxOk(s: State, pd: int, va: int) -> bool:
    """The pages of the first and last byte are present and accessible in ``pd``, and the
    context does not pass the end of the address space."""
    last = va + CONTEXT_SIZE - 1
    return (last < s.va_limit and isPresentAccessible(s, pd, va)
            and isPresentAccessible(s, pd, last))


def ctxWritable(s: State, pd: int, va: int) -> bool:
    """kernel.md §9 (a): "ctx ok" and the pages of the first and last byte carry W in ``pd``."""
    return ctxOk(s, pd, va) and all(
        readEntry(s, leafMMU(s, pd, v), leafIndex(s, v)) & PTE_WRITE
        for v in (va, va + CONTEXT_SIZE - 1))


def _contextChunks(s: State, pd: int, va: int) -> list[tuple[int, int]]:
    """(PA, length) of the 1 or 2 pieces of the context at ``va`` (ctxOk must hold)."""
    chunks = []
    remaining, cursor = CONTEXT_SIZE, va
    while remaining:
        page = readPhyEntry(s, leafMMU(s, pd, cursor), leafIndex(s, cursor))
        offset = cursor & (PAGE_SIZE - 1)
        length = min(remaining, PAGE_SIZE - offset)
        chunks.append((page * PAGE_SIZE + offset, length))
        cursor += length
        remaining -= length
    return chunks


def readContext(s: State, pd: int, va: int) -> list[int]:
    raw = b"".join(s.mem.read_bytes(pa, n) for pa, n in _contextChunks(s, pd, va))
    return list(_CTX.unpack(raw))


def writeContext(s: State, pd: int, va: int, ctx: list[int]) -> None:
    raw = _CTX.pack(*ctx)
    done = 0
    for pa, n in _contextChunks(s, pd, va):
        s.mem.write_bytes(pa, raw[done:done + n])
        done += n


# ---------------------------------------------------------------- yield


def getTarget(s: State, caller: int, callee: int, vector: int) -> int:
    """yield step 3: null -> the parent (root caller refused); else a child of the caller.
    Then step 3b (hardened): no kernel event vector in the parent."""
    if callee == 0:
        if isRoot(caller):
            raise _YieldFailure(E.ROOT_CALLER)
        target = getParent(s, caller)
    else:
        target = getChildTarget(s, caller, callee)
    if reservedVector(s, caller, target, vector):
        raise _YieldFailure(E.RESERVED_VECTOR)
    return target


def getChildTarget(s: State, caller: int, callee: int) -> int:
    mmu = leafMMU(s, caller, callee)
    if (mmu is None or not readPresent(s, mmu, leafIndex(s, callee))
            or not checkChild(s, caller, callee)):
        raise _YieldFailure(E.INVALID_CHILD)
    return readPhyEntry(s, mmu, leafIndex(s, callee))


def switchTo(s: State, caller: int, target: int, targetInt: int, saveIdx: int,
             flagsOnYield: int, flagsOnWake: int, interrupted: bool = False) -> None:
    """yield steps 4-7 (getSourceVidtCont / saveSourcePartCtxCont / switchContextCont).

    Under ``hardened`` a save area that is not writable refuses a yield (CALLER_CONTEXT_SAVE);
    for the save of an ``interrupted`` partition (dispatch) the save is skipped instead.
    """
    callerVidt = vidtPage(s, caller)
    if callerVidt is None:
        raise _YieldFailure(E.UNAVAILABLE_CALLER_VIDT)
    targetVidt = vidtPage(s, target)
    if targetVidt is None:
        raise _YieldFailure(E.UNAVAILABLE_TARGET_VIDT)
    ctx = readVidtSlot(s, targetVidt, targetInt)
    if not ctxOk(s, target, ctx):
        raise _YieldFailure(E.UNAVAILABLE_TARGET_CTX)
    save = readVidtSlot(s, callerVidt, saveIdx)
    if save != 0:
        if not ctxOk(s, caller, save):
            raise _YieldFailure(E.CALLER_CONTEXT_SAVE)
        if s.hardened and not ctxWritable(s, caller, save):
            if not interrupted:
                raise _YieldFailure(E.CALLER_CONTEXT_SAVE)
            save = 0
    if save != 0:
        saved = list(s.cpu)
        saved[CTX_PIPFLAGS] = flagsOnWake
        saved[CTX_VALID] = 1
        writeContext(s, caller, save, saved)
    setIntState(s, caller, flagsOnYield)
    s.current = target
    s.cpu = readContext(s, target, ctx)
    setIntState(s, target, s.cpu[CTX_PIPFLAGS])


def _checkIndices(s: State, targetInt: int, saveIdx: int) -> None:
    if targetInt >= s.ts - 1:
        raise _YieldFailure(E.INVALID_INT_LEVEL)
    if saveIdx >= s.ts - 1:
        raise _YieldFailure(E.INVALID_CTX_SAVE_INDEX)


def yield_(s: State, caller: int, calleePartDescVA: int, targetInterrupt: int,
           callerCtxSaveIndex: int, flagsOnYield: int, flagsOnWake: int) -> int:
    try:
        _checkIndices(s, targetInterrupt, callerCtxSaveIndex)
        target = getTarget(s, caller, vaddr(s, calleePartDescVA), targetInterrupt)
        switchTo(s, caller, target, targetInterrupt, callerCtxSaveIndex, flagsOnYield,
                 flagsOnWake)
    except _YieldFailure as failure:
        return fail(s, failure.reason, YIELD_CODES[failure.reason])
    return succeed(s, 0)


# ---------------------------------------------------------------- v0.2 dispatch / resume


def saveIndexFor(s: State, state: int) -> int:
    cli, sti = cli_sti_save_indices(s.ts)
    return cli if state == 0 else sti


def dispatch(s: State, caller: int, descriptor: int, vint: int, notify: int, data1: int,
             data2: int) -> int:
    """yield with the save slot chosen by the caller's state (which stays unchanged); the target
    handler starts in state 0 with r0 = data1, r1 = data2, r2 = the caller's identity (hardened:
    r0 = vint, r1 = identity, r2 = data1, r3 = data2, as the kernel's deliveries).
    ``notify`` is accepted for the v0.2 signature and otherwise unused.

    Under ``hardened`` a save slot that is "ctx ok" but not writable is skipped, not refused
    (kernel.md §9 (a); yield step 6 refuses instead).
    """
    desc = vaddr(s, descriptor)
    state = getIntState(s, caller)
    try:
        _checkIndices(s, vint, saveIndexFor(s, state))
        target = getTarget(s, caller, desc, vint)
        switchTo(s, caller, target, vint, saveIndexFor(s, state), state, state,
                 interrupted=True)
    except _YieldFailure as failure:
        return fail(s, failure.reason, YIELD_CODES[failure.reason])
    identity = 0 if desc != 0 else readPDslot(s, caller, 0)
    registers = (vint, identity, data1, data2) if s.hardened else (data1, data2, identity)
    s.cpu[CTX_REGS:CTX_REGS + len(registers)] = registers
    setIntState(s, target, 0)
    return succeed(s, 0)


def resume(s: State, caller: int, descriptor: int, pipflags: int) -> int:
    try:
        if descriptor == RESUME_SELF:
            target = caller
        elif vaddr(s, descriptor) == 0:
            target = caller if isRoot(caller) else getParent(s, caller)
        else:
            target = getChildTarget(s, caller, vaddr(s, descriptor))
        vidt = vidtPage(s, target)
        if vidt is None:
            raise _YieldFailure(E.UNAVAILABLE_TARGET_VIDT)
        ctx = readVidtSlot(s, vidt, saveIndexFor(s, getIntState(s, target)))
        if not ctxOk(s, target, ctx):
            raise _YieldFailure(E.UNAVAILABLE_TARGET_CTX)
    except _YieldFailure as failure:
        return fail(s, failure.reason, YIELD_CODES[failure.reason])
    s.current = target
    s.cpu = readContext(s, target, ctx)
    setIntState(s, target, pipflags)
    return succeed(s, 0)


# ---------------------------------------------------------------- interrupt state


def get_int_state(s: State, caller: int, descChild: int) -> int:
    desc = vaddr(s, descChild)
    mmu = leafMMU(s, caller, desc)
    if (mmu is None or not readPresent(s, mmu, leafIndex(s, desc))
            or not checkChild(s, caller, desc)):
        return fail(s, E.NOT_CHILD, GET_INT_STATE_ERROR)
    return succeed(s, getIntState(s, readPhyEntry(s, mmu, leafIndex(s, desc))))


def set_int_state(s: State, caller: int, value: int) -> None:
    setIntState(s, caller, value)
    succeed(s, None)
