"""The memory services of the model: success and every documented failure (kernel.md §5)."""
import struct

import pytest

from pipsim.kernel.abi import PAGE_SIZE, PipError as E
from pipsim.kernel.model import Kernel
from pipsim.kernel.types import Prepared

from pipmodel_helpers import (MMU, SH1, SH2, Pool, chain, entry_pa, make_child, map_in_child,
                              pd_slot_pa, prepare_va, upper_entry_pa, word)

KSLOT = 0x10000            # a VA in the kernel slot (ts=16, L=2)
UNMAPPED_NO_TABLE = 0x5000  # top index 0: the root has no table there
NOT_PRESENT_VA = 0xFE000    # in the root's VIDT leaf table, not mapped


@pytest.fixture
def k():
    return Kernel(pages=256, table_size=16, levels=2)


@pytest.fixture
def env(k):
    """root with one child C (desc D) that maps one root page at 0x20000."""
    pool = Pool(k, k.root)
    desc, child = make_child(k, k.root, pool)
    src = pool.take()
    map_in_child(k, k.root, desc, src, 0x20000, pool)
    assert k.check_invariants() == []
    return k, pool, desc, child, src


def ok(k, result):
    assert result, k.last_error
    assert k.last_error is None
    assert k.check_invariants() == []
    return result


def refused(k, result, reason, value=False):
    assert result == value
    assert k.last_error is reason
    assert k.check_invariants() == []


# ------------------------------------------------------------------ createPartition

