"""How far a CPU fault travels up a chain of partitions (Pip's interrupt model)."""
from __future__ import annotations

import statistics
import struct
import time

import pipsim.kernel
from pipsim.kernel.abi import (CONTEXT_SIZE, CONTEXT_WORDS, CTX_PC, CTX_PIPFLAGS, CTX_REGS, CTX_VALID,
                           PAGE_SIZE, VECTORS, VIDT_CONTEXT_OFFSET, cli_sti_save_indices)

from ..measures import Measure, count, flag
from ..params import Param
from ..registry import Figure, experiment
from ..trees import build, chain
from .common import LEVELS

PF, DF = VECTORS["PAGE_FAULT"], VECTORS["DOUBLE_FAULT"]
HANDLER_OFFSET = VIDT_CONTEXT_OFFSET  # contexts live in the VIDT page's upper half (as libpip)
SAVE_OFFSET = HANDLER_OFFSET + CONTEXT_SIZE
RUN_SLOT, NO_SAVE = 60, 61          # VIDT slots: the context a yield starts in; 0 (no save)
POLICIES = ("all", "none", "root", "parent", "every")
INTERRUPTED_PC = 0x1234


def handler_depths(policy: str, depth: int, every: int) -> set[int]:
    """Depths of the ancestors (0 .. depth-1) that have a handler for faults."""
    ancestors = range(depth)
    return {"all": set(ancestors), "none": set(), "root": {0} & set(ancestors),
            "parent": {depth - 1} - {-1},
            "every": {d for d in ancestors if d % every == 0}}[policy]


def predicted(depth: int, handlers: set[int]) -> int:
    """Pip's model: the nearest ancestor with a handler receives it, -1 = kernel panic."""
    return max((d for d in handlers if d < depth), default=-1)


def context(pc: int) -> bytes:
    words = [0] * CONTEXT_WORDS
    words[CTX_PC] = pc
    return struct.pack(f"<{CONTEXT_WORDS}I", *words)


