"""Scenario helpers for the model tests (built only on the public API)."""
from __future__ import annotations

import struct

from pipsim.kernel.abi import PAGE_SIZE

PAGE = PAGE_SIZE


class Pool:
    """Hands out VAs of pages a partition owns (present, accessible, not derived)."""

    def __init__(self, k, p):
        self.k, self.p = k, p
        api = k.as_partition(p)
        maps = k.mappings(p)
        vidt = k.geometry.vidt_va
        self.vas = [va for va, m in sorted(maps.items())
                    if m.accessible and va != vidt and api.mapped_in_child(va) == 0]

    def take(self, n=1):
        out, self.vas = self.vas[:n], self.vas[n:]
        assert len(out) == n, "pool exhausted"
        return out if n > 1 else out[0]


def chain(k, p, vas):
    """Write the free-page chain: word 0 of each page -> the next VA, 0 at the end (the last VA
    is left alone when it repeats an earlier one or cannot be written)."""
    from pipsim.kernel.types import MemoryFault
    api = k.as_partition(p)
    for va, nxt in zip(vas, vas[1:]):
        api.write(va, struct.pack("<I", nxt))
    if vas[-1] not in vas[:-1]:
        try:
            api.write(vas[-1], struct.pack("<I", 0))
        except MemoryFault:
            pass


def make_child(k, p, pool=None):
    """Create a child of p; returns (desc VA, child Partition)."""
    pool = pool or Pool(k, p)
    desc, pd, sh1, sh2, ll = pool.take(5)
    api = k.as_partition(p)
    for va in (desc, pd, sh1, sh2, ll):
        api.write(va, bytes(PAGE))               # the convenience layer clears the page first
    assert api.create_partition(desc, pd, sh1, sh2, ll), k.last_error
    child = [c for c in k.children(p) if k.mappings(p)[desc].pa == c.pd * PAGE][0]
    return desc, child


def prepare_va(k, p, desc, va, pool, extra=False):
    """Prepare the child's tables for va with pages from pool; returns the Prepared result."""
    api = k.as_partition(p)
    n = api.count_to_map(desc, va)
    if n == 0:
        return None
    vas = pool.take(n) if n > 1 else [pool.take(1)]
    chain(k, p, vas)
    return api.prepare(desc, va, vas[0])


def map_in_child(k, p, desc, src, dst, pool, w=True, e=True):
    prepare_va(k, p, desc, dst, pool)
    assert k.as_partition(p).add_vaddr(src, desc, dst, True, w, e), k.last_error


MMU, SH1, SH2 = 3, 5, 7          # PD slots holding the PA of each tree's root


def pd_slot_pa(p, slot):
    return p.pd * PAGE + 4 * slot


def table_pa(k, p, va, tree=MMU, depth=None):
    """PA of the table reached by walking ``depth`` levels (default: the leaf table)."""
    g = k.geometry
    depth = g.levels - 1 if depth is None else depth
    table = k.debug_read_word(pd_slot_pa(p, tree)) >> 12
    for level in range(g.levels - 1, g.levels - 1 - depth, -1):
        entry = k.debug_read_word(table * PAGE + 4 * g.index(va, level))
        assert entry, "missing table"
        table = entry >> 12
    return table * PAGE


def entry_pa(k, p, va, tree=MMU):
    """PA of the leaf entry of ``va`` in one of p's trees."""
    return table_pa(k, p, va, tree) + 4 * k.geometry.index(va, 0)


def upper_entry_pa(k, p, va, tree, depth):
    """PA of the entry of the table at ``depth`` that points one level further down for va."""
    g = k.geometry
    return table_pa(k, p, va, tree, depth) + 4 * g.index(va, g.levels - 1 - depth)


def word(k, pa):
    return k.debug_read_word(pa)


def ctx_bytes(words):
    return struct.pack("<20I", *words)


def state_of(k):
    """Everything a call may change: memory, current partition, CPU context."""
    return bytes(k._s.mem.data), k.current, k.cpu_context


class Family:
    """root -> child C (descriptor VA ``desc``), and the pages the root lends C: 16 read-write
    pages (``rw``) filling C's first leaf table, then a read-only page ``ro``, a read-execute
    (code) page ``rx`` and a read-write page ``dev`` whose root page is marked as a device."""

    def __init__(self, policy, levels=2):
        from pipsim.kernel.model import Kernel
        k = self.k = Kernel(pages=256, table_size=16, levels=levels, policy=policy)
        pool = self.pool = Pool(k, k.root)
        self.desc, self.child = make_child(k, k.root, pool)
        base = k.geometry.root_va_start
        self.rw = [base + i * PAGE for i in range(16)]
        self.ro, self.rx, self.dev = (base + i * PAGE for i in (16, 17, 18))
        self.src = {}                              # C's VA -> the root's VA of the same page
        for va, w, e in [(va, True, True) for va in self.rw] + [
                (self.ro, False, False), (self.rx, False, True), (self.dev, True, False)]:
            self.src[va] = pool.take()
            map_in_child(k, k.root, self.desc, self.src[va], va, pool, w=w, e=e)
        k.mark_device(self.page(k.root, self.src[self.dev]))
        self.root = k.as_partition(k.root)
        self.capi = k.as_partition(self.child)
        self.cpool = Pool(k, self.child)
        self.cpool.vas = [va for va in self.cpool.vas if va in self.rw]
        assert k.check_invariants() == [] and k.check_extra_properties() == []

    def page(self, p, va):
        return self.k.mappings(p)[va].pa // PAGE

    def grandchild(self):
        """C creates G from its read-write pages; returns (G's descriptor VA in C, G)."""
        return make_child(self.k, self.child, self.cpool)
