"""Builders and the attack harness of the policy tests (docs/kernel.md §9-§10)."""
import struct

from pipsim.kernel.abi import CONTEXT_SIZE, CONTEXT_WORDS, CTX_PC, CTX_REGS, PAGE_SIZE
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page

POOL = 0x20000               # child VAs of the pages the child builds with (top index 2)


def word(value):
    return value.to_bytes(4, "little")


def context(pc, regs=()):
    words = [0] * CONTEXT_WORDS
    words[CTX_PC] = pc
    words[CTX_REGS:CTX_REGS + len(regs)] = regs
    return struct.pack(f"<{CONTEXT_WORDS}I", *words)


def unpack(data):
    return tuple(struct.unpack(f"<{CONTEXT_WORDS}I", data[:CONTEXT_SIZE]))


def snapshot(k):
    """What a refused call must leave as it was: every partition's mappings (accessible
    bits included) and configuration pages, the running partition, the CPU context, the
    device pages."""
    return ([(p, k.mappings(p), k.config_pages(p)) for p in k.partitions()], k.current,
            k.cpu_context, k.device_pages())


def run_attack(k, attack, *, refused, reason, flags, hardened_flags=()):
    """Run attack() (a call returning Pip's result) under k's policy.

    "pip": it succeeds (a result other than `refused`) and check_extra_properties()
    reports `flags`.  "hardened": it returns `refused` with `reason`, the observable state
    is unchanged and check_extra_properties() reports `hardened_flags`.  Pip's own
    properties hold under both."""
    before = snapshot(k)
    result = attack()
    assert k.check_invariants() == []
    if k.policy == "pip":
        assert result != refused and k.last_error is None, (result, k.last_error)
        assert k.check_extra_properties() == list(flags)
    else:
        assert (result, k.last_error) == (refused, reason)
        assert snapshot(k) == before
        assert k.check_extra_properties() == list(hardened_flags)
    return result


class Family:
    """root -> child, whose POOL pages (lent read-write by the root) build grandchildren."""

    def __init__(self, k, pool=12):
        self.k, self.g = k, k.geometry
        self.api = k.as_partition(k.root)
        self.alloc = PageAllocator.for_root(k)
        self.desc = create_child(self.api, self.alloc)
        self.child = k.children(k.root)[0]
        self.capi = k.as_partition(self.child)
        vas = [POOL + i * PAGE_SIZE for i in range(pool)]
        for va in vas:
            map_page(self.api, self.alloc, self.desc, self.alloc.alloc(), va)
        self.calloc = PageAllocator(vas)

    def lend(self, dst, w=True, e=False, first_word=0):
        """A fresh root page at dst in the child with rights (r, w, e); the root writes
        `first_word` into it first (the child may not be able to).  Returns its root VA."""
        src = self.alloc.alloc()
        self.api.write(src, word(first_word))
        map_page(self.api, self.alloc, self.desc, src, dst, True, w, e)
        return src

    def pa(self, root_va):
        return self.k.mappings(self.k.root)[root_va].pa

    def mark_device(self, root_va):
        self.k.mark_device(self.pa(root_va) // PAGE_SIZE)

    def grandchild(self):
        """A grandchild built from the child's pool; returns its descriptor VA in the child."""
        return create_child(self.capi, self.calloc)