def _word(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _setup(k, node, handler: bool) -> None:
    """The save slots of every partition name its save area; a handler context (one for
    page faults and double faults, pc = 0x10000 + depth) where the policy puts one."""
    api, vidt = node.api, k.geometry.vidt_va
    for slot in cli_sti_save_indices(k.geometry.table_size):
        api.write(vidt + 4 * slot, _word(vidt + SAVE_OFFSET))
    api.write(vidt + 4 * RUN_SLOT, _word(vidt + SAVE_OFFSET))
    if handler:
        api.write(vidt + HANDLER_OFFSET, context(0x10000 + node.depth))
        for vector in (PF, DF):
            api.write(vidt + 4 * vector, _word(vidt + HANDLER_OFFSET))


def _unmapped_page(k, node, rng) -> int:
    mapped = k.mappings(node.partition)
    while True:
        va = rng.randrange(k.geometry.va_limit // PAGE_SIZE) * PAGE_SIZE
        if va not in mapped:
            return va


def _run_as(k, chain_: list, interrupted: list[int]) -> None:
    """Make the last node of the chain the running partition the way partitions do (each
    parent yields to its child: a call does not switch), in interrupt state 0, with the CPU
    state given."""
    for node in chain_[1:]:
        if node.parent.api.yield_(node.desc, RUN_SLOT, NO_SAVE, 0, 0):
            raise AssertionError(f"cannot yield to depth {node.depth}: {k.last_error}")
    chain_[-1].api.set_int_state(0)
    k.cpu_context = interrupted


def _pages(memory) -> list[bytes]:
    return [bytes(memory[i:i + PAGE_SIZE]) for i in range(0, len(memory), PAGE_SIZE)]


@experiment(
    "fault_propagation",
    params=[Param("depth", 3, "depth of the faulting partition in a chain (0 = the root)",
                  low=0, high=12),
            Param("handlers", "root", "which ancestors have a fault handler: all, none, root, "
                  "parent (the nearest only), every (depths multiple of handler_every)",
                  choices=POLICIES),
            Param("handler_every", 2, "handlers=every: ancestors at depths 0, k, 2k... ", low=1),
            Param("table_size", 1024, "entries per page table (> 50: VIDT slots 48/49 are "
                  "the save slots)", choices=(64, 128, 256, 512, 1024)),
            LEVELS,
            Param("calls", 200, "timed deliveries", low=1, unit="calls")],
    measures={
        "received_depth": Measure("depth of the partition whose handler received it (-1: kernel "
                                  "panic)", integer=True),
        "predicted_depth": Measure("Pip's model: the nearest ancestor with a handler (-1: "
                                   "panic)", integer=True),
        "panic": flag("1 if no ancestor could take it: kernel panic"),
        "hops": count("ancestors without a handler it passed, each turning it into a double fault "
                      "(vector 8) for its own parent", "ancestors"),
        "vector": Measure("vector the receiving handler got in r0 (14 page fault, 8 double fault; "
                          "-1 on a panic)", integer=True),
        "delivery_ns": Measure("median host time of one pip_fault call", "ns"),
        "changed_pages": count("physical pages whose contents one delivery changed", "pages"),
        "changed_elsewhere": count("changed pages other than the faulting partition's save area "
                                   "and the receiver's descriptor: 0 if contained", "pages"),
        "handler_registers_ok": flag("1 if the handler got r0..r3 = (14, the child's "
                                     "descriptor, page, access) from its child, (8, 0, 0, 0) as "
                                     "a double fault; empty on a panic"),
        "saved_context_ok": flag("1 if the faulting partition's save area holds its interrupted "
                                 "CPU state (valid = 1)"),
        "invariant_violations": count("Pip properties violated after the deliveries", "properties"),
    },
    figures=[
        Figure("hops_vs_depth", x="depth", y=("hops", "received_depth", "panic"),
               title="How far a page fault travels, against the faulting partition's depth"),
        Figure("time_vs_depth", x="depth", y=("delivery_ns",),
               title="Host time of a fault delivery against depth"),
        Figure("containment", x="depth", y=("changed_pages", "changed_elsewhere"),
               title="Pages one delivery changes"),
    ],
)
def fault_propagation(p, rng):
    """How far a CPU fault travels up the tree, and what a delivery touches.

    How: a chain of partitions down to `depth` built through the system calls, each with a
    VIDT page; every partition's VIDT slots 48/49 name a save area in its VIDT page, and the
    ancestors the `handlers` policy picks get a handler context for page faults (14) and
    double faults (8).  The deepest partition is made the running one (yields down the chain) with
    a recognisable CPU state and the core's pip_fault(14, an unmapped page, a random access)
    is called: Pip delivers it to the parent, a parent without a handler turns it into a
    double fault for its own parent, and a fault that reaches past the root (or a root
    fault) is a kernel panic.  Physical memory is compared page by page around the first
    delivery; then `calls` deliveries are timed alone, and the invariants checked.

    Limits: the core's delivery path only, driven from Python (no firmware runs: the
    handler is not executed, the machine's fault entry and Unicorn are not timed; host
    time includes the cffi crossing).  One handler context serves both vectors; a parent
    with a page-fault handler but no double-fault handler is not modelled.
    """
    depth = p["depth"]
    tree = build(pipsim.kernel.Kernel, chain(depth, 1), p["table_size"], p["levels"], vidt=True)
    k, vidt = tree.kernel, tree.kernel.geometry.vidt_va
    nodes = [tree.leftmost(d) for d in range(depth + 1)]
    handlers = handler_depths(p["handlers"], depth, p["handler_every"])
    for node in nodes:
        _setup(k, node, node.depth in handlers)
    leaf = nodes[-1]
    address, access = _unmapped_page(k, leaf, rng), rng.choice((1, 2, 3))
    interrupted = [INTERRUPTED_PC] + [rng.getrandbits(32) for _ in range(CONTEXT_WORDS - 1)]

    memory = k.physical_memory()
    before = _pages(memory)
    _run_as(k, nodes, interrupted)
    received_by = k.deliver_fault(PF, address, access)
    to = received_by.pd if received_by else 0
    after = _pages(memory)
    by_pd = {n.partition.pd: n for n in nodes}
    receiver = by_pd[to] if to else None
    cpu = k.cpu_context
    if receiver and cpu[CTX_PC] != 0x10000 + receiver.depth:
        raise AssertionError(f"the CPU holds pc {cpu[CTX_PC]:#x}, not the handler's")

    save_pa = leaf.api.translate(vidt + SAVE_OFFSET, "r")
    allowed = {save_pa // PAGE_SIZE, (save_pa + CONTEXT_SIZE - 1) // PAGE_SIZE}
    if receiver:
        allowed.add(receiver.partition.pd)
    changed = {i for i, (a, b) in enumerate(zip(before, after)) if a != b}
    saved = struct.unpack(f"<{CONTEXT_WORDS}I", leaf.api.read(vidt + SAVE_OFFSET, CONTEXT_SIZE))
    expected = list(interrupted)
    expected[CTX_PIPFLAGS], expected[CTX_VALID] = 0, 1    # its state (0), valid := 1

    times = []
    for _ in range(p["calls"]):
        _run_as(k, nodes, interrupted)
        start = time.perf_counter_ns()
        k.deliver_fault(PF, address, access)
        times.append(time.perf_counter_ns() - start)

    received = receiver.depth if receiver else -1
    registers = {}
    if receiver:
        direct = receiver is leaf.parent
        want = (PF, leaf.desc, address, access) if direct else (DF, 0, 0, 0)
        registers["handler_registers_ok"] = int(tuple(cpu[CTX_REGS:CTX_REGS + 4]) == want)
    return {
        **registers,
        "received_depth": received,
        "predicted_depth": predicted(depth, handlers),
        "panic": int(receiver is None),
        "hops": (depth - 1 - received) if receiver else depth,
        "vector": cpu[CTX_REGS] if receiver else -1,
        "delivery_ns": statistics.median(times),
        "changed_pages": len(changed),
        "changed_elsewhere": len(changed - allowed),
        "saved_context_ok": int(list(saved) == expected),
        "invariant_violations": len(k.check_invariants()),
    }
