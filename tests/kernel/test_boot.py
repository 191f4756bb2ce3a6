"""Boot layout (docs/kernel.md §3) and geometry validation."""
import pytest

from pipsim.kernel.abi import PAGE_SIZE, ROOT_IO_MASK


def pd_slot(k, part, slot):
    return k.debug_read_word(part.pd * PAGE_SIZE + 4 * slot)


@pytest.mark.parametrize("pages, table_size, levels", [(160, 16, 2), (300, 16, 3), (2048, 1024, 2)])
def test_root_owns_every_free_page(make_kernel, pages, table_size, levels):
    k = make_kernel(pages=pages, table_size=table_size, levels=levels)
    g = k.geometry
    maps = k.mappings(k.root)
    config = k.config_pages(k.root)
    mapped = sorted(m.pa // PAGE_SIZE for m in maps.values())
    # page 0 is null; config pages come first, then every other page is mapped
    assert min(config) == 1 and max(config) == len(config)
    assert mapped == list(range(len(config) + 1, pages))
    vas = sorted(maps)
    assert vas[0] == g.root_va_start and vas[-1] == g.vidt_va
    assert vas[:-1] == [g.root_va_start + i * PAGE_SIZE for i in range(len(vas) - 1)]
    assert all(m.r and m.w and m.x and m.accessible for m in maps.values())
    assert maps[g.vidt_va].pa == (pages - 1) * PAGE_SIZE
    assert k.partitions() == [k.root] and k.parent(k.root) is None
    assert k.check_invariants() == []


def test_root_descriptor_slots(k):
    assert [pd_slot(k, k.root, i) for i in range(10)] == [0x1000, 0x1000, 0x2000, 0x2000, 0x3000,
                                                          0x3000, 0x4000, 0x4000, 0x5000, 0x5000]
    assert pd_slot(k, k.root, 10) == ROOT_IO_MASK and pd_slot(k, k.root, 11) == 0
    assert pd_slot(k, k.root, 13) == 0
    assert k.current == k.root and k.cpu_context == (0,) * 20


def test_root_tables_for_small_geometry(make_kernel):
    # 16x16 entries: the linear range starts at top index 2; each leaf table covers 16 pages
    k = make_kernel(pages=160, table_size=16, levels=2)
    free = len(k.mappings(k.root))
    linear = free - 1
    leaf_tables = -(-linear // 16) + 1            # + the VIDT's table
    assert len(k.config_pages(k.root)) == 5 + 3 * leaf_tables


@pytest.mark.parametrize("kwargs, error", [
    (dict(pages=160, table_size=24, levels=2), ValueError),   # not a power of two
    (dict(pages=160, table_size=8, levels=2), ValueError),
    (dict(pages=160, table_size=2048, levels=2), ValueError),
    (dict(pages=160, table_size=16, levels=1), ValueError),
    (dict(pages=160, table_size=1024, levels=3), ValueError),  # 42-bit addresses
    (dict(pages=7, table_size=16, levels=2), ValueError),
    (dict(pages=100_000, table_size=16, levels=2), ValueError),  # beyond a 1 MiB VA space
    (dict(pages=160.0, table_size=16, levels=2), TypeError),
    (dict(pages=160, table_size="16", levels=2), TypeError),
])
def test_bad_geometry_is_refused(make_kernel, kwargs, error):
    with pytest.raises(error):
        make_kernel(**kwargs)
