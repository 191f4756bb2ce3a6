"""Each invariant checker catches a deliberate corruption (through the test-only
raw-memory hook), on the C core and on the model."""
import pytest

from kernel_helpers import child_with_page, run_child
from pipsim.kernel import INVARIANTS
from pipsim.kernel.abi import PAGE_SIZE, PD_LL, PD_MMU, PD_PARENT, PD_SELF, PD_SH1, PD_SH2

SRC_DST = 0x3000


class State:
    """root -> c1 (page at 0x3000, VIDT) and c2 (page at 0x3000), ts=16 / L=2."""

    def __init__(self, k):
        from pipsim.kernel.wrappers import PageAllocator
        self.k = k
        api = self.api = k.as_partition(k.root)
        alloc = self.alloc = PageAllocator.for_root(k)
        self.d1, self.src1 = child_with_page(k, api, alloc, dst=SRC_DST)
        self.d2, self.src2 = child_with_page(k, api, alloc, dst=SRC_DST)
        self.c1, self.c2 = k.children(k.root)
        self.unused_root_va = k.geometry.vidt_va - PAGE_SIZE       # in a root table, absent
        assert k.check_invariants() == []

    def word(self, pa):
        return self.k.debug_read_word(pa)

    def poke(self, pa, value):
        self.k.debug_write_word(pa, value)

    def slot_pa(self, part, slot):
        return part.pd * PAGE_SIZE + 4 * slot

    def root_table(self, part, slot):
        return self.word(self.slot_pa(part, slot + 1)) & ~0xFFF

    def entry_pa(self, part, slot, va, depth=None):
        """PA of the entry for va in the table at `depth` (default: the leaf) of a tree."""
        g = self.k.geometry
        depth = g.levels - 1 if depth is None else depth
        table = self.root_table(part, slot)
        for d in range(depth):
            table = self.word(table + 4 * g.index(va, g.levels - 1 - d)) & ~0xFFF
        return table + 4 * g.index(va, g.levels - 1 - depth)


