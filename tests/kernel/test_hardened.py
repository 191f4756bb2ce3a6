"""Pip's weak spots (docs/kernel.md §9 (a)-(d)): under "pip" each attack succeeds, Pip's
properties still hold and check_extra_properties() (§10) flags what it broke; under
"hardened" the call is refused with its reason and changes nothing."""
import pytest

from policy_helpers import Family, context, run_attack, unpack, word
from pipsim.kernel import Prepared, PipError
from pipsim.kernel.abi import (CONTEXT_SIZE, CTX_PC, CTX_REGS, CTX_VALID, PAGE_SIZE, POLICIES,
                           cli_sti_save_indices)
from pipsim.kernel.wrappers import create_child, map_page

E = PipError


@pytest.fixture(params=POLICIES)
def k(make_kernel, request):
    return make_kernel(pages=200, table_size=16, levels=2, policy=request.param)


@pytest.fixture
def fam(k):
    return Family(k, pool=14)


# ---------------------------------------------------------------- (a) context saves

CTX, READ_ONLY, CODE, WRITABLE = 0x4000, 0x5000, 0x6000, 0x7000
FAULT = 6                                   # a vector below the save slots, as for every fault


class Control(Family):
    """The child has a VIDT, a context at CTX (its VIDT slot 0), a read-only page, a code
    page and a writable page; the root has handlers (VIDT slots STI, FAULT and 8 -> root_ctx)
    and its CLI save area at root_save."""

    def __init__(self, k):
        super().__init__(k, pool=0)
        g = self.g
        self.cli, self.sti = cli_sti_save_indices(g.table_size)
        self.lend(g.vidt_va)
        self.lend(CTX)
        self.lend(READ_ONLY, w=False)
        self.lend(CODE, w=False, e=True)
        self.lend(WRITABLE)
        self.capi.write(CTX, context(0x1234, regs=[7, 8, 9, 10]))
        self.slot(self.capi, 0, CTX)
        self.root_ctx, self.root_save = self.alloc.alloc(), self.alloc.alloc()
        self.api.write(self.root_ctx, context(0xAAAA, regs=[1, 2, 3, 4]))
        for vector in (self.sti, FAULT, 8):
            self.slot(self.api, vector, self.root_ctx)
        self.slot(self.api, self.cli, self.root_save)

    def slot(self, api, index, va):
        api.write(self.g.vidt_va + 4 * index, word(va))


@pytest.fixture
def ctl(k):
    return Control(k)


def written_by_the_kernel(ctl, area, pc):
    """The context the kernel saved at area (a page the child may not write), if any."""
    assert ctl.capi.translate(area, "w") is None
    saved = unpack(ctl.capi.read(area, CONTEXT_SIZE))
    return saved[CTX_PC] == pc and saved[CTX_VALID] == 1 and saved[CTX_REGS] == 5


@pytest.mark.parametrize("area", [READ_ONLY, CODE])
def test_yield_saves_a_context_only_where_the_caller_may_write(k, ctl, area):
    ctl.slot(ctl.capi, ctl.cli, area)
    k.cpu_context = unpack(context(0xC0DE, regs=[5]))
    # saveSlotsWritable is about the child's own VIDT: flagged under both policies
    run_attack(k, lambda: ctl.capi.yield_(0, ctl.sti, ctl.cli, 0, 3), refused=9,
               reason=E.CALLER_CONTEXT_SAVE, flags=["saveSlotsWritable"],
               hardened_flags=["saveSlotsWritable"])
    assert k.current == k.root        # pip: the parent runs; hardened: nothing moved
    assert written_by_the_kernel(ctl, area, 0xC0DE) == (k.policy == "pip")
    assert (ctl.capi.translate(area, "x") is not None) == (area == CODE)   # code runs it


