"""Policies "pip" and "hardened" and device pages (kernel.md §9): for each weak spot, the attack
succeeds under pip (Pip's invariants hold, check_extra_properties names what broke) and hardened
refuses it with the documented reason, in the documented order, changing nothing."""
import struct

import pytest

from pipsim.kernel.abi import POLICIES, PTE_ACCESSIBLE, PipError as E
from pipsim.kernel.model import Kernel

from pipmodel_helpers import (PAGE, Family, Pool, chain, entry_pa, map_in_child, prepare_va,
                              state_of)

POLICY = pytest.mark.parametrize("policy", POLICIES)


def attack(f, api, call):
    """``call(api)`` under f's policy: under pip it must succeed with Pip's invariants intact;
    under hardened it must be refused without changing anything.  Returns its result."""
    k = f.k
    before = state_of(k)
    result = call(api)
    assert k.check_invariants() == []
    if k.policy == "pip":
        assert result and k.last_error is None
    else:
        assert not result and state_of(k) == before
    return result


# ------------------------------------------------------------------ the API


def test_policy_argument():
    assert Kernel(pages=64, table_size=16, levels=2).policy == "pip"
    assert Kernel(pages=64, table_size=16, levels=2, policy="hardened").policy == "hardened"
    with pytest.raises(ValueError, match="pip, hardened"):
        Kernel(pages=64, table_size=16, levels=2, policy="strict")
    with pytest.raises(TypeError, match="policy must be a str"):
        Kernel(pages=64, table_size=16, levels=2, policy=1)
    k = Kernel(pages=64, table_size=16, levels=2)
    with pytest.raises(AttributeError):
        k.policy = "hardened"
    assert "policy='pip'" in repr(k)


@POLICY
def test_mark_device(policy):
    k = Kernel(pages=64, table_size=16, levels=2, policy=policy)
    before = state_of(k)
    assert k.device_pages() == frozenset()
    k.mark_device(40)
    k.mark_device(40)                              # idempotent
    k.mark_device(63)
    assert k.device_pages() == frozenset({40, 63}) and isinstance(k.device_pages(), frozenset)
    assert state_of(k) == before                   # no page table changes
    assert k.check_invariants() == [] and k.check_extra_properties() == []
    for bad, exc, text in [(0, ValueError, "1 <= page < 64"), (64, ValueError, "got 64"),
                           (-1, ValueError, "got -1"), (True, TypeError, "not bool"),
                           (40.0, TypeError, "not float"), ("40", TypeError, "page must be")]:
        with pytest.raises(exc, match=text):
            k.mark_device(bad)
    assert k.device_pages() == frozenset({40, 63})


# ------------------------------------------------------------------ (b) addVAddr rights


@pytest.mark.parametrize("va_name, w, e", [("ro", 1, 0), ("ro", 0, 1), ("ro", 1, 1),
                                           ("rx", 1, 0), ("dev", 0, 1)])
@POLICY
def test_rights_amplified(policy, va_name, w, e):
    f = Family(policy)
    k = f.k
    gdesc, g = f.grandchild()
    prepare_va(k, f.child, gdesc, 0x20000, f.cpool)
    va = getattr(f, va_name)
    attack(f, f.capi, lambda a: a.add_vaddr(va, gdesc, 0x20000, 1, w, e))
    if policy == "pip":
        assert k.check_extra_properties() == ["rightsMonotonicity"]
        if w:                                      # the grandchild writes a read-only page
            k.as_partition(g).write(0x20000, b"pwned")
            assert f.root.read(f.src[va], 5) == b"pwned"
    else:
        assert k.last_error is E.RIGHTS_AMPLIFIED
        assert k.check_extra_properties() == []


def test_rights_kept_or_reduced_are_accepted():
    f = Family("hardened")
    k = f.k
    gdesc, g = f.grandchild()
    lends = [(f.ro, 0, 0), (f.rx, 0, 1), (f.dev, 1, 0), (f.cpool.take(), 1, 1)]
    for i, (va, w, e) in enumerate(lends):
        prepare_va(k, f.child, gdesc, 0x20000 + i * PAGE, f.cpool)
        assert f.capi.add_vaddr(va, gdesc, 0x20000 + i * PAGE, 1, w, e), k.last_error
    assert [(m.w, m.x) for _va, m in sorted(k.mappings(g).items())] == [
        (False, False), (False, True), (True, False), (True, True)]
    assert k.check_invariants() == [] and k.check_extra_properties() == []


