"""Boot layout (docs/kernel.md §3)."""
import pytest

from pipsim.kernel.abi import PAGE_SIZE, ROOT_IO_MASK
from pipsim.kernel.model import Kernel
from pipsim.kernel.types import Geometry, Partition

from pipmodel_helpers import SH1, SH2, entry_pa, word


def layout(ts, levels, pages):
    k = Kernel(pages=pages, table_size=ts, levels=levels)
    assert k.check_invariants() == []
    return k


def test_ts16_l2_layout():
    k = layout(16, 2, 64)
    g = k.geometry
    assert g == Geometry(64, 16, 2)
    assert k.root == Partition(1) and k.current == k.root
    assert k.partitions() == [k.root] and k.parent(k.root) is None and k.children(k.root) == []
    assert k.cpu_context == (0,) * 20
    # N - 6 = 58 = F + 3 t with F = 46 free pages, t = 4 tables (top indices 2, 3, 4 and 15)
    maps = k.mappings(k.root)
    assert len(maps) == 46
    consecutive = [0x20000 + i * PAGE_SIZE for i in range(45)]
    assert sorted(maps) == consecutive + [0xFF000]
    for i, va in enumerate(consecutive):
        assert maps[va].pa == (18 + i) * PAGE_SIZE
    assert maps[0xFF000].pa == 63 * PAGE_SIZE
    assert all(m.r and m.w and m.x and m.accessible for m in maps.values())
    assert k.config_pages(k.root) == frozenset(range(1, 18))
    assert k.used_pages(k.root) == frozenset(range(1, 64))
    # root PD slots
    slots = [word(k, PAGE_SIZE + 4 * i) for i in range(14)]
    assert slots == [0x1000, 0x1000, 0x2000, 0x2000, 0x3000, 0x3000, 0x4000, 0x4000,
                     0x5000, 0x5000, ROOT_IO_MASK, 0, 0, 0]
    # tables: per missing table, MMU, sh1, sh2 pages in ascending VA order
    for (top, first) in ((2, 6), (3, 9), (4, 12), (15, 15)):
        for tree, page in ((2, first), (3, first + 1), (4, first + 2)):
            assert word(k, tree * PAGE_SIZE + 4 * top) == page << 12 | 0x1F
    assert word(k, 2 * PAGE_SIZE + 4 * 1) == 0        # the kernel entry is null
    # leaf entries: MMU PA | 0x1F, sh1 and sh2 leaves 0
    assert word(k, entry_pa(k, k.root, 0x20000)) == 18 << 12 | 0x1F
    assert word(k, entry_pa(k, k.root, 0x20000, SH1)) == 0
    assert word(k, entry_pa(k, k.root, 0xFF000, SH2)) == 0
    # the root's LL page: fresh, no pairs
    ll = [word(k, 5 * PAGE_SIZE + 4 * i) for i in range(16)]
    assert ll == [2, 6, 0, 4, 0, 6, 0, 8, 0, 10, 0, 12, 0, 0, 0, 0]


def test_ts1024_l2_layout():
    k = layout(1024, 2, 4096)
    maps = k.mappings(k.root)
    # N - 6 = 4090 = 4075 + 3 * 5 (top indices 2..5 and 1023)
    assert len(maps) == 4075
    assert k.config_pages(k.root) == frozenset(range(1, 21))
    assert min(maps) == 0x800000 and maps[0x800000].pa == 21 * PAGE_SIZE
    assert maps[0xFFFFF000].pa == 4095 * PAGE_SIZE
    assert max(va for va in maps if va != 0xFFFFF000) == 0x800000 + 4073 * PAGE_SIZE
    ll = [word(k, 5 * PAGE_SIZE + 4 * i) for i in range(1024)]
    assert ll[:4] == [2, 510, 0, 4] and ll[1019:] == [1020, 0, 0, 0, 0]
    assert ll[1020] == 0 and ll[1021] == 0                  # last free pair's link is 0


def test_l3_layout():
    k = layout(16, 3, 100)
    maps = k.mappings(k.root)
    used = k.used_pages(k.root)
    assert used == frozenset(range(1, 100))
    assert k.geometry.vidt_va in maps and maps[k.geometry.vidt_va].pa == 99 * PAGE_SIZE
    assert min(maps) == 0x200000
    # 3 pages per table: (N - 6 - free) is a multiple of 3 and every table is a config page
    assert (100 - 6 - len(maps)) % 3 == 0
    assert len(k.config_pages(k.root)) == 5 + (100 - 6 - len(maps))


def test_no_exact_fixed_point_leaves_pages_unused():
    """Choice (see the report): N=49, ts=16: F + 3t never equals 43; the largest F with
    F + 3t(F) <= 43 is F=33 (t=3), and page 48 is left unused."""
    k = layout(16, 2, 49)
    maps = k.mappings(k.root)
    assert len(maps) == 33
    assert maps[0xFF000].pa == 47 * PAGE_SIZE
    assert 48 not in k.used_pages(k.root)


@pytest.mark.parametrize("pages", [8, 10, 13])
def test_too_few_pages(pages):
    with pytest.raises(ValueError):
        Kernel(pages=pages, table_size=16, levels=2)


def test_smallest_kernel():
    k = layout(16, 2, 14)                      # 8 = 2 free pages + two table triples
    assert sorted(k.mappings(k.root)) == [0x20000, 0xFF000]


def test_free_pages_do_not_fit():
    with pytest.raises(ValueError):
        Kernel(pages=1000, table_size=16, levels=2)


@pytest.mark.parametrize("args, exc", [
    (dict(pages=64, table_size=24, levels=2), ValueError),
    (dict(pages=64, table_size=16, levels=1), ValueError),
    (dict(pages=64, table_size=1024, levels=3), ValueError),
    (dict(pages=64.0, table_size=16, levels=2), TypeError),
    (dict(pages=4, table_size=16, levels=2), ValueError),
])
def test_geometry_validation(args, exc):
    with pytest.raises(exc):
        Kernel(**args)
