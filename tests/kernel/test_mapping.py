"""addVAddr, removeVAddr and mappedInChild: effects and every refusal."""
from kernel_helpers import chain, child_with_page, pages
from pipsim.kernel import Mapping, PipError
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.wrappers import create_child, map_page


def refused(k, call, *args):
    assert call(*args) is False
    return k.last_error


def test_add_vaddr_shares_a_page_vertically(k, api, alloc):
    desc, src = child_with_page(k, api, alloc, dst=0x3000, w=False, e=True)
    child = k.children(k.root)[0]
    pa = k.mappings(k.root)[src].pa
    assert k.mappings(child) == {0x3000: Mapping(pa, True, False, True, True)}
    assert k.mappings(k.root)[src].accessible                   # still usable by the parent
    assert api.mapped_in_child(src) == desc and k.last_error is None
    api.write(src, b"shared")
    assert k.as_partition(child).read(0x3000, 6) == b"shared"
    assert k.check_invariants() == []


def test_add_vaddr_refusals_in_order(k, api, alloc):
    g = k.geometry
    desc, src = child_with_page(k, api, alloc, dst=0x3000)
    other = alloc.alloc()
    kernel_va = g.slot_size
    cases = [
        ((0, desc, 0x4000, 1, 1, 0), PipError.NULL_VADDR),
        ((other, 0, 0x4000, 1, 1, 0), PipError.NULL_VADDR),
        ((kernel_va, desc, 0x4000, 1, 1, 0), PipError.KERNEL_SLOT),
        ((other, desc, kernel_va + 0x3000, 1, 1, 0), PipError.KERNEL_SLOT),
        ((other, desc, 0x4000, 0, 1, 0), PipError.BAD_RIGHTS),
        ((other, other, 0x4000, 1, 1, 0), PipError.NOT_CHILD),
        ((0x5000, desc, 0x4000, 1, 1, 0), PipError.NOT_MAPPED),
        ((other, desc, g.root_va_start, 1, 1, 0), PipError.CHILD_TABLE_MISSING),
        ((src, desc, 0x4000, 1, 1, 0), PipError.DERIVED),
        ((desc, desc, 0x4000, 1, 1, 0), PipError.NOT_ACCESSIBLE),
        # Pip tests accessible before present: an absent page reports NOT_ACCESSIBLE
        ((g.vidt_va - PAGE_SIZE, desc, 0x4000, 1, 1, 0), PipError.NOT_ACCESSIBLE),
        ((other, desc, 0x3000, 1, 1, 0), PipError.CHILD_VADDR_PRESENT),
    ]
    for args, reason in cases:
        assert refused(k, api.add_vaddr, *args) == reason, args
    assert api.add_vaddr(other, desc, 0x4000, 1, 1, 0) is True
    assert k.check_invariants() == []


def test_remove_vaddr_underives_the_parent_page(k, api, alloc):
    desc, src = child_with_page(k, api, alloc, dst=0x3000)
    child = k.children(k.root)[0]
    assert api.remove_vaddr(desc, 0x3000) is True and k.last_error is None
    assert k.mappings(child) == {}
    assert api.mapped_in_child(src) == 0
    assert api.add_vaddr(src, desc, 0x3000, 1, 1, 0)           # the page can be given again
    assert k.check_invariants() == []


def test_remove_vaddr_refusals_in_order(k, api, alloc):
    g = k.geometry
    desc, src = child_with_page(k, api, alloc, dst=0x3000)
    child = k.children(k.root)[0]
    capi = k.as_partition(child)
    assert refused(k, api.remove_vaddr, desc, g.slot_size) == PipError.KERNEL_SLOT
    assert refused(k, api.remove_vaddr, src, 0x3000) == PipError.NOT_CHILD
    assert refused(k, api.remove_vaddr, desc, g.root_va_start) == PipError.CHILD_TABLE_MISSING
    assert refused(k, api.remove_vaddr, desc, 0x4000) == PipError.CHILD_PAGE_NOT_PRESENT
    # the child lends its pages to the kernel (a grandchild) / shares one with a grandchild
    for i in range(6):
        map_page(api, alloc, desc, alloc.alloc(), 0x8000 + i * PAGE_SIZE)
    gdesc = 0x8000
    assert capi.create_partition(*[0x8000 + i * PAGE_SIZE for i in range(5)])
    assert refused(k, api.remove_vaddr, desc, 0x9000) == PipError.CHILD_PAGE_NOT_ACCESSIBLE
    map_page(api, alloc, desc, alloc.alloc(), 0xE000)
    map_page(api, alloc, desc, alloc.alloc(), 0xF000)
    map_page(api, alloc, desc, alloc.alloc(), 0x4000)
    assert capi.count_to_map(gdesc, 0x3000) == 3
    assert capi.prepare(gdesc, 0x3000, chain(capi, [0xD000, 0xE000, 0xF000])).ok
    assert capi.add_vaddr(0x4000, gdesc, 0x3000, 1, 0, 0)
    assert refused(k, api.remove_vaddr, desc, 0x4000) == PipError.CHILD_PAGE_DERIVED
    assert k.check_invariants() == []


def test_mapped_in_child_refusals(k, api, alloc):
    g = k.geometry
    desc, _ = child_with_page(k, api, alloc)
    assert api.mapped_in_child(0x5000) == 0 and k.last_error == PipError.NOT_MAPPED
    assert api.mapped_in_child(g.vidt_va - PAGE_SIZE) == 0 and k.last_error == PipError.NOT_PRESENT
    assert api.mapped_in_child(desc) == 0 and k.last_error == PipError.NOT_ACCESSIBLE
    assert api.mapped_in_child(alloc.alloc()) == 0 and k.last_error is None


def test_sibling_pages_never_overlap(k, api, alloc):
    d1, s1 = child_with_page(k, api, alloc, dst=0x3000)
    d2 = create_child(api, alloc)
    # the page given to the first child cannot go to the second
    map_page(api, alloc, d2, alloc.alloc(), 0x4000)
    assert refused(k, api.add_vaddr, s1, d2, 0x3000, 1, 1, 0) == PipError.DERIVED
    c1, c2 = k.children(k.root)
    assert not (k.used_pages(c1) & k.used_pages(c2))
    assert len(pages(alloc, 1)) == 1 and k.check_invariants() == []
