"""One test per invariant checker: corrupt the state through debug_write_word and check that the
property is reported (pip-spec §4.2-4.3)."""
import struct

import pytest

from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.model import Kernel
from pipsim.kernel.model.invariants import PROPERTIES

from pipmodel_helpers import (MMU, SH1, SH2, Pool, entry_pa, make_child, map_in_child,
                              pd_slot_pa, upper_entry_pa, word)

VIDT = 0xFF000
FREE_SLOT = 0xFE000          # root VIDT leaf table, not mapped


class S:
    """root with two children C1, C2; each maps one root page at 0x20000."""

    def __init__(self):
        k = self.k = Kernel(pages=256, table_size=16, levels=2)
        pool = self.pool = Pool(k, k.root)
        self.d1, self.c1 = make_child(k, k.root, pool)
        self.s1 = pool.take()
        map_in_child(k, k.root, self.d1, self.s1, 0x20000, pool)
        self.d2, self.c2 = make_child(k, k.root, pool)
        self.s2 = pool.take()
        map_in_child(k, k.root, self.d2, self.s2, 0x20000, pool)
        assert k.check_invariants() == []

    def w(self, pa, value):
        self.k.debug_write_word(pa, value)

    def pa(self, p, va):
        return self.k.mappings(p)[va].pa


def violated(s):
    result = s.k.check_invariants()
    assert set(result) <= set(PROPERTIES)
    return result


def test_all_names_listed():
    assert len(PROPERTIES) == 28 and len(set(PROPERTIES)) == 28


def test_vertical_sharing():
    s = S()
    s.w(entry_pa(s.k, s.c1, 0x20000), 2 << 12 | 0x1F)      # root's MMU root page, unmapped above
    assert "verticalSharing" in violated(s)


def test_partitions_isolation():
    s = S()
    s.w(entry_pa(s.k, s.c2, 0x20000), s.pa(s.k.root, s.s1) | 0x1F)
    assert "partitionsIsolation" in violated(s)


def test_kernel_data_isolation():
    s = S()
    pa = entry_pa(s.k, s.k.root, s.d1)
    s.w(pa, word(s.k, pa) | 2)
    assert "kernelDataIsolation" in violated(s)


def test_partition_descriptor_entry():
    s = S()
    s.w(pd_slot_pa(s.c1, 0), s.d1 | 0x123)
    assert violated(s) == ["partitionDescriptorEntry"]


def test_data_structure_mmu():
    s = S()
    pa = entry_pa(s.k, s.k.root, s.s1)
    s.w(pa, word(s.k, pa) | 0x20)
    assert violated(s) == ["dataStructurePdSh1Sh2asRoot(MMU)"]


def test_data_structure_sh1():
    s = S()
    s.w(entry_pa(s.k, s.k.root, s.s1, SH1), s.d1 | 2)
    assert violated(s) == ["dataStructurePdSh1Sh2asRoot(sh1)"]


def test_data_structure_sh2():
    s = S()
    s.w(entry_pa(s.k, s.c1, 0x20000, SH2), s.s1 | 4)
    assert "dataStructurePdSh1Sh2asRoot(sh2)" in violated(s)


def test_current_partition_in_partitions_list():
    s = S()
    k, root = s.k, s.k.as_partition(s.k.root)
    vidt_src = s.pool.take()
    map_in_child(k, k.root, s.d1, vidt_src, VIDT, s.pool)
    root.write(vidt_src, struct.pack("<I", VIDT + 0x100))  # C1 VIDT[0] -> a context in it
    root.write(VIDT + 4, struct.pack("<I", 0))             # root VIDT[1] = 0: no save
    assert root.yield_(s.d1, 0, 1, 0, 0) == 0 and k.current == s.c1     # C1 runs
    s.w(entry_pa(s.k, s.k.root, s.d1, SH1), 0)             # C1 leaves the tree
    assert "currentPartitionInPartitionsList" in violated(s)


def test_no_dup_mapped_pages():
    s = S()
    s.w(entry_pa(s.k, s.k.root, FREE_SLOT), s.pa(s.k.root, VIDT) | 0x1F)
    assert violated(s) == ["noDupMappedPagesList"]


def test_no_dup_config_pages():
    s = S()
    ll = word(s.k, pd_slot_pa(s.c1, 9))
    s.w(ll + 4 * 15, ll)                                   # the LL page points to itself
    assert "noDupConfigPagesList" in violated(s)


def test_parent_in_partition_list():
    s = S()
    s.w(pd_slot_pa(s.c1, 11), 2 << 12)
    assert "parentInPartitionList" in violated(s)


def test_accessible_va_is_not_partition_descriptor():
    s = S()
    s.w(entry_pa(s.k, s.k.root, s.s1, SH1), s.d1 | 1)
    assert "accessibleVAIsNotPartitionDescriptor" in violated(s)


def test_accessible_child_page_is_accessible_into_parent():
    s = S()
    pa = entry_pa(s.k, s.k.root, s.s1)
    s.w(pa, word(s.k, pa) & ~2)
    assert violated(s) == ["accessibleChildPageIsAccessibleIntoParent"]


def test_no_cycle_in_partition_tree():
    s = S()
    s.w(pd_slot_pa(s.c1, 11), s.c1.pd << 12)
    assert "noCycleInPartitionTree" in violated(s)


