"""countToMap, prepare and collect, including the LL page push and Pip's
non-atomic behaviour across MMU levels."""
import pytest

from kernel_helpers import chain, pages, pd_slot
from pipsim.kernel import PipError, Prepared
from pipsim.kernel.abi import PAGE_SIZE, PD_LL
from pipsim.kernel.wrappers import create_child, map_page


def test_count_prepare_add_collect_round_trip(k, api, alloc):
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    assert api.count_to_map(desc, 0x3000) == 3 and k.last_error is None
    fst, snd, trd, spare = pages(alloc, 4)
    chain(api, [fst, snd, trd, spare])
    result = api.prepare(desc, 0x3000, fst)
    assert result == Prepared(True, spare) and bool(result)
    assert api.count_to_map(desc, 0x3000) == 0 and api.count_to_map(desc, 0x3FFF) == 0
    assert {k.mappings(k.root)[v].pa // PAGE_SIZE for v in (fst, snd, trd)} <= k.config_pages(child)
    for va in (fst, snd, trd):          # lent to the kernel: inaccessible, derived to themselves
        assert not k.mappings(k.root)[va].accessible
    # an already prepared VA needs nothing and consumes nothing
    assert api.prepare(desc, 0x3000, spare) == Prepared(True, spare)
    assert api.collect(desc, 0x3000) is True
    assert all(k.mappings(k.root)[v].accessible for v in (fst, snd, trd))
    assert api.mapped_in_child(fst) == 0 and k.last_error is None
    assert len(k.config_pages(child)) == 5
    assert k.check_invariants() == []


def test_collect_keeps_tables_in_use(k, api, alloc):
    desc = create_child(api, alloc)
    map_page(api, alloc, desc, alloc.alloc(), 0x3000)
    child = k.children(k.root)[0]
    before = k.config_pages(child)
    assert api.collect(desc, 0x3000) is True          # non-empty table: nothing to collect
    assert k.config_pages(child) == before
    assert api.collect(desc, k.geometry.root_va_start) is False
    assert k.last_error == PipError.CHILD_TABLE_MISSING
    assert api.collect(desc, k.geometry.slot_size) is False and k.last_error == PipError.KERNEL_SLOT
    assert api.collect(alloc.alloc(), 0x3000) is False and k.last_error == PipError.NOT_CHILD


def test_prepare_refusals(k, api, alloc):
    g = k.geometry
    desc = create_child(api, alloc)
    a, b, c = pages(alloc, 3)
    assert api.prepare(a, 0x3000, b) == Prepared(False, b) and k.last_error == PipError.NOT_CHILD
    assert api.prepare(desc, 0x3000, 0) == Prepared(False, 0) and k.last_error == PipError.NULL_VADDR
    chain(api, [a, b])
    assert not api.prepare(desc, 0x3000, a) and k.last_error == PipError.NULL_VADDR
    chain(api, [a, b])
    api.write(b, a.to_bytes(4, "little"))                 # a -> b -> a
    assert not api.prepare(desc, 0x3000, a) and k.last_error == PipError.SAME_VADDR
    api.write(a, (g.vidt_va - PAGE_SIZE).to_bytes(4, "little"))
    assert api.prepare(desc, 0x3000, a) == Prepared(False, a)
    assert k.last_error == PipError.NOT_ACCESSIBLE        # absent: accessible is tested first
    assert not api.prepare(desc, 0x3000, desc) and k.last_error == PipError.NOT_ACCESSIBLE
    api.write(a, (0x5000).to_bytes(4, "little"))
    assert not api.prepare(desc, 0x3000, a) and k.last_error == PipError.NOT_MAPPED
    d2, shared = create_child(api, alloc), alloc.alloc()
    map_page(api, alloc, d2, shared, 0x3000)
    chain(api, [a, b, shared])
    assert not api.prepare(desc, 0x3000, a) and k.last_error == PipError.DERIVED
    child = k.children(k.root)[0]
    assert len(k.config_pages(child)) == 5 and k.check_invariants() == []


def test_a_full_ll_page_takes_a_fourth_page(make_kernel):
    """ts=16: an LL page holds 6 pairs, i.e. two prepares; the third pushes a new head."""
    from pipsim.kernel.wrappers import PageAllocator
    k = make_kernel(pages=200, table_size=16, levels=2)
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    first_ll = pd_slot(k, child, PD_LL)
    map_page(api, alloc, desc, alloc.alloc(), 0x3000)                   # top index 0
    map_page(api, alloc, desc, alloc.alloc(), 2 * k.geometry.slot_size)  # top index 2
    assert api.count_to_map(desc, 3 * k.geometry.slot_size) == 4
    fst = pages(alloc, 5)
    chain(api, fst)
    assert api.prepare(desc, 3 * k.geometry.slot_size, fst[0]) == Prepared(True, fst[4])
    assert pd_slot(k, child, PD_LL) == fst[3] and first_ll != fst[3]
    assert len(k.config_pages(child)) == 5 + 3 * 3 + 1
    assert not k.mappings(k.root)[fst[3]].accessible
    assert k.check_invariants() == []
    assert api.delete_partition(desc)
    assert all(k.mappings(k.root)[v].accessible for v in fst[:4])
    assert k.check_invariants() == []


def test_prepare_is_not_atomic_across_levels(make_kernel):
    """L=3: the middle table is installed even when the leaf level then fails."""
    from pipsim.kernel.wrappers import PageAllocator
    k = make_kernel(pages=300, table_size=16, levels=3)
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    assert api.count_to_map(desc, 0x3000) == 6
    fst = pages(alloc, 5)
    chain(api, fst[:3] + [fst[3]])                # the 4th and last link is null
    assert api.prepare(desc, 0x3000, fst[0]) == Prepared(False, fst[3])
    assert k.last_error == PipError.NULL_VADDR
    assert len(k.config_pages(child)) == 5 + 3                    # the upper level stayed
    assert api.count_to_map(desc, 0x3000) == 3
    chain(api, fst[3:] + pages(alloc, 2))
    assert api.prepare(desc, 0x3000, fst[3]).ok
    assert api.count_to_map(desc, 0x3000) == 0
    assert k.check_invariants() == []
    # collect walks back up and frees both levels once the leaf table is empty
    assert api.collect(desc, 0x3000) is True
    assert len(k.config_pages(child)) == 5
    assert k.check_invariants() == []


@pytest.mark.parametrize("levels, pages_", [(2, 160), (3, 300)])
def test_count_to_map_needs_a_descriptor(make_kernel, levels, pages_):
    k = make_kernel(pages=pages_, table_size=16, levels=levels)
    api = k.as_partition(k.root)
    assert api.count_to_map(0x5000, 0x3000) == 0 and k.last_error == PipError.NOT_MAPPED
    assert api.count_to_map(k.geometry.root_va_start, 0) == 0 and k.last_error == PipError.NOT_CHILD


def test_kernel_slot_needs_no_tables(k, api, alloc):
    """Pip's kernel entry is a real table, so nothing is ever prepared there (kernel.md §5)."""
    desc = create_child(api, alloc)
    chain(api, pages(alloc, 4))
    slot_va = k.geometry.slot_size + 0x3000
    assert api.count_to_map(desc, slot_va) == 0 and k.last_error == PipError.KERNEL_SLOT
    first = k.geometry.root_va_start
    assert api.prepare(desc, slot_va, first + 0x123) == Prepared(False, first)
    assert k.last_error == PipError.KERNEL_SLOT
    assert len(k.config_pages(k.children(k.root)[0])) == 5
