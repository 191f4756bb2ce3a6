"""createPartition and deletePartition: effects and every refusal, in Pip's order."""

from kernel_helpers import child_with_page, pages, pd_slot, run_child
from pipsim.kernel import Partition, PipError
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page, map_range


def test_create_partition_builds_a_child(k, api, alloc):
    desc, pd, sh1, sh2, ll = vas = pages(alloc, 5)
    pas = [k.mappings(k.root)[va].pa for va in vas]
    assert api.create_partition(*vas) is True and k.last_error is None
    child = Partition(pas[0] // PAGE_SIZE)
    assert k.children(k.root) == [child] and k.parent(child) == k.root
    assert k.config_pages(child) == {pa // PAGE_SIZE for pa in pas}
    assert k.mappings(child) == {}
    # the five pages stay present in the caller but become inaccessible
    assert all(not k.mappings(k.root)[va].accessible for va in vas)
    # descriptor slots 0-11 (pip-spec §3.2)
    slots = [pd_slot(k, child, i) for i in range(12)]
    assert slots == [desc, pas[0], pd, pas[1], sh1, pas[2], sh2, pas[3], ll, pas[4], 0, PAGE_SIZE]
    assert k.check_invariants() == []


def test_created_pages_are_inaccessible_in_every_ancestor(k, api, alloc):
    desc, _ = child_with_page(k, api, alloc)
    child = k.children(k.root)[0]
    capi = k.as_partition(child)
    # give the child five pages at 0x10000.. and let it create a grandchild from them
    srcs = [alloc.alloc() for _ in range(5)]
    for i, src in enumerate(srcs):
        map_page(api, alloc, desc, src, 0x8000 + i * PAGE_SIZE)
    assert capi.create_partition(*[0x8000 + i * PAGE_SIZE for i in range(5)])
    assert all(not k.mappings(k.root)[src].accessible for src in srcs)
    assert k.check_invariants() == []


def refusal(k, call, *args):
    assert call(*args) is False
    return k.last_error


def test_create_partition_refusals_in_order(k, api, alloc):
    g = k.geometry
    a, b, c, d, e = pages(alloc, 5)
    kernel_va = g.slot_size + 0x3000                       # top-level index 1
    unmapped = 0x5000                                     # top-level index 0: no table
    not_present = g.vidt_va - PAGE_SIZE                   # in the VIDT's table, never mapped
    cases = [
        ((0, b, c, d, e), PipError.NULL_VADDR),
        ((a, b, b, d, e), PipError.SAME_VADDR),
        ((a, b, c + 0x123, c, e), PipError.SAME_VADDR),    # offsets are ignored
        ((a, kernel_va, c, d, e), PipError.KERNEL_SLOT),
        ((a, b, c, d, 0), PipError.NULL_VADDR),
        ((a, b, c, unmapped, e), PipError.NOT_MAPPED),
        ((a, b, c, not_present, e), PipError.NOT_PRESENT),
    ]
    for args, reason in cases:
        assert refusal(k, api.create_partition, *args) == reason, args
    desc, src = child_with_page(k, api, alloc)
    assert refusal(k, api.create_partition, a, b, c, d, desc) == PipError.NOT_ACCESSIBLE
    assert refusal(k, api.create_partition, a, src, c, d, e) == PipError.DERIVED
    assert k.children(k.root) == [Partition(k.mappings(k.root)[desc].pa // PAGE_SIZE)]
    assert k.check_invariants() == []


def test_kernel_slot_is_tested_before_null(k, api, alloc):
    a, b, c, d, _ = pages(alloc, 5)
    assert refusal(k, api.create_partition, a, 0, c, d, k.geometry.slot_size) == PipError.KERNEL_SLOT


def test_delete_partition_gives_every_page_back(k, api, alloc):
    before = k.mappings(k.root)
    desc, src = child_with_page(k, api, alloc)
    assert api.mapped_in_child(src) == desc
    assert api.delete_partition(desc) is True and k.last_error is None
    assert k.children(k.root) == [] and k.mappings(k.root) == before
    assert api.mapped_in_child(src) == 0 and k.last_error is None
    assert k.check_invariants() == []


def test_delete_partition_refuses_non_children(k, api, alloc):
    va = alloc.alloc()
    assert refusal(k, api.delete_partition, va) == PipError.NOT_CHILD
    assert refusal(k, api.delete_partition, 0) == PipError.NOT_CHILD


def test_deleting_a_parent_loses_its_childrens_kernel_pages(k, api, alloc):
    """Pip does not visit grandchildren (docs/kernel.md §5 deletePartition)."""
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    srcs = [alloc.alloc() for _ in range(5)]
    for i, src in enumerate(srcs):
        map_page(api, alloc, desc, src, 0x8000 + i * PAGE_SIZE)
    assert k.as_partition(child).create_partition(*[0x8000 + i * PAGE_SIZE for i in range(5)])
    assert api.delete_partition(desc)
    maps = k.mappings(k.root)
    assert k.partitions() == [k.root]
    # the grandchild's five kernel pages: present, not accessible, not derived - lost to the root
    for src in srcs:
        assert maps[src].accessible is False
        assert api.mapped_in_child(src) == 0 and k.last_error == PipError.NOT_ACCESSIBLE
    assert refusal(k, api.create_partition, *srcs) == PipError.NOT_ACCESSIBLE
    assert k.check_invariants() == []


def test_new_child_interrupt_state_is_what_the_page_held(k, api, alloc):
    vas = pages(alloc, 5)
    api.write(vas[0] + 4 * 13, (7).to_bytes(4, "little"))
    assert api.create_partition(*vas)
    assert api.get_int_state(vas[0]) == 7


# ---------------------------------------------------------------- the running partition


def family(k, api, alloc):
    """root -> child (VIDT, 14 pages at 0x1000) -> grandchild, the grandchild running."""
    desc = create_child(api, alloc)
    child = k.children(k.root)[0]
    capi, calloc = k.as_partition(child), PageAllocator(
        [PAGE_SIZE + i * PAGE_SIZE for i in range(14)])
    map_range(api, alloc, desc, PAGE_SIZE, 14)
    map_page(api, alloc, desc, alloc.alloc(), k.geometry.vidt_va)
    gdesc = create_child(capi, calloc)
    run_child(k, capi, calloc, gdesc)
    return desc, child, capi, gdesc


def test_deleting_the_running_partition_makes_its_caller_run(k, api, alloc):
    """docs/kernel.md §6: a call does not switch, but a partition out of the tree cannot
    run: the caller of deletePartition runs, the CPU context as it was."""
    desc, child, capi, gdesc = family(k, api, alloc)
    grandchild = k.children(child)[0]
    assert k.current == grandchild
    cpu = k.cpu_context
    assert capi.delete_partition(gdesc) and k.last_error is None
    assert k.current == child and k.cpu_context == cpu
    assert k.check_invariants() == []


def test_deleting_an_ancestor_of_the_running_partition_makes_the_caller_run(k, api, alloc):
    desc, child, capi, gdesc = family(k, api, alloc)
    assert api.delete_partition(desc)
    assert k.current == k.root and k.partitions() == [k.root]
    assert k.check_invariants() == []


def test_deleting_another_partition_or_a_refused_delete_moves_nothing(k, api, alloc):
    desc, child, capi, gdesc = family(k, api, alloc)
    grandchild, other = k.current, create_child(api, alloc)
    assert capi.delete_partition(0xF000) is False            # not a child: refused
    assert k.current == grandchild
    assert api.delete_partition(other) and k.current == grandchild
    assert k.check_invariants() == []