def test_config_tables_are_different():
    s = S()
    s.w(pd_slot_pa(s.c2, 9), word(s.k, pd_slot_pa(s.c1, 9)))
    s.w(pd_slot_pa(s.c2, 8), word(s.k, pd_slot_pa(s.c1, 8)))
    assert "configTablesAreDifferent" in violated(s)


def test_is_child():
    s = S()
    s.w(pd_slot_pa(s.c1, 11), s.c2.pd << 12)
    result = violated(s)
    assert "isChild" in result and "isParent" in result


def test_is_present_not_default_iff():
    s = S()
    s.w(entry_pa(s.k, s.k.root, FREE_SLOT), 0x5000)       # a PA but not present
    assert violated(s) == ["isPresentNotDefaultIff"]


def test_physical_page_not_derived():
    s = S()
    s.w(entry_pa(s.k, s.k.root, s.s1, SH1), 0)
    assert violated(s) == ["physicalPageNotDerived"]


def test_multiplexer_without_parent():
    s = S()
    s.w(pd_slot_pa(s.k.root, 11), s.c1.pd << 12)
    assert "multiplexerWithoutParent" in violated(s)


def test_is_parent():
    s = S()
    s.w(pd_slot_pa(s.c2, 11), s.c1.pd << 12)
    assert "isParent" in violated(s)


def test_no_dup_partition_tree():
    s = S()
    s.w(entry_pa(s.k, s.k.root, FREE_SLOT), s.c1.pd << 12 | 0x1D)
    s.w(entry_pa(s.k, s.k.root, FREE_SLOT, SH1), 1)
    assert "noDupPartitionTree" in violated(s)


def test_well_formed_fst_shadow():
    s = S()
    s.w(upper_entry_pa(s.k, s.k.root, VIDT, SH1, 0), 0)
    result = violated(s)
    assert "wellFormedFstShadow" in result and "wellFormedShadows(sh1)" in result


def test_well_formed_snd_shadow():
    s = S()
    s.w(entry_pa(s.k, s.c1, 0x20000, SH2), 0)
    assert "wellFormedSndShadow" in violated(s)


def test_well_formed_shadows_sh2():
    s = S()
    s.w(upper_entry_pa(s.k, s.k.root, VIDT, SH2, 0), 0)
    assert violated(s) == ["wellFormedShadows(sh2)"]


def test_current_partition_is_not_default_page():
    """C1 believes its parent is page 0, whose descriptor (corrupted) shares the root's
    address space: yielding to "the parent" makes page 0 the current partition."""
    s = S()
    k, root = s.k, s.k.as_partition(s.k.root)
    vidt_src = s.pool.take()
    map_in_child(k, k.root, s.d1, vidt_src, VIDT, s.pool)
    ctx_va = s.pool.take()
    root.write(VIDT, struct.pack("<I", ctx_va))            # root VIDT[0] -> a context
    root.write(vidt_src + 4, struct.pack("<I", 0))         # C1 VIDT[1] = 0: no save
    s.w(pd_slot_pa(s.c1, 11), 0)
    s.w(3 * 4, word(k, pd_slot_pa(k.root, 3)))             # page 0 "PD": the root's MMU root
    assert k.as_partition(s.c1).yield_(0, 0, 1, 0, 0) == 0
    assert k.current.pd == 0
    result = violated(s)
    assert "currentPartitionIsNotDefaultPage" in result
    assert "currentPartitionInPartitionsList" in result


def test_well_formed_fst_shadow_if_none():
    s = S()
    s.w(upper_entry_pa(s.k, s.k.root, VIDT, MMU, 0), 0)
    assert "wellFormedFstShadowIfNone" in violated(s)


def test_well_formed_fst_shadow_if_default_values():
    s = S()
    s.w(entry_pa(s.k, s.k.root, FREE_SLOT, SH1), 0x20000)
    assert violated(s) == ["wellFormedFstShadowIfDefaultValues"]


@pytest.mark.parametrize("seed", range(12))
def test_random_corruption_never_crashes(seed):
    """Garbage anywhere in the kernel's pages: the checkers report, never crash or hang."""
    import random
    rnd = random.Random(seed)
    s = S()
    config = sorted(set().union(*(s.k.config_pages(p) for p in s.k.partitions())))
    for _ in range(20):
        page = rnd.choice(config)
        value = rnd.choice([0, 0xFFFFFFFF, rnd.getrandbits(32), rnd.randrange(256) << 12 | 0x1F,
                            rnd.randrange(1 << 20) << 12 | 0x3])
        s.w(page * PAGE_SIZE + 4 * rnd.randrange(16), value)
    result = s.k.check_invariants()
    assert set(result) <= set(PROPERTIES)
    s.k.partitions()


def test_a_crashing_checker_is_reported_apart(monkeypatch):
    """A check that raises is a bug of the model: reported under its own entry, never as a
    detected violation (so "prop in violated" cannot pass because a checker crashed)."""
    from pipsim.kernel.model.invariants import Checker

    def crash(self):
        raise KeyError("boom")
    s = S()
    monkeypatch.setattr(Checker, "verticalSharing", crash)
    result = s.k.check_invariants()
    assert result == ["verticalSharing: checker crashed (KeyError: 'boom')"]
