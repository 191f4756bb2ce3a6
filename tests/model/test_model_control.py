"""Control flow (yield, dispatch, resume, interrupt state) and memory accesses (kernel.md §6-7)."""
import struct

import pytest

from pipsim.kernel.abi import GET_INT_STATE_ERROR, PAGE_SIZE, RESUME_SELF, PipError as E
from pipsim.kernel.model import Kernel
from pipsim.kernel.types import MemoryFault

from pipmodel_helpers import Pool, make_child, map_in_child, pd_slot_pa, word

VIDT = 0xFF000
CLI, STI = 13, 14                       # ts = 16


def ctx(pc, pipflags=0, valid=1, base=0):
    return [pc, pipflags, 0x202, valid] + [base + i for i in range(16)]


class Env:
    def __init__(self, child_vidt=True):
        k = self.k = Kernel(pages=256, table_size=16, levels=2)
        pool = self.pool = Pool(k, k.root)
        self.desc, self.child = make_child(k, k.root, pool)
        self.src = pool.take()                 # child's data page at 0x20000
        map_in_child(k, k.root, self.desc, self.src, 0x20000, pool)
        self.src2 = pool.take()                # child's page at 0x21000
        map_in_child(k, k.root, self.desc, self.src2, 0x21000, pool)
        self.vidt_src = pool.take()            # child's VIDT
        if child_vidt:
            map_in_child(k, k.root, self.desc, self.vidt_src, VIDT, pool)
        self.root_ctx = pool.take()            # root context area
        self.root = k.as_partition(k.root)
        self.capi = k.as_partition(self.child)
        assert k.check_invariants() == []

    def root_vidt(self, i, va):
        self.root.write(VIDT + 4 * i, struct.pack("<I", va))

    def child_vidt(self, i, va):
        self.root.write(self.vidt_src + 4 * i, struct.pack("<I", va))

    def child_ctx(self, child_va, words):
        """Write a context at child VA 0x20000.. / 0x21000.. through the root's shared pages."""
        offset = child_va - 0x20000
        raw = struct.pack("<20I", *words)
        first = min(len(raw), max(0, PAGE_SIZE - offset))
        if first:
            self.root.write(self.src + offset, raw[:first])
        if first < len(raw):
            self.root.write(self.src2 + max(0, offset - PAGE_SIZE), raw[first:])

    def read_words(self, api, va):
        return list(struct.unpack("<20I", api.read(va, 80)))


@pytest.fixture
def env():
    return Env()


def test_yield_to_child_and_back(env):
    k = env.k
    target = ctx(0x1234, pipflags=5)
    env.child_ctx(0x20100, target)
    env.child_vidt(3, 0x20100)
    env.root_vidt(7, env.root_ctx + 0x40)
    k.cpu_context = list(range(100, 120))
    assert env.root.yield_(env.desc, 3, 7, 0xAA, 0xBB) == 0 and k.last_error is None
    assert k.current == env.child
    assert k.cpu_context == tuple(target)
    assert word(k, pd_slot_pa(env.child, 13)) == 5
    assert word(k, pd_slot_pa(k.root, 13)) == 0xAA
    saved = list(range(100, 120))
    saved[1], saved[3] = 0xBB, 1
    assert env.read_words(env.root, env.root_ctx + 0x40) == saved
    assert k.check_invariants() == []
    # and back to the parent: the root resumes its saved context
    env.root_vidt(3, env.root_ctx + 0x40)
    env.child_vidt(9, 0x20200)
    k.cpu_context = ctx(0x5555)
    assert env.capi.yield_(0, 3, 9, 1, 2) == 0
    assert k.current == k.root and k.cpu_context == tuple(saved)
    assert word(k, pd_slot_pa(k.root, 13)) == 0xBB
    assert word(k, pd_slot_pa(env.child, 13)) == 1
    stored = ctx(0x5555)
    stored[1] = 2
    assert env.read_words(env.root, env.src + 0x200) == stored


def test_yield_no_save_and_straddling_context(env):
    k = env.k
    words = ctx(0x42, pipflags=0, base=1000)
    env.child_ctx(0x20FE0, words)             # straddles 0x20000 / 0x21000
    env.child_vidt(4, 0x20FE0)
    env.root_vidt(2, 0)                       # null save slot: not saved
    assert env.root.yield_(env.desc, 4, 2, 0, 0) == 0
    assert k.cpu_context == tuple(words)