@pytest.mark.parametrize("area", [READ_ONLY, CODE])
def test_dispatch_skips_a_save_where_the_caller_may_not_write(k, ctl, area):
    """§9 (a) lists dispatch with the saves of interrupted partitions: skipped, not refused."""
    ctl.slot(ctl.capi, ctl.cli, area)                  # the child's state is 0: its CLI slot
    k.cpu_context = unpack(context(0xC0DE, regs=[5]))
    assert ctl.capi.dispatch(0, ctl.sti, 0, 0, 0) == 0 and k.current == k.root
    assert written_by_the_kernel(ctl, area, 0xC0DE) == (k.policy == "pip")
    assert k.check_invariants() == [] and k.check_extra_properties() == ["saveSlotsWritable"]
    ctl.slot(ctl.capi, ctl.cli, 0x9000)                # not even "ctx ok": refused by both
    assert ctl.capi.dispatch(0, ctl.sti, 0, 0, 0) == 9 and k.last_error == E.CALLER_CONTEXT_SAVE


def test_a_save_area_needs_both_its_pages_writable(k, ctl):
    ctl.slot(ctl.capi, ctl.cli, WRITABLE)
    assert ctl.capi.yield_(0, ctl.sti, ctl.cli, 0, 0) == 0 and k.current == k.root
    assert k.check_extra_properties() == []
    # from the end of the (writable) CTX page into the read-only page after it
    assert READ_ONLY == CTX + PAGE_SIZE
    ctl.slot(ctl.capi, ctl.sti, READ_ONLY - 8)
    assert k.check_extra_properties() == ["saveSlotsWritable"]
    assert ctl.capi.yield_(0, ctl.sti, ctl.sti, 0, 0) == (0 if k.policy == "pip" else 9)


@pytest.mark.parametrize("make_kernel", ["c"], indirect=True)
def test_an_interrupted_context_is_not_saved_where_it_may_not_be_written(k, ctl):
    """The C core only: the reference model has no interrupt delivery (the machine, which
    delivers faults and interrupts, runs on the C core)."""
    ctl.slot(ctl.capi, ctl.cli, READ_ONLY)
    assert ctl.api.yield_(ctl.desc, 0, 0, 0, 0) == 0 and k.current == ctl.child
    k.cpu_context = unpack(context(0xFA17, regs=[5]))
    assert k.deliver_fault(FAULT, 0x9000, 1) == k.root          # the handler runs either way
    assert k.cpu_context[CTX_PC] == 0xAAAA and k.cpu_context[CTX_REGS] == FAULT
    assert written_by_the_kernel(ctl, READ_ONLY, 0xFA17) == (k.policy == "pip")
    assert k.check_invariants() == []


# ---------------------------------------------------------------- (b) rights amplification

@pytest.mark.parametrize("held, asked, access", [((False, False), (True, False), "w"),
                                                  ((True, False), (False, True), "x")])
def test_add_vaddr_never_amplifies_rights(k, fam, held, asked, access):
    src = fam.lend(0x3000, *held)
    gdesc = fam.grandchild()
    map_page(fam.capi, fam.calloc, gdesc, fam.calloc.alloc(), 0x4000)   # tables for 0x3000
    grandchild = k.children(fam.child)[0]
    run_attack(k, lambda: fam.capi.add_vaddr(0x3000, gdesc, 0x3000, True, *asked),
               refused=False, reason=E.RIGHTS_AMPLIFIED, flags=["rightsMonotonicity"])
    gapi = k.as_partition(grandchild)
    assert (gapi.translate(0x3000, access) is not None) == (k.policy == "pip")
    if access == "w" and k.policy == "pip":
        gapi.write(0x3000, b"owned")                   # the page the child may only read
        assert fam.api.read(src, 5) == b"owned"
    if k.policy == "hardened":          # what the child holds it may pass on
        assert fam.capi.add_vaddr(0x3000, gdesc, 0x3000, True, *held)
        assert k.check_extra_properties() == []


