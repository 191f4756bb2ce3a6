"""Machine.read_root_image / write_root_image: the root's memory through its page tables."""
import pytest

from pipsim.kernel.abi import PAGE_SIZE, ROOT_IMAGE_BASE
from pipsim.kernel.machine import Machine


def test_read_what_was_written_across_pages_whatever_the_rights():
    m = Machine("x86", pages=256)
    va = ROOT_IMAGE_BASE + PAGE_SIZE - 3               # straddles two pages
    data = bytes(range(1, 11))
    m.write_root_image(va, data)
    assert m.read_root_image(va, len(data)) == data
    m.set_root_rights(ROOT_IMAGE_BASE, False, False, False)     # no rights: still readable
    assert m.read_root_image(va, 3) == data[:3]
    assert m.read_root_image(va, 0) == b""


def test_unmapped_vas_are_refused_and_nothing_is_half_written():
    m = Machine("arm", pages=256)
    maps = m.kernel.mappings(m.kernel.root)
    unmapped = next(va for va in range(ROOT_IMAGE_BASE, 1 << 32, PAGE_SIZE) if va not in maps)
    last = unmapped - PAGE_SIZE                           # mapped, and the next page is not
    before = m.read_root_image(last, PAGE_SIZE)
    with pytest.raises(ValueError, match=f"the root does not map {unmapped:#x}"):
        m.write_root_image(last + PAGE_SIZE - 2, b"\xAA" * 4)
    assert m.read_root_image(last, PAGE_SIZE) == before
    with pytest.raises(ValueError, match=f"the root does not map {unmapped:#x}"):
        m.read_root_image(last, PAGE_SIZE + 1)
    with pytest.raises(ValueError, match="not a range of 32-bit VAs"):
        m.read_root_image(0xFFFFFFFF, 2)