def corrupt(s: State, prop: str):
    mmu, sh1, sh2 = PD_MMU, PD_SH1, PD_SH2
    root, c1, c2 = s.k.root, s.c1, s.c2
    e = s.entry_pa
    if prop == "verticalSharing":
        s.poke(e(c1, mmu, SRC_DST), 2 << 12 | 0x1F)              # a root kernel page
    elif prop == "partitionsIsolation":
        s.poke(e(c2, mmu, SRC_DST), s.word(e(c1, mmu, SRC_DST)))
    elif prop == "kernelDataIsolation":
        s.poke(e(root, mmu, s.d1), s.word(e(root, mmu, s.d1)) | 2)
    elif prop == "partitionDescriptorEntry":
        s.poke(s.slot_pa(c1, PD_SELF), s.d1 | 0x123)
    elif prop == "dataStructurePdSh1Sh2asRoot(MMU)":
        s.poke(e(c1, mmu, SRC_DST), s.word(e(c1, mmu, SRC_DST)) | 0x20)
    elif prop == "dataStructurePdSh1Sh2asRoot(sh1)":
        s.poke(e(root, sh1, s.src1), s.word(e(root, sh1, s.src1)) | 0x2)
    elif prop == "dataStructurePdSh1Sh2asRoot(sh2)":
        s.poke(e(c1, sh2, SRC_DST), s.word(e(c1, sh2, SRC_DST)) | 0x1)
    elif prop == "currentPartitionInPartitionsList":
        run_child(s.k, s.api, s.alloc, s.d1)                     # c1 is now running
        s.poke(e(root, sh1, s.d1), 0)                            # and unreachable
    elif prop == "noDupMappedPagesList":
        s.poke(e(root, mmu, s.unused_root_va), s.word(e(root, mmu, s.src2)))
    elif prop == "noDupConfigPagesList":
        s.poke(e(c1, sh2, SRC_DST, depth=0), s.word(e(c1, sh1, SRC_DST, depth=0)))
    elif prop == "parentInPartitionList":
        s.poke(s.slot_pa(c1, PD_PARENT + 1), 3 << 12)
    elif prop == "accessibleVAIsNotPartitionDescriptor":
        s.poke(e(root, mmu, s.d1), s.word(e(root, mmu, s.d1)) | 2)
    elif prop == "accessibleChildPageIsAccessibleIntoParent":
        s.poke(e(root, mmu, s.src1), s.word(e(root, mmu, s.src1)) & ~2)
    elif prop == "noCycleInPartitionTree":
        s.poke(s.slot_pa(root, PD_PARENT + 1), c1.pd << 12)
    elif prop == "configTablesAreDifferent":
        s.poke(s.slot_pa(c1, PD_LL + 1), s.word(s.slot_pa(root, PD_LL + 1)))
    elif prop in ("isChild", "isParent"):
        s.poke(s.slot_pa(c2, PD_PARENT + 1), c1.pd << 12)
    elif prop == "isPresentNotDefaultIff":
        s.poke(e(c1, mmu, SRC_DST), s.word(e(c1, mmu, SRC_DST)) & ~1)
    elif prop == "physicalPageNotDerived":
        s.poke(e(root, sh1, s.src1), 0)
    elif prop == "multiplexerWithoutParent":
        s.poke(s.slot_pa(root, PD_PARENT + 1), c1.pd << 12)
    elif prop == "noDupPartitionTree":
        s.poke(e(root, mmu, s.unused_root_va), s.word(e(root, mmu, s.d1)))
        s.poke(e(root, sh1, s.unused_root_va), 1)
    elif prop in ("wellFormedFstShadow", "wellFormedShadows(sh1)"):
        s.poke(e(c1, sh1, SRC_DST, depth=0), 0)
    elif prop == "wellFormedSndShadow":
        s.poke(e(c1, sh2, SRC_DST), 0)
    elif prop == "wellFormedShadows(sh2)":
        s.poke(e(c1, sh2, SRC_DST, depth=0), 0)
    elif prop == "wellFormedFstShadowIfNone":
        s.poke(e(c1, sh1, 5 * s.k.geometry.slot_size, depth=0),
               s.word(e(c1, sh1, SRC_DST, depth=0)))
    elif prop == "wellFormedFstShadowIfDefaultValues":
        s.poke(e(c1, sh1, 0x4000), 0x8000)
    else:
        return False
    return True


MEMORY_CORRUPTIBLE = [p for p in INVARIANTS if p != "currentPartitionIsNotDefaultPage"]


@pytest.mark.parametrize("prop", MEMORY_CORRUPTIBLE)
def test_checker_catches_corruption(k, prop):
    s = State(k)
    assert corrupt(s, prop)
    result = k.check_invariants()
    assert prop in result
    assert set(result) <= set(INVARIANTS), result         # no checker crashed (model)


def test_current_partition_is_not_the_null_page():
    """The running partition is kept by the core, not in memory: poke it directly."""
    from pipsim.kernel import Kernel
    k = Kernel(pages=160, table_size=16, levels=2)
    k.handle.current = 0
    assert "currentPartitionIsNotDefaultPage" in k.check_invariants()


def test_checkers_survive_wild_corruption(k):
    """Random words everywhere: the checkers report the corruption (the seed's words break
    kernel structures), never crash or loop."""
    import random
    s = State(k)
    rnd = random.Random(7)
    for _ in range(300):
        s.poke(rnd.randrange(PAGE_SIZE, k.geometry.pages * PAGE_SIZE, 4), rnd.getrandbits(32))
    violated = k.check_invariants()
    assert violated and set(violated) <= set(INVARIANTS)
    for part in [k.root, s.c1, s.c2]:
        k.mappings(part), k.config_pages(part)