def test_rights_amplified_order(k, fam):
    """addVAddr step 8: derived, not accessible, not present, RIGHTS_AMPLIFIED,
    CHILD_VADDR_PRESENT."""
    fam.lend(0x3000, w=False)
    gdesc = fam.grandchild()
    map_page(fam.capi, fam.calloc, gdesc, fam.calloc.alloc(), 0x4000)
    amplify = (True, True, False)
    assert fam.capi.add_vaddr(0x3000, gdesc, 0x4000, *amplify) is False
    assert k.last_error == (E.RIGHTS_AMPLIFIED if k.policy == "hardened"
                            else E.CHILD_VADDR_PRESENT)
    assert fam.capi.add_vaddr(0x3000, gdesc, 0x4000, True, False, False) is False
    assert k.last_error == E.CHILD_VADDR_PRESENT
    assert fam.capi.add_vaddr(0x6000, gdesc, 0x5000, *amplify) is False    # absent: PTE 0
    assert k.last_error == E.NOT_ACCESSIBLE
    assert fam.capi.add_vaddr(0x3000, gdesc, 0x5000, True, False, False)
    assert fam.capi.add_vaddr(0x3000, gdesc, 0x6000, *amplify) is False
    assert k.last_error == E.DERIVED


# ---------------------------------------------------------------- (c) kernel structures

MARK = 0xDEADBEEF
ARGS = ("desc", "pd", "sh1", "sh2", "ll")


@pytest.mark.parametrize("which", range(5), ids=ARGS)
def test_create_partition_from_a_read_only_page(k, fam, which):
    vas = [0x1000 * (i + 1) for i in range(5)]
    srcs = [fam.lend(va, w=i != which, first_word=MARK) for i, va in enumerate(vas)]
    run_attack(k, lambda: fam.capi.create_partition(*vas), refused=False,
               reason=E.NOT_WRITABLE, flags=["configPagesWritableInParent"])
    taken = k.debug_read_word(fam.pa(srcs[which])) != MARK
    assert taken == (k.policy == "pip")                 # the page the child could only read
    assert fam.k.mappings(k.root)[srcs[which]].accessible == (k.policy == "hardened")


@pytest.mark.parametrize("which", range(5), ids=ARGS)
def test_create_partition_from_a_device_page(k, which):
    fam = Family(k, pool=0)
    vas = [fam.alloc.alloc() for _ in range(5)]
    fam.mark_device(vas[which])
    run_attack(k, lambda: fam.api.create_partition(*vas), refused=False, reason=E.DEVICE_PAGE,
               flags=["noDeviceConfigPages"])


@pytest.mark.parametrize("rights, devices, reason", [
    ((0, 1, 1, 1, 1), (1,), E.NOT_WRITABLE),       # desc read-only before pd a device
    ((1, 0, 1, 1, 1), (0,), E.DEVICE_PAGE),        # desc a device before pd read-only
    ((1, 0, 1, 1, 1), (1,), E.NOT_WRITABLE),       # one page: W is tested first
    ((1, 1, 1, 1, 0), (3,), E.DEVICE_PAGE),        # in the order desc, pd, sh1, sh2, ll
])
def test_create_partition_hardened_order(k, fam, rights, devices, reason):
    vas = [0x1000 * (i + 1) for i in range(5)]
    srcs = [fam.lend(va, w=bool(w)) for va, w in zip(vas, rights)]
    for i in devices:
        fam.mark_device(srcs[i])
    ok = fam.capi.create_partition(*vas)
    assert (ok, k.last_error) == ((True, None) if k.policy == "pip" else (False, reason))


def test_create_partition_derived_before_not_writable(k, fam):
    gdesc = fam.grandchild()
    shared = fam.calloc.alloc()
    map_page(fam.capi, fam.calloc, gdesc, shared, 0x3000)
    fam.lend(0x1000, w=False)
    free = [fam.calloc.alloc() for _ in range(3)]
    assert fam.capi.create_partition(0x1000, shared, *free) is False
    assert k.last_error == E.DERIVED


def chain_through(fam, positions, read_only=(), devices=()):
    """Lend the child pages at `positions` linked as prepare's free list (word 0 = the next
    VA, written by the root), read-only or device pages where asked; returns the first."""
    for i, va in enumerate(positions):
        nxt = positions[i + 1] if i + 1 < len(positions) else 0
        src = fam.lend(va, w=i not in read_only, first_word=nxt)
        if i in devices:
            fam.mark_device(src)
    return positions[0]


