"""The properties beyond Pip's (kernel.md §10): each one is reported when broken and holds
otherwise; they are apart from check_invariants().  (The §9 attacks that break them under pip
are in test_model_policy.py.)"""
import struct

import pytest

from pipsim.kernel.abi import EXTRA_PROPERTIES, POLICIES, PTE_ACCESSIBLE, PTE_EXEC, PTE_WRITE

from pipmodel_helpers import MMU, PAGE, SH2, Family, entry_pa, map_in_child, pd_slot_pa, word

VIDT = 0xFF000
CLI, STI = 13, 14                                   # ts = 16


def set_bits(k, pa, bits):
    k.debug_write_word(pa, word(k, pa) | bits)


def clear_bits(k, pa, bits):
    k.debug_write_word(pa, word(k, pa) & ~bits)


@pytest.fixture(params=POLICIES)
def fam(request):
    """A Family (root -> C) whose C lent G its read-only page at 0x20000, read-execute."""
    f = Family(request.param)
    f.gdesc, f.g = f.grandchild()
    map_in_child(f.k, f.child, f.gdesc, f.ro, 0x20000, f.cpool, w=False, e=False)
    map_in_child(f.k, f.child, f.gdesc, f.rx, 0x21000, f.cpool, w=False, e=True)
    assert f.k.check_invariants() == [] and f.k.check_extra_properties() == []
    return f


def extra(f):
    result = f.k.check_extra_properties()
    assert set(result) <= set(EXTRA_PROPERTIES)
    return result


@pytest.mark.parametrize("va, bit", [(0x20000, PTE_WRITE), (0x20000, PTE_EXEC),
                                     (0x21000, PTE_WRITE)])
def test_rights_monotonicity(fam, va, bit):
    set_bits(fam.k, entry_pa(fam.k, fam.g, va), bit)     # G holds a right C lacks
    assert extra(fam) == ["rightsMonotonicity"]
    assert fam.k.check_invariants() == []


def test_rights_monotonicity_only_where_the_parent_maps(fam):
    """A child entry whose v' is not present in the parent is not constrained."""
    k = fam.k
    set_bits(k, entry_pa(k, fam.g, 0x20000), PTE_WRITE)
    unmapped = k.geometry.root_va_start + 19 * PAGE          # in C's leaf table, not present
    k.debug_write_word(entry_pa(k, fam.g, 0x20000, SH2), unmapped)
    assert "rightsMonotonicity" not in extra(fam)


def test_rights_monotonicity_reduced_rights_hold(fam):
    clear_bits(fam.k, entry_pa(fam.k, fam.g, 0x21000), PTE_EXEC)
    assert extra(fam) == []


@pytest.mark.parametrize("who", ["pd", "mmu_leaf_table", "ll"])
def test_config_pages_writable_in_parent(fam, who):
    k, f = fam.k, fam
    g_config = k.config_pages(f.g)
    c_vas = {va: m.pa // PAGE for va, m in k.mappings(f.child).items()}
    page = {"pd": f.g.pd,
            "mmu_leaf_table": entry_pa(k, f.g, 0x20000) // PAGE,
            "ll": word(k, pd_slot_pa(f.g, 9)) >> 12}[who]
    assert page in g_config
    va = next(va for va, p in c_vas.items() if p == page)
    clear_bits(k, entry_pa(k, f.child, va), PTE_WRITE)
    assert extra(f) == ["configPagesWritableInParent"]
    assert k.check_invariants() == []


def test_config_pages_writable_when_not_accessible(fam):
    """Config pages are inaccessible in the parent: present + W is what counts."""
    k, f = fam.k, fam
    maps = k.mappings(f.child)
    config = [va for va, m in maps.items() if m.pa // PAGE in k.config_pages(f.g)]
    assert config and all(not maps[va].accessible and maps[va].w for va in config)
    assert extra(f) == []


def test_no_device_config_pages(fam):
    k, f = fam.k, fam
    k.mark_device(f.page(k.root, f.src[f.rx]))             # mapped, not a kernel structure
    assert extra(f) == []
    k.mark_device(f.g.pd)                                  # G's descriptor
    assert extra(f) == ["noDeviceConfigPages"]
    assert f.capi.delete_partition(f.gdesc)                # gone: the page is RAM of C again
    assert extra(f) == [] and k.check_invariants() == []


def test_no_device_config_pages_root(fam):
    fam.k.mark_device(1)                                   # the root's descriptor
    assert extra(fam) == ["noDeviceConfigPages"]


@pytest.mark.parametrize("slot", [CLI, STI])
@pytest.mark.parametrize("va, holds", [
    (0, True),
    (None, True),                                         # a root page (R W X)
    (0x5000, False),                                      # nothing mapped there
    (VIDT + PAGE - 0x40, False),                          # passes the end of the address space
    ("desc", False),                                      # present, not accessible
])
def test_save_slots_writable(fam, slot, va, holds):
    va = {None: fam.pool.take(), "desc": fam.desc}.get(va, va)
    fam.root.write(VIDT + 4 * slot, struct.pack("<I", va))
    assert extra(fam) == ([] if holds else ["saveSlotsWritable"])


def test_save_slots_writable_only_with_an_accessible_vidt(fam):
    k = fam.k
    fam.root.write(VIDT + 4 * CLI, struct.pack("<I", 0x5000))
    assert extra(fam) == ["saveSlotsWritable"]
    clear_bits(k, entry_pa(k, k.root, VIDT, MMU), PTE_ACCESSIBLE)
    assert extra(fam) == []


def test_several_in_order(fam):
    k, f = fam.k, fam
    f.root.write(VIDT + 4 * STI, struct.pack("<I", 0x5000))
    k.mark_device(1)
    set_bits(k, entry_pa(k, f.g, 0x20000), PTE_WRITE)
    assert extra(f) == ["rightsMonotonicity", "noDeviceConfigPages", "saveSlotsWritable"]
    assert k.check_invariants() == []