def test_yield_failures(env):
    k = env.k

    def refused(api, args, reason, code):
        before = k.cpu_context, k.current
        assert api.yield_(*args) == code
        assert k.last_error is reason and (k.cpu_context, k.current) == before

    refused(env.root, (env.desc, 15, 0, 0, 0), E.INVALID_INT_LEVEL, 1)
    refused(env.root, (env.desc, 0, 15, 0, 0), E.INVALID_CTX_SAVE_INDEX, 2)
    refused(env.root, (0, 0, 0, 0, 0), E.ROOT_CALLER, 3)
    refused(env.root, (env.src, 0, 0, 0, 0), E.INVALID_CHILD, 4)
    refused(env.root, (0x5000, 0, 0, 0, 0), E.INVALID_CHILD, 4)
    env.child_vidt(3, 0x30000)                # unmapped in the child
    refused(env.root, (env.desc, 3, 0, 0, 0), E.UNAVAILABLE_TARGET_CTX, 8)
    env.child_vidt(3, 0xFFFF0)                # passes the end of the address space
    refused(env.root, (env.desc, 3, 0, 0, 0), E.UNAVAILABLE_TARGET_CTX, 8)
    env.child_vidt(3, 0x21FC0)                # last byte on an unmapped page
    refused(env.root, (env.desc, 3, 0, 0, 0), E.UNAVAILABLE_TARGET_CTX, 8)
    env.child_vidt(3, 0x20000)
    env.root_vidt(5, 0x5000)                  # save area unmapped in the root
    refused(env.root, (env.desc, 3, 5, 0, 0), E.CALLER_CONTEXT_SAVE, 9)
    assert word(k, pd_slot_pa(k.root, 13)) == 0
    # caller without VIDT / target without VIDT
    env.root.remove_vaddr(env.desc, VIDT)
    refused(env.root, (env.desc, 3, 0, 0, 0), E.UNAVAILABLE_TARGET_VIDT, 5)
    refused(env.capi, (0, 3, 0, 0, 0), E.UNAVAILABLE_CALLER_VIDT, 6)


def test_dispatch(env):
    k = env.k
    env.child_ctx(0x20100, ctx(0x777, pipflags=3))
    env.child_vidt(40 % 15, 0x20100)
    env.root_vidt(CLI, env.root_ctx)          # root state 0 -> CLI slot
    k.cpu_context = ctx(0x1, pipflags=0)
    assert env.root.dispatch(env.desc, 10, 1, 0xD1, 0xD2) == 0
    cpu = k.cpu_context
    assert cpu[0] == 0x777 and cpu[4:7] == (0xD1, 0xD2, 0)
    assert word(k, pd_slot_pa(env.child, 13)) == 0 and word(k, pd_slot_pa(k.root, 13)) == 0
    saved = env.read_words(env.root, env.root_ctx)
    assert saved[0] == 0x1 and saved[3] == 1
    # child -> parent: r2 = the child's descriptor VA in the parent; child state 0 -> CLI slot
    env.root_vidt(6, env.root_ctx + 0x100)
    env.root.write(env.root_ctx + 0x100, struct.pack("<20I", *ctx(0x999)))
    env.child_vidt(CLI, 0x20400)
    assert env.capi.dispatch(0, 6, 0, 1, 2) == 0
    assert k.current == k.root and k.cpu_context[4:7] == (1, 2, env.desc)
    assert env.capi.dispatch(0, 15, 0, 1, 2) == 1 and k.last_error is E.INVALID_INT_LEVEL
    assert env.root.dispatch(0, 6, 0, 1, 2) == 3 and k.last_error is E.ROOT_CALLER


def test_dispatch_uses_sti_slot_when_state_set(env):
    k = env.k
    env.root.set_int_state(1)
    env.child_ctx(0x20100, ctx(0x777))
    env.child_vidt(0, 0x20100)
    env.root_vidt(STI, 0x5000)                # unusable save area in STI slot
    env.root_vidt(CLI, env.root_ctx)
    assert env.root.dispatch(env.desc, 0, 0, 0, 0) == 9
    env.root_vidt(STI, env.root_ctx)
    assert env.root.dispatch(env.desc, 0, 0, 0, 0) == 0
    assert word(k, pd_slot_pa(k.root, 13)) == 1