TABLE_PAGES = [0x1000, 0x2000, 0x3000]
#: a kind of page unfit for kernel structures: chain_through's argument, reason, §10 property
KINDS = {"read-only": ("read_only", E.NOT_WRITABLE, "configPagesWritableInParent"),
         "device": ("devices", E.DEVICE_PAGE, "noDeviceConfigPages")}


@pytest.mark.parametrize("which", range(3), ids=["fst", "snd", "trd"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_prepare_takes_tables_from_writable_ram_only(k, fam, which, kind):
    arg, reason, prop = KINDS[kind]
    first = chain_through(fam, TABLE_PAGES, **{arg: (which,)})
    gdesc = fam.grandchild()
    result = run_attack(k, lambda: fam.capi.prepare(gdesc, 0x8000, first),
                        refused=Prepared(False, first), reason=reason, flags=[prop])
    assert result.ok == (k.policy == "pip")


def ll_full(fam):
    """ts=16: an LL page holds two prepares; a grandchild whose third one needs a fourth
    page.  Returns (its descriptor VA, the VA to prepare)."""
    gdesc = fam.grandchild()
    for va in (0x8000, 2 * fam.g.slot_size):
        map_page(fam.capi, fam.calloc, gdesc, fam.calloc.alloc(), va)
    target = 3 * fam.g.slot_size
    assert fam.capi.count_to_map(gdesc, target) == 4
    return gdesc, target


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_prepare_takes_a_new_ll_page_from_writable_ram_only(k, fam, kind):
    arg, reason, prop = KINDS[kind]
    gdesc, target = ll_full(fam)
    first = chain_through(fam, TABLE_PAGES + [0x4000], **{arg: (3,)})
    run_attack(k, lambda: fam.capi.prepare(gdesc, target, first),
               refused=Prepared(False, first), reason=reason, flags=[prop])


@pytest.mark.parametrize("read_only, devices, reason", [
    ((1,), (0,), E.DEVICE_PAGE),                   # fst's two checks before snd's
    ((0,), (0,), E.NOT_WRITABLE),                  # W before device on one page
    ((2,), (1,), E.DEVICE_PAGE),
])
def test_prepare_hardened_order(k, fam, read_only, devices, reason):
    first = chain_through(fam, TABLE_PAGES, read_only=read_only, devices=devices)
    gdesc = fam.grandchild()
    result = fam.capi.prepare(gdesc, 0x8000, first)
    expected = (Prepared(True, 0), None) if k.policy == "pip" else (Prepared(False, first), reason)
    assert (result, k.last_error) == expected


def test_prepare_derived_before_not_writable(k, fam):
    gdesc = fam.grandchild()
    shared = fam.calloc.alloc()
    map_page(fam.capi, fam.calloc, gdesc, shared, 0x8000)
    fam.lend(0x1000, w=False, first_word=shared)
    fam.capi.write(shared, word(0x2000))
    fam.lend(0x2000)
    assert fam.capi.prepare(gdesc, 2 * fam.g.slot_size, 0x1000) == Prepared(False, 0x1000)
    assert k.last_error == E.DERIVED


def test_prepare_checks_its_three_pages_before_looking_for_a_fourth(k, fam):
    """The LL page is full and trd, read-only, links to nothing: hardened refuses trd before
    the fourth-page path would find the null link."""
    gdesc, target = ll_full(fam)
    first = chain_through(fam, TABLE_PAGES, read_only=(2,))
    reason = E.NULL_VADDR if k.policy == "pip" else E.NOT_WRITABLE
    assert (fam.capi.prepare(gdesc, target, first), k.last_error) == (Prepared(False, first),
                                                                      reason)


def test_prepare_fourth_page_derived_before_not_writable(k, fam):
    """The fourth page is read-only and already given to the grandchild: DERIVED first."""
    gdesc, target = ll_full(fam)
    fam.lend(0x4000, w=False)
    map_page(fam.capi, fam.calloc, gdesc, 0x4000, 0x9000, w=False)
    for va, nxt in zip(TABLE_PAGES, TABLE_PAGES[1:] + [0x4000]):
        fam.lend(va, first_word=nxt)
    assert fam.capi.prepare(gdesc, target, 0x1000) == Prepared(False, 0x1000)
    assert k.last_error == E.DERIVED


def test_hardened_prepare_is_not_atomic_across_levels(make_kernel):
    """L=3: the upper level built from writable pages stays when the leaf level is refused."""
    k = make_kernel(pages=300, table_size=16, levels=3, policy="hardened")
    fam = Family(k, pool=8)
    gdesc = fam.grandchild()
    grandchild = k.children(fam.child)[0]
    first = chain_through(fam, [0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000],
                          read_only=(4,))
    assert fam.capi.prepare(gdesc, 0x8000, first) == Prepared(False, 0x4000)
    assert k.last_error == E.NOT_WRITABLE
    assert len(k.config_pages(grandchild)) == 5 + 3
    assert k.check_invariants() == [] and k.check_extra_properties() == []


# ---------------------------------------------------------------- (d) forged events

def test_a_child_cannot_yield_to_its_parents_event_vectors(k, ctl):
    k.cpu_context = unpack(context(0xC0DE))
    run_attack(k, lambda: ctl.capi.yield_(0, 8, 1, 0, 0), refused=10, reason=E.RESERVED_VECTOR,
               flags=[])
    assert k.current == k.root        # pip: the parent runs; hardened: nothing moved


def test_a_child_cannot_forge_an_event_by_dispatch(k, ctl):
    run_attack(k, lambda: ctl.capi.dispatch(0, 8, 0, FAULT, 0xBAD), refused=10,
               reason=E.RESERVED_VECTOR, flags=[])
    if k.policy == "pip":        # "your child 0xBAD had fault 6", says the handler's r0 / r1
        assert k.cpu_context[CTX_REGS:CTX_REGS + 3] == (FAULT, 0xBAD, ctl.desc)


def test_reserved_vector_order(k, ctl):
    """Step 3b: after the target is known, before the caller's VIDT is looked at."""
    hardened = k.policy == "hardened"
    assert ctl.capi.yield_(0, ctl.g.table_size - 1, 1, 0, 0) == 1
    assert k.last_error == E.INVALID_INT_LEVEL
    create_child(ctl.api, ctl.alloc)
    bare = k.as_partition(next(p for p in k.children(k.root) if p != ctl.child))   # no VIDT
    for call in (lambda: bare.yield_(0, 0, 1, 0, 0), lambda: bare.dispatch(0, 0, 0, 0, 0)):
        assert call() == (10 if hardened else 6)
        assert k.last_error == (E.RESERVED_VECTOR if hardened else E.UNAVAILABLE_CALLER_VIDT)
    # the save slots and above stay open to children; parents may name any vector
    assert ctl.capi.yield_(0, ctl.cli, 1, 0, 0) == 0 and k.current == k.root
    assert ctl.api.yield_(ctl.desc, 0, 1, 0, 0) == 0 and k.current == ctl.child
    assert k.check_invariants() == [] and k.check_extra_properties() == []


def test_dispatch_registers(k, ctl):
    sti = ctl.sti
    assert ctl.api.dispatch(ctl.desc, 0, 0, 11, 22) == 0 and k.current == ctl.child
    regs = k.cpu_context[CTX_REGS:CTX_REGS + 4]
    # hardened: (vector, source, data1, data2) as the kernel's deliveries; pip: v0.2's
    assert regs == ((0, 0, 11, 22) if k.policy == "hardened" else (11, 22, 0, 10))
    assert ctl.capi.dispatch(0, sti, 0, 33, 44) == 0 and k.current == k.root
    regs = k.cpu_context[CTX_REGS:CTX_REGS + 4]
    assert regs == ((sti, ctl.desc, 33, 44) if k.policy == "hardened" else (33, 44, ctl.desc, 4))
    assert k.check_invariants() == [] and k.check_extra_properties() == []