def test_rights_amplified_check_order():
    """After NOT_PRESENT (and DERIVED / NOT_ACCESSIBLE), before CHILD_VADDR_PRESENT."""
    f = Family("hardened")
    k = f.k
    gdesc, g = f.grandchild()
    prepare_va(k, f.child, gdesc, 0x20000, f.cpool)
    assert f.capi.add_vaddr(f.ro, gdesc, 0x20000, 1, 0, 0)
    assert not f.capi.add_vaddr(f.ro, gdesc, 0x21000, 1, 1, 0)
    assert k.last_error is E.DERIVED
    assert not f.capi.add_vaddr(f.rx, gdesc, 0x20000, 1, 1, 0)  # 0x20000 present in G
    assert k.last_error is E.RIGHTS_AMPLIFIED
    assert not f.capi.add_vaddr(f.rx, gdesc, 0x20000, 1, 0, 1)
    assert k.last_error is E.CHILD_VADDR_PRESENT
    accessible_only = k.geometry.root_va_start + 19 * PAGE      # not present, yet accessible
    k.debug_write_word(entry_pa(k, f.child, accessible_only), PTE_ACCESSIBLE)
    assert not f.capi.add_vaddr(accessible_only, gdesc, 0x21000, 1, 1, 1)
    assert k.last_error is E.NOT_PRESENT


# ------------------------------------------------------------------ (c) kernel structures


@pytest.mark.parametrize("position", range(5))
@pytest.mark.parametrize("va_name, reason, broken", [
    ("ro", E.NOT_WRITABLE, ["configPagesWritableInParent"]),
    ("rx", E.NOT_WRITABLE, ["configPagesWritableInParent"]),
    ("dev", E.DEVICE_PAGE, ["noDeviceConfigPages"])])
@POLICY
def test_create_partition_kernel_pages(policy, va_name, reason, broken, position):
    f = Family(policy)
    k = f.k
    vas = f.cpool.take(5)
    vas[position] = getattr(f, va_name)
    attack(f, f.capi, lambda a: a.create_partition(*vas))
    if policy == "pip":
        assert len(k.children(f.child)) == 1
        assert k.check_extra_properties() == broken
    else:
        assert k.last_error is reason and k.check_extra_properties() == []


def test_create_partition_check_order():
    """6b comes after every DERIVED check; per VA (desc, pd, sh1, sh2, ll): W, then device."""
    f = Family("hardened")
    k = f.k
    gdesc, _g = f.grandchild()
    shared = f.cpool.take()
    map_in_child(k, f.child, gdesc, shared, 0x20000, f.cpool)
    a, b, c = f.cpool.take(3)
    cases = [((f.ro, shared, a, b, c), E.DERIVED),
             ((f.dev, f.ro, a, b, c), E.DEVICE_PAGE),
             ((a, f.ro, f.dev, b, c), E.NOT_WRITABLE),
             ((a, b, c, f.rx, f.dev), E.NOT_WRITABLE),
             ((a, b, c, f.dev, f.ro), E.DEVICE_PAGE)]
    for vas, reason in cases:
        assert not f.capi.create_partition(*vas)
        assert k.last_error is reason, vas
    assert k.check_invariants() == [] and k.check_extra_properties() == []