def test_resume(env):
    k = env.k
    env.child_ctx(0x20100, ctx(0xC11))
    env.child_vidt(CLI, 0x20100)              # child state 0 -> CLI slot
    assert env.root.resume(env.desc, 7) == 0
    assert k.current == env.child and k.cpu_context[0] == 0xC11
    assert word(k, pd_slot_pa(env.child, 13)) == 7
    env.child_ctx(0x20200, ctx(0xC22))
    env.child_vidt(STI, 0x20200)              # state 7 -> STI slot
    assert env.capi.resume(RESUME_SELF, 0) == 0
    assert k.current == env.child and k.cpu_context[0] == 0xC22
    env.root.write(env.root_ctx, struct.pack("<20I", *ctx(0x200)))
    env.root_vidt(CLI, env.root_ctx)
    assert env.capi.resume(0, 4) == 0
    assert k.current == k.root and k.cpu_context[0] == 0x200
    assert word(k, pd_slot_pa(k.root, 13)) == 4
    env.root_vidt(STI, env.root_ctx)
    assert env.root.resume(0, 0) == 0 and k.current == k.root      # the root resumes itself
    # failures
    assert env.root.resume(env.src, 0) == 4 and k.last_error is E.INVALID_CHILD
    env.root_vidt(CLI, 0x5000)
    assert env.root.resume(RESUME_SELF, 0) == 8 and k.last_error is E.UNAVAILABLE_TARGET_CTX
    env.root.remove_vaddr(env.desc, VIDT)
    assert env.root.resume(env.desc, 0) == 5 and k.last_error is E.UNAVAILABLE_TARGET_VIDT


def test_int_state(env):
    k = env.k
    assert env.root.get_int_state(env.desc) == 0 and k.last_error is None
    env.capi.set_int_state(0x1234)
    assert k.last_error is None and k.current == k.root         # a call does not switch
    assert env.root.get_int_state(env.desc) == 0x1234
    assert env.root.get_int_state(env.src) == GET_INT_STATE_ERROR
    assert k.last_error is E.NOT_CHILD
    assert env.root.get_int_state(0x5000) == GET_INT_STATE_ERROR
    assert env.root.get_int_state(0) == GET_INT_STATE_ERROR


def test_read_write_translate(env):
    k = env.k
    root, capi = env.root, env.capi
    assert root.translate(env.src + 5, "r") == k.mappings(k.root)[env.src].pa + 5
    assert capi.translate(0x20000, "x") == k.mappings(k.root)[env.src].pa
    capi.write(0x20FFE, b"abcd")              # straddles two pages
    assert root.read(env.src + 0xFFE, 2) == b"ab" and root.read(env.src2, 2) == b"cd"
    assert capi.read(0x20FFE, 4) == b"abcd" and capi.read(0x20000, 0) == b""
    assert root.translate(env.desc, "r") is None          # inaccessible kernel page
    assert root.translate(0x10000, "r") is None           # kernel slot
    assert root.translate(0x5000, "w") is None


def test_access_rights_and_faults():
    env = Env()
    k, root = env.k, env.root
    ro = env.pool.take()
    map_in_child(k, k.root, env.desc, ro, 0x22000, env.pool, w=False, e=False)
    capi = env.capi
    assert capi.translate(0x22000, "r") is not None
    assert capi.translate(0x22000, "w") is None and capi.translate(0x22000, "x") is None
    before = root.read(ro, 16)
    with pytest.raises(MemoryFault) as info:
        capi.write(0x21FF8, b"x" * 16)         # 0x21000 writable, 0x22000 read-only
    assert info.value.va == 0x22000 and info.value.access == "write"
    assert info.value.partition == env.child
    assert root.read(env.src2 + 0xFF8, 8) == bytes(8) and root.read(ro, 16) == before
    with pytest.raises(MemoryFault):
        capi.read(0x23000, 1)
    with pytest.raises(MemoryFault):
        root.read(0xFF000 + 0xFF0, 0x20)       # passes the end of the address space
