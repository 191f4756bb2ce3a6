"""Pip's interrupt model in the core (pip-spec §5; docs/abi.md "Delivery"): faults go to
the parent, double faults upward, a root fault is a panic; software interrupts go to
the parent; hardware interrupts go to the root."""
import struct

import pytest

from pipsim.kernel import Kernel
from pipsim.kernel._pipcore import lib
from pipsim.kernel.abi import (CONTEXT_SIZE, CONTEXT_WORDS, CTX_PC, CTX_PIPFLAGS, CTX_REGS, CTX_VALID,
                           PAGE_SIZE, VECTORS)
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page

PF, DF, TIMER = VECTORS["PAGE_FAULT"], VECTORS["DOUBLE_FAULT"], VECTORS["TIMER"]
CTX_PAGE = 0x4000            # where every partition keeps its contexts (child VAs)


def context(pc, pipflags=0):
    words = [0] * CONTEXT_WORDS
    words[CTX_PC], words[CTX_PIPFLAGS] = pc, pipflags
    return struct.pack(f"<{CONTEXT_WORDS}I", *words)


def words_at(api, va):
    return struct.unpack(f"<{CONTEXT_WORDS}I", api.read(va, CONTEXT_SIZE))


class Tree:
    """root -> child -> grandchild, each with a VIDT; ts=1024 as on the machine."""

    def __init__(self):
        self.k = k = Kernel(pages=512, table_size=1024, levels=2)
        self.vidt = k.geometry.vidt_va
        self.root = k.as_partition(k.root)
        alloc = PageAllocator.for_root(k)
        self.root_ctx = alloc.alloc()
        self.cdesc = create_child(self.root, alloc)
        calloc = PageAllocator(range(0x100000, 0x100000 + 40 * PAGE_SIZE, PAGE_SIZE))
        for va in [self.vidt, CTX_PAGE] + list(calloc._free):
            map_page(self.root, alloc, self.cdesc, alloc.alloc(), va)
        self.child = k.as_partition(k.children(k.root)[0])
        self.gdesc = create_child(self.child, calloc)
        for va in (self.vidt, CTX_PAGE):
            map_page(self.child, calloc, self.gdesc, calloc.alloc(), va)
        self.grandchild = k.as_partition(k.children(self.child.partition)[0])

    def handler(self, api, vector, ctx_va, pc):
        api.write(ctx_va, context(pc))
        api.write(self.vidt + 4 * vector, ctx_va.to_bytes(4, "little"))

    def save_slot(self, api, ctx_va, state=0):
        api.write(self.vidt + 4 * (48 if state == 0 else 49), ctx_va.to_bytes(4, "little"))


@pytest.fixture
def tree():
    return Tree()


RUN_SLOT, NO_SAVE = 100, 101      # VIDT slots: a context to start in; 0 (no save)


def run_as(tree, api, pc=0x1234):
    """Make api's partition the running one the way partitions do (yields from the root down:
    a call does not switch), with a recognisable CPU state."""
    k, desc = tree.k, {tree.child.partition: tree.cdesc, tree.grandchild.partition: tree.gdesc}
    path = [api.partition]
    while path[-1] != k.root:
        path.append(k.parent(path[-1]))
    for parent, part in zip(path[:0:-1], path[-2::-1]):
        k.as_partition(part).write(tree.vidt + 4 * RUN_SLOT,
                                   (CTX_PAGE + 0xC00).to_bytes(4, "little"))
        assert k.as_partition(parent).yield_(desc[part], RUN_SLOT, NO_SAVE, 0, 0) == 0
    assert k.current == api.partition
    api.set_int_state(0)
    k.cpu_context = [pc] + [0] * (CONTEXT_WORDS - 1)


def test_a_fault_goes_to_the_parent_with_its_details(tree):
    tree.handler(tree.root, PF, tree.root_ctx, 0xAAA0)
    tree.save_slot(tree.child, CTX_PAGE + 0x800)
    run_as(tree, tree.child)
    assert lib.pip_fault(tree.k.handle, PF, 0xDEAD000, 2) == tree.k.root.pd
    cpu = tree.k.cpu_context
    assert tree.k.current == tree.k.root and cpu[CTX_PC] == 0xAAA0
    assert cpu[CTX_REGS:CTX_REGS + 4] == (PF, tree.cdesc, 0xDEAD000, 2)
    saved = words_at(tree.child, CTX_PAGE + 0x800)           # the interrupted context
    assert saved[CTX_PC] == 0x1234 and saved[CTX_VALID] == 1
    assert tree.k.check_invariants() == []


def test_a_parent_without_a_handler_makes_it_a_double_fault_above(tree):
    tree.handler(tree.root, DF, tree.root_ctx, 0xBBB0)
    run_as(tree, tree.grandchild)
    assert lib.pip_fault(tree.k.handle, PF, 0x5000, 1) == tree.k.root.pd
    assert tree.k.cpu_context[CTX_REGS:CTX_REGS + 4] == (DF, 0, 0, 0)


def test_a_root_fault_is_a_panic(tree):
    tree.handler(tree.root, PF, tree.root_ctx, 0xAAA0)
    run_as(tree, tree.root)
    assert lib.pip_fault(tree.k.handle, PF, 0x5000, 1) == 0


def test_no_handler_up_to_the_root_is_a_panic(tree):
    run_as(tree, tree.grandchild)
    assert lib.pip_fault(tree.k.handle, PF, 0x5000, 1) == 0


def test_software_interrupts_reach_the_parent_only(tree):
    tree.handler(tree.child, 60, CTX_PAGE, 0xC000)
    tree.handler(tree.root, 60, tree.root_ctx, 0xAAA0)
    run_as(tree, tree.grandchild, pc=0x7777)
    assert lib.pip_software_interrupt(tree.k.handle, 60) == tree.child.partition.pd
    assert tree.k.cpu_context[CTX_PC] == 0xC000
    assert tree.k.cpu_context[CTX_REGS + 1] == tree.gdesc
    run_as(tree, tree.grandchild, pc=0x7777)
    assert lib.pip_software_interrupt(tree.k.handle, 61) == 0     # no handler: the caller goes on
    assert tree.k.cpu_context[CTX_PC] == 0x7777
    assert tree.k.current == tree.grandchild.partition


def test_hardware_interrupts_go_to_the_root(tree):
    tree.handler(tree.root, TIMER, tree.root_ctx, 0xD000)
    tree.handler(tree.child, TIMER, CTX_PAGE, 0xC000)
    run_as(tree, tree.grandchild)
    assert lib.pip_hardware_interrupt(tree.k.handle, TIMER) == tree.k.root.pd
    assert tree.k.cpu_context[CTX_PC] == 0xD000
    assert tree.k.cpu_context[CTX_REGS + 1] == 0            # not the root's child


def test_the_python_api_delivers_faults_like_the_core(tree):
    tree.handler(tree.root, PF, tree.root_ctx, 0xAAA0)
    run_as(tree, tree.child)
    assert tree.k.deliver_fault(PF, 0x5000, 1) == tree.k.root
    run_as(tree, tree.root)
    assert tree.k.deliver_fault(PF, 0x5000, 1) is None                 # a root fault: panic