def test_root_device_page_and_hardened_success():
    """The root's own device page cannot become a kernel structure; plain RAM can."""
    k = Kernel(pages=128, table_size=16, levels=2, policy="hardened")
    pool = Pool(k, k.root)
    api = k.as_partition(k.root)
    vas = pool.take(5)
    k.mark_device(k.mappings(k.root)[vas[2]].pa // PAGE)
    assert not api.create_partition(*vas) and k.last_error is E.DEVICE_PAGE
    assert api.create_partition(*vas[:2], pool.take(), *vas[3:]), k.last_error
    assert k.check_invariants() == [] and k.check_extra_properties() == []


@pytest.mark.parametrize("chain_names, reason, broken", [
    (("dev", "rw", "rw"), E.DEVICE_PAGE, ["noDeviceConfigPages"]),
    (("rw", "dev", "rw"), E.DEVICE_PAGE, ["noDeviceConfigPages"]),
    (("rw", "rw", "ro"), E.NOT_WRITABLE, ["configPagesWritableInParent"]),
    (("dev", "rw", "ro"), E.DEVICE_PAGE, ["configPagesWritableInParent",
                                         "noDeviceConfigPages"])])
@POLICY
def test_prepare_kernel_pages(policy, chain_names, reason, broken):
    """fst, snd, trd in that order; a read-only trd ends the chain (C cannot write word 0)."""
    f = Family(policy)
    k = f.k
    gdesc, _g = f.grandchild()
    vas = [getattr(f, n) if n != "rw" else f.cpool.take() for n in chain_names]
    for va, nxt in zip(vas[:2], vas[1:]):
        f.capi.write(va, struct.pack("<I", nxt))
    f.root.write(f.src[vas[2]], struct.pack("<I", 0))  # trd's word 0 through the root
    result = attack(f, f.capi, lambda a: a.prepare(gdesc, 0x20000, vas[0]))
    if policy == "pip":
        assert k.check_extra_properties() == broken
    else:
        assert tuple(result) == (False, vas[0]) and k.last_error is reason
        assert k.check_extra_properties() == []


def _fill_ll(f, gdesc):
    """Prepare G's VAs until its LL page has fewer than 3 free pairs (the next prepare needs
    a fourth page)."""
    k = f.k
    va = 0x20000
    while f.capi.count_to_map(gdesc, va + 0x10000) != 4:
        assert prepare_va(k, f.child, gdesc, va, f.cpool)
        va += 0x10000
    return va + 0x10000


@pytest.mark.parametrize("fth_name, reason, broken", [
    ("ro", E.NOT_WRITABLE, ["configPagesWritableInParent"]),
    ("dev", E.DEVICE_PAGE, ["noDeviceConfigPages"])])
@POLICY
def test_prepare_fourth_page(policy, fth_name, reason, broken):
    f = Family(policy)
    k = f.k
    gdesc, _g = f.grandchild()
    target = _fill_ll(f, gdesc)
    fth = getattr(f, fth_name)
    vas = f.cpool.take(3) + [fth]
    chain(k, f.child, vas)
    f.root.write(f.src[fth], struct.pack("<I", 0))
    result = attack(f, f.capi, lambda a: a.prepare(gdesc, target, vas[0]))
    if policy == "pip":
        assert k.check_extra_properties() == broken
        assert fth in {va for va, m in k.mappings(f.child).items() if not m.accessible}
    else:
        assert tuple(result) == (False, vas[0]) and k.last_error is reason


def test_prepare_fourth_page_check_order():
    """fth's W / device checks come after its DERIVED check."""
    f = Family("hardened")
    k = f.k
    gdesc, _g = f.grandchild()
    target = _fill_ll(f, gdesc)
    map_in_child(k, f.child, gdesc, f.ro, 0x20000, f.cpool, w=False, e=False)
    vas = f.cpool.take(3) + [f.ro]
    chain(k, f.child, vas)
    assert f.capi.prepare(gdesc, target, vas[0]) == (False, vas[0])
    assert k.last_error is E.DERIVED


def test_prepare_keeps_upper_levels():
    """L = 3: the upper level is made, then the leaf level is refused (Pip is not atomic)."""
    f = Family("hardened", levels=3)
    k = f.k
    gdesc, g = f.grandchild()
    va = k.geometry.root_va_start
    assert f.capi.count_to_map(gdesc, va) == 6
    vas = f.cpool.take(5) + [f.ro]
    chain(k, f.child, vas)
    f.root.write(f.src[f.ro], struct.pack("<I", 0))
    assert f.capi.prepare(gdesc, va, vas[0]) == (False, vas[3])
    assert k.last_error is E.NOT_WRITABLE
    assert f.capi.count_to_map(gdesc, va) == 3 and len(k.config_pages(g)) == 8
    assert k.check_invariants() == [] and k.check_extra_properties() == []


# ------------------------------------------------------------------ (a) and (d): control flow

VIDT = 0xFF000
CLI, STI = 13, 14                                   # ts = 16


def ctx(pc, pipflags=0):
    return [pc, pipflags, 0, 0] + list(range(16))


class Control(Family):
    """A Family whose C has a VIDT; the root's VIDT slot 13 and 14 name contexts in its pages."""

    def __init__(self, policy):
        super().__init__(policy)
        self.cvidt = self.pool.take()
        map_in_child(self.k, self.k.root, self.desc, self.cvidt, VIDT, self.pool)
        self.handler = self.pool.take()
        self.root.write(self.handler, struct.pack("<20I", *ctx(0x600D)))
        for slot in (CLI, STI, 8):
            self.root.write(VIDT + 4 * slot, struct.pack("<I", self.handler))
        self.capi.write(self.rw[0], struct.pack("<20I", *ctx(0xC0DE)))
        assert self.k.check_invariants() == [] and self.k.check_extra_properties() == []

    def set_child_slot(self, slot, va):
        self.root.write(self.cvidt + 4 * slot, struct.pack("<I", va))

    def saved(self, va):
        """The 20 words at C's VA (C may read every page it has)."""
        return list(struct.unpack("<20I", self.capi.read(va, 80)))


@pytest.mark.parametrize("save", ["ro", "rx", "straddle"])
@POLICY
def test_yield_save_not_writable(policy, save):
    f = Control(policy)
    k = f.k
    # "straddle": the first bytes on rw[15], the last on the read-only page after it
    va = f.rw[15] + PAGE - 0x20 if save == "straddle" else getattr(f, save)
    f.set_child_slot(CLI, va)
    k.cpu_context = ctx(0xBAD)
    attack(f, f.capi, lambda a: a.yield_(0, STI, CLI, 0, 0) == 0)
    assert k.check_extra_properties() == ["saveSlotsWritable"]   # under either policy
    if policy == "pip":
        assert k.current == k.root and f.saved(va)[0] == 0xBAD       # written where C cannot
    else:
        assert k.last_error is E.CALLER_CONTEXT_SAVE and k.current == k.root   # unmoved


@POLICY
def test_yield_save_writable(policy):
    f = Control(policy)
    k = f.k
    f.set_child_slot(CLI, f.rw[1])
    k.cpu_context = ctx(0xAB)
    assert f.capi.yield_(0, STI, CLI, 0, 0) == 0 and k.current == k.root
    assert f.saved(f.rw[1])[0] == 0xAB and k.cpu_context[0] == 0x600D
    assert k.check_invariants() == [] and k.check_extra_properties() == []


@POLICY
def test_dispatch_save_not_writable_is_skipped(policy):
    """hardened: dispatch's save is skipped when its slot is not writable (§9 (a))."""
    f = Control(policy)
    k = f.k
    f.set_child_slot(CLI, f.ro)
    before = f.saved(f.ro)
    k.cpu_context = ctx(0xBAD)
    assert f.capi.dispatch(0, CLI, 0, 7, 9) == 0 and k.last_error is None
    assert k.current == k.root and k.cpu_context[0] == 0x600D
    assert (f.saved(f.ro) == before) == (policy == "hardened")
    assert k.check_invariants() == []


def test_dispatch_unusable_save_still_refused():
    """A slot that is not even "ctx ok" still refuses dispatch (§6), under hardened too."""
    f = Control("hardened")
    f.set_child_slot(CLI, 0x5000)
    assert f.capi.dispatch(0, CLI, 0, 7, 9) == 9 and f.k.last_error is E.CALLER_CONTEXT_SAVE


@pytest.mark.parametrize("call", ["yield", "dispatch"])
@POLICY
def test_reserved_vector(policy, call):
    """A child names vector 8 (double fault) in its parent: forged under pip."""
    f = Control(policy)
    k = f.k

    def forge(api):
        if call == "yield":
            return api.yield_(0, 8, 0, 0, 0)
        return api.dispatch(0, 8, 0, 14, 0x12345000)
    attack(f, f.capi, lambda a: forge(a) == 0)
    if policy == "pip":
        assert k.current == k.root and k.cpu_context[0] == 0x600D
        if call == "dispatch":                    # r0, r1 read as (page fault, source)
            assert k.cpu_context[4:6] == (14, 0x12345000)
    else:
        assert forge(f.capi) == 10 and k.last_error is E.RESERVED_VECTOR


def test_reserved_vector_check_order():
    """Step 3b: after the index and target checks, before the caller's VIDT."""
    f = Family("hardened")                         # C has no VIDT
    k = f.k
    assert f.capi.yield_(0, 15, 0, 0, 0) == 1      # INVALID_INT_LEVEL first
    assert f.capi.yield_(0x5000, 8, 0, 0, 0) == 4  # INVALID_CHILD: the target is unknown
    assert f.capi.yield_(0, 8, 0, 0, 0) == 10 and k.last_error is E.RESERVED_VECTOR
    assert f.capi.dispatch(0, 12, 0, 0, 0) == 10
    assert f.capi.yield_(0, CLI, 0, 0, 0) == 6     # the save slots and above are not reserved
    assert f.root.yield_(0, 8, 0, 0, 0) == 3       # ROOT_CALLER before 3b
    assert f.root.yield_(f.desc, 8, 0, 0, 0) == 5  # parent -> child: any vector
    assert f.root.dispatch(f.desc, 0, 0, 0, 0) == 5


@POLICY
def test_dispatch_registers(policy):
    f = Control(policy)
    k = f.k
    assert f.capi.dispatch(0, STI, 0, 0xD1, 0xD2) == 0
    regs = k.cpu_context[4:8]
    if policy == "pip":
        assert regs == (0xD1, 0xD2, f.desc, 3)     # r3: the handler context's own
    else:
        assert regs == (STI, f.desc, 0xD1, 0xD2)
    f.set_child_slot(5, f.rw[0])                   # and back down: identity 0
    assert f.root.dispatch(f.desc, 5, 0, 0xE1, 0xE2) == 0 and k.current == f.child
    expected = (0xE1, 0xE2, 0, 3) if policy == "pip" else (5, 0, 0xE1, 0xE2)
    assert k.cpu_context[4:8] == expected
