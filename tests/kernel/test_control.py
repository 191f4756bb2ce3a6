"""yield, the v0.2 dispatch / resume, and the interrupt state (pip-spec §2.4-2.6)."""
import struct

import pytest

from pipsim.kernel import PipError
from pipsim.kernel.abi import (CONTEXT_SIZE, CONTEXT_WORDS, CTX_PC, CTX_PIPFLAGS, CTX_REGS, CTX_VALID,
                           PAGE_SIZE, RESUME_SELF, cli_sti_save_indices)
from pipsim.kernel.wrappers import create_child, map_page

CHILD_VIDT_CTX = 0x4000          # where the child keeps its contexts


def context(pc, pipflags=0, regs=()):
    words = [0] * CONTEXT_WORDS
    words[CTX_PC], words[CTX_PIPFLAGS] = pc, pipflags
    for i, r in enumerate(regs):
        words[CTX_REGS + i] = r
    return words


def pack(words):
    return struct.pack(f"<{CONTEXT_WORDS}I", *words)


def unpack(data):
    return list(struct.unpack(f"<{CONTEXT_WORDS}I", data))


def set_slot(api, vidt, index, va):
    api.write(vidt + 4 * index, va.to_bytes(4, "little"))


@pytest.fixture
def family(k, api, alloc):
    """A child with a VIDT whose slot 0 holds a context at CHILD_VIDT_CTX, and a root save area."""
    g = k.geometry
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    map_page(api, alloc, desc, alloc.alloc(), g.vidt_va)
    map_page(api, alloc, desc, alloc.alloc(), CHILD_VIDT_CTX)
    capi = k.as_partition(child)
    capi.write(CHILD_VIDT_CTX, pack(context(0x1234, pipflags=1, regs=[7, 8])))
    set_slot(capi, g.vidt_va, 0, CHILD_VIDT_CTX)
    root_save = alloc.alloc()
    set_slot(api, g.vidt_va, 1, root_save)
    return desc, child, capi, root_save


def test_yield_to_a_child_and_back(k, api, family):
    g = k.geometry
    desc, child, capi, root_save = family
    k.cpu_context = context(0xAAAA, regs=[1, 2, 3])
    assert api.yield_(desc, 0, 1, 5, 6) == 0 and k.last_error is None
    assert k.current == child
    assert k.cpu_context == tuple(context(0x1234, pipflags=1, regs=[7, 8]))
    saved = unpack(api.read(root_save, CONTEXT_SIZE))
    assert saved[CTX_PC] == 0xAAAA and saved[CTX_PIPFLAGS] == 6 and saved[CTX_VALID] == 1
    assert saved[CTX_REGS:CTX_REGS + 3] == [1, 2, 3]
    assert api.get_int_state(desc) == 1                  # the target context's pipflags
    # back to the parent, resuming the saved context through VIDT slot 2
    set_slot(api, g.vidt_va, 2, root_save)
    assert capi.yield_(0, 2, 3, 0, 0) == 0
    assert k.current == k.root and k.cpu_context[CTX_PC] == 0xAAAA
    assert k.check_invariants() == []


def test_yield_refusals_in_order(k, api, alloc, family):
    g = k.geometry
    desc, child, capi, root_save = family
    ts = g.table_size
    assert api.yield_(desc, ts - 1, 1, 0, 0) == 1 and k.last_error == PipError.INVALID_INT_LEVEL
    assert api.yield_(desc, 0, ts - 1, 0, 0) == 2 and k.last_error == PipError.INVALID_CTX_SAVE_INDEX
    assert api.yield_(0, 0, 1, 0, 0) == 3 and k.last_error == PipError.ROOT_CALLER
    assert api.yield_(root_save, 0, 1, 0, 0) == 4 and k.last_error == PipError.INVALID_CHILD
    d2 = create_child(api, alloc)
    assert api.yield_(d2, 0, 1, 0, 0) == 5 and k.last_error == PipError.UNAVAILABLE_TARGET_VIDT
    assert api.yield_(desc, 3, 1, 0, 0) == 8 and k.last_error == PipError.UNAVAILABLE_TARGET_CTX
    set_slot(api, g.vidt_va, 4, 0x5000)                  # not mapped in the root
    assert api.yield_(desc, 0, 4, 0, 0) == 9 and k.last_error == PipError.CALLER_CONTEXT_SAVE
    assert k.current == k.root                           # nothing switched
    child2 = k.children(k.root)[1]
    assert k.as_partition(child2).yield_(0, 0, 0, 0, 0) == 6
    assert k.last_error == PipError.UNAVAILABLE_CALLER_VIDT
    assert k.check_invariants() == []


