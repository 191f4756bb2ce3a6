"""Memory as a partition sees it: reads, writes and translation refused exactly as the MMU would."""
import pytest

from kernel_helpers import child_with_page
from pipsim.kernel import MemoryFault
from pipsim.kernel.abi import PAGE_SIZE


def test_read_write_round_trip_across_pages(k, api, alloc):
    a, b = alloc.alloc(), alloc.alloc()
    assert b == a + PAGE_SIZE
    data = bytes(range(256)) * 20
    api.write(a + 100, data)
    assert api.read(a + 100, len(data)) == data
    assert api.read(a, 0) == b""


def test_translate_follows_the_rights(k, api, alloc):
    desc, src = child_with_page(k, api, alloc, dst=0x3000, w=False, e=True)
    capi = k.as_partition(k.children(k.root)[0])
    pa = k.mappings(k.root)[src].pa
    assert capi.translate(0x3123, "r") == pa + 0x123
    assert capi.translate(0x3123, "x") == pa + 0x123
    assert capi.translate(0x3123, "w") is None
    assert capi.translate(0x4000, "r") is None
    assert api.translate(desc, "r") is None               # a PD is never accessible
    assert api.translate(k.geometry.slot_size, "r") is None   # the kernel slot
    with pytest.raises(ValueError):
        api.translate(0x3000, "rw")


def test_refused_write_changes_nothing(k, api, alloc):
    desc, src = child_with_page(k, api, alloc, dst=0x3000, w=False)
    capi = k.as_partition(k.children(k.root)[0])
    api.write(src, b"before")
    with pytest.raises(MemoryFault) as fault:
        capi.write(0x3000, b"after!")
    assert fault.value.va == 0x3000 and fault.value.access == "write"
    assert capi.read(0x3000, 6) == b"before"
    # a write spanning a writable and an unmapped page is refused whole
    last = k.geometry.root_va_start + (len(alloc) + 200) * PAGE_SIZE
    with pytest.raises(MemoryFault):
        api.write(src + PAGE_SIZE - 2, b"abcd" * 2000)
    assert api.read(src, 6) == b"before"
    assert last


def test_siblings_cannot_reach_each_other(k, api, alloc):
    d1, s1 = child_with_page(k, api, alloc, dst=0x3000)
    d2, s2 = child_with_page(k, api, alloc, dst=0x3000)
    c1, c2 = k.children(k.root)
    k.as_partition(c1).write(0x3000, b"one")
    k.as_partition(c2).write(0x3000, b"two")
    assert k.as_partition(c1).read(0x3000, 3) == b"one"
    assert api.read(s2, 3) == b"two"
    for va in (d1, d2, s1, s2):                  # parent VAs mean nothing in a child
        with pytest.raises(MemoryFault):
            k.as_partition(c1).read(va, 1)