def test_create_partition_effects(k):
    pool = Pool(k, k.root)
    api = k.as_partition(k.root)
    desc, pd, sh1, sh2, ll = vas = pool.take(5)
    maps = k.mappings(k.root)
    ok(k, api.create_partition(desc + 0x123, pd, sh1, sh2, ll))   # offsets are ignored
    child = k.children(k.root)[0]
    assert child.pd * PAGE_SIZE == maps[desc].pa
    assert k.parent(child) == k.root and k.partitions() == [k.root, child]
    after = k.mappings(k.root)
    assert all(not after[va].accessible for va in vas)
    assert api.mapped_in_child(pd) == 0 and k.last_error is E.NOT_ACCESSIBLE
    slots = [word(k, pd_slot_pa(child, i)) for i in range(12)]
    assert slots == [desc, maps[desc].pa, pd, maps[pd].pa, sh1, maps[sh1].pa, sh2, maps[sh2].pa,
                     ll, maps[ll].pa, 0, PAGE_SIZE]
    for va in (pd, sh1, sh2, ll):
        assert word(k, entry_pa(k, k.root, va, SH1)) == desc
    assert word(k, entry_pa(k, k.root, desc, SH1)) == 1
    assert k.config_pages(child) == frozenset(maps[v].pa // PAGE_SIZE for v in vas)
    assert k.mappings(child) == {}


def test_create_partition_keeps_words_12_13(k):
    pool = Pool(k, k.root)
    api = k.as_partition(k.root)
    vas = pool.take(5)
    api.write(vas[0] + 13 * 4, struct.pack("<I", 77))
    ok(k, api.create_partition(*vas))
    assert api.get_int_state(vas[0]) == 77


def test_create_partition_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    a, b, c, d, e = pool.take(5)
    refused(k, api.create_partition(0, a, a, b, c), E.NULL_VADDR)
    refused(k, api.create_partition(a, b, c + 8, c, d), E.SAME_VADDR)
    refused(k, api.create_partition(a, b, c, d, KSLOT), E.KERNEL_SLOT)
    refused(k, api.create_partition(KSLOT, 0, b, c, d), E.KERNEL_SLOT)
    refused(k, api.create_partition(a, 0, c, d, e), E.NULL_VADDR)
    refused(k, api.create_partition(a, b, c, d, UNMAPPED_NO_TABLE), E.NOT_MAPPED)
    refused(k, api.create_partition(a, b, c, d, NOT_PRESENT_VA), E.NOT_PRESENT)
    pd_of_child = word(k, pd_slot_pa(child, 2))           # a kernel page of C: not accessible
    refused(k, api.create_partition(a, b, c, d, pd_of_child), E.NOT_ACCESSIBLE)
    refused(k, api.create_partition(a, b, c, d, desc), E.NOT_ACCESSIBLE)
    refused(k, api.create_partition(a, b, c, src, e), E.DERIVED)
    # order of step 5: desc, pd, ll, sh1, sh2 (ll's NOT_PRESENT before sh1's NOT_ACCESSIBLE)
    refused(k, api.create_partition(a, b, desc, d, NOT_PRESENT_VA), E.NOT_PRESENT)
    # sh1 leaf table missing (corrupted) -> NOT_MAPPED at step 6
    k.debug_write_word(upper_entry_pa(k, k.root, e, SH1, 0), 0)
    refused_value = api.create_partition(a, b, c, d, e)
    assert refused_value is False and k.last_error is E.NOT_MAPPED


# ------------------------------------------------------------------ countToMap / prepare

def test_count_to_map(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    assert api.count_to_map(desc, 0x20000) == 0 and k.last_error is None
    assert api.count_to_map(desc, 0x30000) == 3 and k.last_error is None
    refused(k, api.count_to_map(UNMAPPED_NO_TABLE, 0), E.NOT_MAPPED, 0)
    refused(k, api.count_to_map(src, 0x30000), E.NOT_CHILD, 0)
    # fill the child's LL (ts=16: 6 pairs; one prepare used 3): one more prepare fills it
    assert prepare_va(k, k.root, desc, 0x30000, pool) == Prepared(True, 0)
    assert api.count_to_map(desc, 0x40000) == 4
    res = prepare_va(k, k.root, desc, 0x40000, pool)       # takes a 4th page: a new LL page
    assert res.ok and k.check_invariants() == []
    assert len(k.config_pages(child)) == 5 + 9 + 1
    assert api.count_to_map(desc, 0x50000) == 3


def test_prepare_effects(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    fst, snd, trd = pool.take(3)
    extra = pool.take()
    chain(k, k.root, [fst, snd, trd, extra])
    maps = k.mappings(k.root)
    res = api.prepare(desc, 0x31000, fst)
    assert res == Prepared(True, extra) and k.last_error is None
    assert k.check_invariants() == []
    after = k.mappings(k.root)
    for va in (fst, snd, trd):
        assert not after[va].accessible
        assert word(k, entry_pa(k, k.root, va, SH1)) == va
    assert after[extra].accessible
    assert word(k, upper_entry_pa(k, child, 0x31000, MMU, 0)) == maps[fst].pa | 0x1F
    assert word(k, upper_entry_pa(k, child, 0x31000, SH1, 0)) == maps[snd].pa | 0x1F
    assert word(k, upper_entry_pa(k, child, 0x31000, SH2, 0)) == maps[trd].pa | 0x1F
    ll = word(k, pd_slot_pa(child, 9))
    pairs = [word(k, ll + 4 * i) for i in range(14)]
    assert pairs[:2] == [0, 0]                              # 3 more pairs used, none free
    # the tables are zeroed (word 0 of fst held the chain)
    assert word(k, maps[fst].pa) == 0


def test_prepare_nothing_missing(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    assert api.prepare(desc, 0x20000, 0x77000) == Prepared(True, 0x77000)
    assert k.last_error is None
    refused(k, api.prepare(desc, 0x20000, 0), E.NULL_VADDR, Prepared(False, 0))


def test_prepare_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    a, b, c, d = pool.take(4)
    P = lambda va: Prepared(False, va)        # noqa: E731
    refused(k, api.prepare(src, 0x30000, a), E.NOT_CHILD, P(a))
    refused(k, api.prepare(desc, 0x30000, 0), E.NULL_VADDR, P(0))
    refused(k, api.prepare(desc, 0x30000, UNMAPPED_NO_TABLE), E.NOT_MAPPED,
            P(UNMAPPED_NO_TABLE))
    refused(k, api.prepare(desc, 0x30000, NOT_PRESENT_VA), E.NOT_ACCESSIBLE, P(NOT_PRESENT_VA))
    refused(k, api.prepare(desc, 0x30000, desc), E.NOT_ACCESSIBLE, P(desc))
    chain(k, k.root, [a])                                   # snd null
    refused(k, api.prepare(desc, 0x30000, a), E.NULL_VADDR, P(a))
    chain(k, k.root, [a, UNMAPPED_NO_TABLE])
    refused(k, api.prepare(desc, 0x30000, a), E.NOT_MAPPED, P(a))
    chain(k, k.root, [a, b])                                # trd null
    refused(k, api.prepare(desc, 0x30000, a), E.NULL_VADDR, P(a))
    chain(k, k.root, [a, b, a])
    refused(k, api.prepare(desc, 0x30000, a), E.SAME_VADDR, P(a))
    chain(k, k.root, [a, b, NOT_PRESENT_VA])
    refused(k, api.prepare(desc, 0x30000, a), E.NOT_ACCESSIBLE, P(a))
    chain(k, k.root, [a, b, src])                           # src is derived (shared with C)
    refused(k, api.prepare(desc, 0x30000, a), E.DERIVED, P(a))
    assert k.as_partition(k.root).count_to_map(desc, 0x30000) == 3   # nothing changed


def test_prepare_not_present_returns_snd_or_trd(env):
    """A page that is accessible but not present (corrupted entry) makes prepare return it."""
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    a, b, c = pool.take(3)
    chain(k, k.root, [a, b, c])
    for bad in (b, c):
        pa = entry_pa(k, k.root, bad)
        saved = word(k, pa)
        k.debug_write_word(pa, saved & ~1)
        assert api.prepare(desc, 0x30000, a) == Prepared(False, bad)
        assert k.last_error is E.NOT_PRESENT
        k.debug_write_word(pa, saved)
    assert api.prepare(desc, 0x30000, a).ok


def test_prepare_fourth_page_checks(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    assert prepare_va(k, k.root, desc, 0x30000, pool).ok    # the LL is now full
    a, b, c, d = pool.take(4)
    chain(k, k.root, [a, b, c])
    refused(k, api.prepare(desc, 0x40000, a), E.NULL_VADDR, Prepared(False, a))
    chain(k, k.root, [a, b, c, b])
    refused(k, api.prepare(desc, 0x40000, a), E.SAME_VADDR, Prepared(False, a))
    chain(k, k.root, [a, b, c, NOT_PRESENT_VA])
    refused(k, api.prepare(desc, 0x40000, a), E.NOT_PRESENT, Prepared(False, a))
    chain(k, k.root, [a, b, c, src])
    refused(k, api.prepare(desc, 0x40000, a), E.DERIVED, Prepared(False, a))
    chain(k, k.root, [a, b, c, d])
    assert api.prepare(desc, 0x40000, a) == Prepared(True, 0)
    assert word(k, pd_slot_pa(child, 8)) == d
    assert word(k, pd_slot_pa(child, 9)) == k.mappings(k.root)[d].pa
    assert k.check_invariants() == []


def test_prepare_is_not_atomic_l3():
    k = Kernel(pages=200, table_size=16, levels=3)
    pool = Pool(k, k.root)
    desc, child = make_child(k, k.root, pool)
    api = k.as_partition(k.root)
    va = 0x345000
    assert api.count_to_map(desc, va) == 6
    pages = pool.take(4)
    chain(k, k.root, pages[:3] + [0])                       # enough for one level only
    res = api.prepare(desc, va, pages[0])
    assert res == Prepared(False, 0) and k.last_error is E.NULL_VADDR
    assert k.check_invariants() == []
    # the upper level stays prepared
    assert api.count_to_map(desc, va) == 3
    assert all(not k.mappings(k.root)[p].accessible for p in pages[:3])
    assert len(k.config_pages(child)) == 8
    # finishing the job
    rest = pool.take(3)
    chain(k, k.root, rest)
    assert api.prepare(desc, va, rest[0]) == Prepared(True, 0)
    assert api.count_to_map(desc, va) == 0 and k.check_invariants() == []
    src = pool.take()
    ok(k, api.add_vaddr(src, desc, va, True, True, False))
    assert k.mappings(child)[va].pa == k.mappings(k.root)[src].pa
    # collect both levels back once the leaf is empty
    ok(k, api.remove_vaddr(desc, va))
    ok(k, api.collect(desc, va))
    assert api.count_to_map(desc, va) == 6
    assert k.config_pages(child) == frozenset(k.config_pages(child)) and \
        len(k.config_pages(child)) == 5
    assert all(k.mappings(k.root)[p].accessible for p in pages[:3] + rest)


# ------------------------------------------------------------------ addVAddr / mappedInChild

def test_add_vaddr_effects(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    m = k.mappings(child)[0x20000]
    assert (m.pa, m.r, m.w, m.x, m.accessible) == (k.mappings(k.root)[src].pa, True, True, True,
                                                   True)
    assert k.mappings(k.root)[src].accessible                # vertical sharing
    assert api.mapped_in_child(src) == desc and k.last_error is None
    assert word(k, entry_pa(k, child, 0x20000, SH2)) == src
    other = pool.take()
    ok(k, api.add_vaddr(other, desc, 0x21000, 1, 0, 0))
    m = k.mappings(child)[0x21000]
    assert (m.r, m.w, m.x) == (True, False, False)
    assert word(k, entry_pa(k, child, 0x21000)) == m.pa | 0b00111


def test_add_vaddr_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    a = pool.take()
    refused(k, api.add_vaddr(0, desc, 0x21000, True, True, True), E.NULL_VADDR)
    refused(k, api.add_vaddr(a, 0, 0x21000, True, True, True), E.NULL_VADDR)
    refused(k, api.add_vaddr(KSLOT, desc, 0x21000, True, True, True), E.KERNEL_SLOT)
    refused(k, api.add_vaddr(a, desc, KSLOT, True, True, True), E.KERNEL_SLOT)
    refused(k, api.add_vaddr(a, desc, 0x21000, False, True, True), E.BAD_RIGHTS)
    refused(k, api.add_vaddr(a, src, 0x21000, True, True, True), E.NOT_CHILD)
    refused(k, api.add_vaddr(UNMAPPED_NO_TABLE, desc, 0x21000, True, True, True), E.NOT_MAPPED)
    refused(k, api.add_vaddr(a, desc, 0x31000, True, True, True), E.CHILD_TABLE_MISSING)
    refused(k, api.add_vaddr(src, desc, 0x21000, True, True, True), E.DERIVED)
    refused(k, api.add_vaddr(desc, desc, 0x21000, True, True, True), E.NOT_ACCESSIBLE)
    refused(k, api.add_vaddr(NOT_PRESENT_VA, desc, 0x21000, True, True, True),
            E.NOT_ACCESSIBLE)
    refused(k, api.add_vaddr(a, desc, 0x20000, True, True, True), E.CHILD_VADDR_PRESENT)
    # not present but accessible (corrupted): NOT_PRESENT
    pa = entry_pa(k, k.root, a)
    k.debug_write_word(pa, word(k, pa) & ~1)
    assert api.add_vaddr(a, desc, 0x21000, True, True, True) is False
    assert k.last_error is E.NOT_PRESENT


def test_mapped_in_child_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    refused(k, api.mapped_in_child(UNMAPPED_NO_TABLE), E.NOT_MAPPED, 0)
    refused(k, api.mapped_in_child(NOT_PRESENT_VA), E.NOT_PRESENT, 0)
    refused(k, api.mapped_in_child(desc), E.NOT_ACCESSIBLE, 0)
    assert api.mapped_in_child(pool.take()) == 0 and k.last_error is None


# ------------------------------------------------------------------ removeVAddr

def test_remove_vaddr(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    ok(k, api.remove_vaddr(desc, 0x20000))
    assert k.mappings(child) == {}
    assert api.mapped_in_child(src) == 0
    assert word(k, entry_pa(k, child, 0x20000, SH2)) == 0


def test_remove_vaddr_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    refused(k, api.remove_vaddr(desc, KSLOT), E.KERNEL_SLOT)
    refused(k, api.remove_vaddr(src, 0x20000), E.NOT_CHILD)
    refused(k, api.remove_vaddr(desc, 0x30000), E.CHILD_TABLE_MISSING)
    refused(k, api.remove_vaddr(desc, 0x21000), E.CHILD_PAGE_NOT_PRESENT)
    # the child lends its page to the kernel / shares it with a grandchild
    cpool = Pool(k, child)
    assert cpool.vas == [0x20000]
    other = pool.take(9)
    for i, va in enumerate(other):
        ok(k, api.add_vaddr(va, desc, 0x21000 + i * PAGE_SIZE, True, True, True))
    gdesc, grandchild = make_child(k, child, Pool(k, child))
    refused(k, k.as_partition(k.root).remove_vaddr(desc, gdesc), E.CHILD_PAGE_NOT_ACCESSIBLE)
    gpool = Pool(k, child)
    gsrc = gpool.take()
    map_in_child(k, child, gdesc, gsrc, 0x20000, gpool)
    refused(k, k.as_partition(k.root).remove_vaddr(desc, gsrc), E.CHILD_PAGE_DERIVED)
    # corrupted: child's sh2 says the page comes from a VA without sh1 table in the root
    spare = Pool(k, child).take()
    k.debug_write_word(entry_pa(k, child, spare, SH2), UNMAPPED_NO_TABLE)
    assert k.as_partition(k.root).remove_vaddr(desc, spare) is False
    assert k.last_error is E.INCONSISTENT_STATE


# ------------------------------------------------------------------ deletePartition

def test_delete_partition(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    assert prepare_va(k, k.root, desc, 0x30000, pool).ok
    assert prepare_va(k, k.root, desc, 0x40000, pool).ok    # a second LL page
    before = Pool(k, k.root).vas
    ok(k, api.delete_partition(desc))
    assert k.partitions() == [k.root]
    assert all(m.accessible for m in k.mappings(k.root).values())
    after = Pool(k, k.root).vas
    assert len(after) == len(before) + 5 + 9 + 1 + 1       # + the shared page src
    refused(k, api.delete_partition(desc), E.NOT_CHILD)


def test_delete_partition_loses_grandchildren_pages(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    given = pool.take(5)
    for i, va in enumerate(given):
        ok(k, api.add_vaddr(va, desc, 0x21000 + i * PAGE_SIZE, True, True, True))
    gdesc, grandchild = make_child(k, child, Pool(k, child))
    assert k.partitions() == [k.root, child, grandchild]
    lost = [va for va in given + [src] if not k.mappings(k.root)[va].accessible]
    assert len(lost) == 5                      # grandchild's kernel pages: inaccessible up here
    ok(k, api.delete_partition(desc))
    assert k.partitions() == [k.root]
    maps = k.mappings(k.root)
    for va in lost:
        assert not maps[va].accessible          # present, not accessible, not derived: lost
        assert word(k, entry_pa(k, k.root, va, SH1)) == 0
        assert api.mapped_in_child(va) == 0 and k.last_error is E.NOT_ACCESSIBLE


def test_delete_partition_inconsistent(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    refused(k, api.delete_partition(src), E.NOT_CHILD)


# ------------------------------------------------------------------ collect

def test_collect(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    assert api.collect(desc, 0x20000) is True and k.last_error is None   # table not empty
    assert len(k.config_pages(child)) == 8
    ok(k, api.remove_vaddr(desc, 0x20000))
    ll_page = word(k, pd_slot_pa(child, 9))
    ok(k, api.collect(desc, 0x2F000))
    assert len(k.config_pages(child)) == 5
    assert [word(k, ll_page + 4 * i) for i in range(2)] == [6, 6]   # pairs freed (LIFO)
    assert all(m.accessible for m in k.mappings(k.root).values() if m.pa // PAGE_SIZE
               not in k.config_pages(child) and m.pa // PAGE_SIZE != child.pd)
    refused(k, api.collect(desc, 0x20000), E.CHILD_TABLE_MISSING)
    # and the tables can be prepared again
    assert prepare_va(k, k.root, desc, 0x20000, pool).ok


def test_collect_failures(env):
    k, pool, desc, child, src = env
    api = k.as_partition(k.root)
    refused(k, api.collect(desc, KSLOT), E.KERNEL_SLOT)
    refused(k, api.collect(src, 0x20000), E.NOT_CHILD)
    refused(k, api.collect(desc, 0x50000), E.CHILD_TABLE_MISSING)
    ok(k, api.remove_vaddr(desc, 0x20000))
    # corrupted LL: the pair of the MMU table disappears
    ll_page = word(k, pd_slot_pa(child, 9))
    k.debug_write_word(ll_page + 4 * 3, 0)
    assert api.collect(desc, 0x20000) is False and k.last_error is E.INCONSISTENT_STATE
    assert len(k.config_pages(child)) == 8      # nothing changed at that level