def test_a_null_save_slot_drops_the_callers_context(k, api, family):
    desc, child, capi, root_save = family
    assert api.yield_(desc, 0, 5, 0, 0) == 0 and k.current == child


def test_contexts_may_straddle_pages_but_not_wrap(k, api, alloc, family):
    g = k.geometry
    desc, child, capi, root_save = family
    map_page(api, alloc, desc, alloc.alloc(), CHILD_VIDT_CTX + PAGE_SIZE)
    straddle = CHILD_VIDT_CTX + PAGE_SIZE - 8
    capi.write(straddle, pack(context(0x7777)))
    set_slot(capi, g.vidt_va, 6, straddle)
    assert api.yield_(desc, 6, 1, 0, 0) == 0 and k.cpu_context[CTX_PC] == 0x7777
    set_slot(capi, g.vidt_va, 7, g.va_limit - 8)
    assert api.yield_(desc, 7, 1, 0, 0) == 8 and k.last_error == PipError.UNAVAILABLE_TARGET_CTX


def test_dispatch_and_resume(k, api, family):
    g = k.geometry
    desc, child, capi, root_save = family
    cli, sti = cli_sti_save_indices(g.table_size)
    set_slot(api, g.vidt_va, cli, root_save)              # root state 0 -> CLI slot
    k.cpu_context = context(0xBBBB)
    assert api.dispatch(desc, 0, 0, 11, 22) == 0 and k.current == child
    ctx = k.cpu_context
    assert ctx[CTX_PC] == 0x1234 and ctx[CTX_REGS:CTX_REGS + 3] == (11, 22, 0)
    assert api.get_int_state(desc) == 0                   # handlers start with VCLI
    # the child resumes its parent: the context saved in the parent's CLI slot
    assert capi.resume(0, 1) == 0 and k.current == k.root
    assert k.cpu_context[CTX_PC] == 0xBBBB
    assert unpack(api.read(root_save, CONTEXT_SIZE))[CTX_VALID] == 1
    set_slot(api, g.vidt_va, sti, root_save)              # root state is now 1 -> STI slot
    assert api.resume(RESUME_SELF, 0) == 0 and k.current == k.root
    assert api.resume(0x5000, 0) == 4 and k.last_error == PipError.INVALID_CHILD


def test_dispatch_to_the_parent_names_the_caller(k, api, family):
    g = k.geometry
    desc, child, capi, root_save = family
    set_slot(api, g.vidt_va, 9, root_save)
    api.write(root_save, pack(context(0xCCCC)))
    capi.set_int_state(1)
    _, sti = cli_sti_save_indices(g.table_size)
    set_slot(capi, g.vidt_va, sti, CHILD_VIDT_CTX)
    assert capi.dispatch(0, 9, 1, 5, 6) == 0 and k.current == k.root
    assert k.cpu_context[CTX_REGS:CTX_REGS + 3] == (5, 6, desc)
    assert api.dispatch(0, 9, 0, 0, 0) == 3 and k.last_error == PipError.ROOT_CALLER


def test_interrupt_state(k, api, family):
    desc, child, capi, _ = family
    capi.set_int_state(0x55)
    assert api.get_int_state(desc) == 0x55 and k.last_error is None
    assert api.get_int_state(0x5000) == 0xFFFFFFFF and k.last_error == PipError.NOT_CHILD
    api.set_int_state(1)
    assert k.check_invariants() == []
