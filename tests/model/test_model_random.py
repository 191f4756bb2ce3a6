"""Random syscall sequences: the invariants hold after every step, failed ones included (and,
under "hardened", the properties beyond Pip's that it keeps by construction)."""
import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from pipsim.kernel.abi import EXTRA_PROPERTIES, INVARIANTS, PAGE_SIZE
from pipsim.kernel.model import Kernel
from pipsim.kernel.types import MemoryFault

from pipmodel_helpers import Family, prepare_va

OPS = ["create", "create", "prepare", "prepare", "add", "add", "remove", "collect", "delete",
       "count", "mapped", "yield", "dispatch", "vidt", "int", "rw"]

#: more of the calls the §9 attacks are made of
ATTACK_OPS = OPS + ["lend", "lend", "create", "prepare"]

#: kernel.md §10: "hardened keeps the first three by construction"
KEPT_BY_HARDENED = EXTRA_PROPERTIES[:3]


def pip_holds(k, op):
    assert k.check_invariants() == [], (op, k.last_error)


def hardened_holds(k, op):
    pip_holds(k, op)
    broken = [name for name in k.check_extra_properties() if name in KEPT_BY_HARDENED]
    assert broken == [], (op, k.last_error)


def candidates(k, p, data):
    """VAs worth trying as p: its pages, its children's descriptors, a few odd ones."""
    g = k.geometry
    own = sorted(k.mappings(p))
    kids = {c.pd * PAGE_SIZE for c in k.children(p)}
    descs = [va for va, m in sorted(k.mappings(p).items()) if m.pa in kids] or [0]
    special = [0, g.slot_size + PAGE_SIZE, g.root_va_start, g.vidt_va, g.vidt_va - PAGE_SIZE,
               PAGE_SIZE]
    maps = k.mappings(p)
    free = [va for va in own if maps[va].accessible and va != g.vidt_va
            and k.as_partition(p).mapped_in_child(va) == 0] or [0]
    pool = own + special
    return pool, descs, free


def run(k, data, steps, check=pip_holds, ops=OPS):
    for _ in range(steps):
        parts = k.partitions()
        parents = [q for q in parts if k.children(q)] or parts
        p = data.draw(st.one_of(st.sampled_from(parents), st.sampled_from(parents),
                                st.sampled_from(parts)))
        api = k.as_partition(p)
        pool, descs, free = candidates(k, p, data)
        va = lambda: data.draw(st.one_of(st.sampled_from(free), st.sampled_from(free),  # noqa
                                         st.sampled_from(pool)))
        child_vas = ([k.geometry.root_va_start + i * PAGE_SIZE for i in range(3)]
                     + [k.geometry.root_va_start + k.geometry.slot_size + PAGE_SIZE]
                     + [k.geometry.vidt_va, 5 * k.geometry.slot_size, 0] + pool)
        child_va = lambda: data.draw(st.sampled_from(child_vas))       # noqa: E731
        desc = lambda: data.draw(st.one_of(st.sampled_from(descs),     # noqa: E731
                                           st.sampled_from(descs), st.sampled_from(pool)))
        op = data.draw(st.sampled_from(ops))
        if op == "create":
            if len(free) >= 5 and data.draw(st.booleans()):
                vas = data.draw(st.lists(st.sampled_from(free), min_size=5, max_size=5,
                                         unique=True))
            else:
                vas = [va() for _ in range(5)]
            for v in vas:
                try:
                    api.write(v, bytes(PAGE_SIZE))
                except MemoryFault:
                    pass
            api.create_partition(*vas)
        elif op == "prepare":
            d, cva = desc(), child_va()
            n = api.count_to_map(d, cva) or data.draw(st.integers(1, 7))
            n = min(n + data.draw(st.integers(-1, 1)), len(free)) or 1
            pages = data.draw(st.lists(st.sampled_from(free), min_size=n, max_size=n,
                                       unique=len(free) >= n))
            for v, nxt in zip(pages, pages[1:] + [0]):
                try:
                    api.write(v, struct.pack("<I", nxt))
                except MemoryFault:
                    pass
            res = api.prepare(d, cva, pages[0])
            assert res.ok == (k.last_error is None), (res, k.last_error)   # a refusal says why
        elif op == "add":
            api.add_vaddr(va(), desc(), child_va(), data.draw(st.sampled_from([1, 1, 1, 0])),
                          data.draw(st.booleans()), data.draw(st.booleans()))
        elif op == "lend":                      # add where only the rights can be refused
            d = data.draw(st.sampled_from(descs))
            ready = [v for v in child_vas if api.count_to_map(d, v) == 0
                     and k.last_error is None] or [0]
            api.add_vaddr(data.draw(st.sampled_from(free)), d, data.draw(st.sampled_from(ready)),
                          1, data.draw(st.booleans()), data.draw(st.booleans()))
        elif op == "remove":
            api.remove_vaddr(desc(), child_va())
        elif op == "collect":
            api.collect(desc(), child_va())
        elif op == "delete":
            api.delete_partition(desc())
        elif op == "count":
            assert api.count_to_map(desc(), child_va()) in range(0, 3 * k.geometry.levels + 1)
        elif op == "mapped":
            api.mapped_in_child(va())
        elif op == "yield":
            api.yield_(data.draw(st.sampled_from([0] + descs)), data.draw(st.integers(0, 16)),
                       data.draw(st.integers(0, 16)), 0, 1)
        elif op == "dispatch":
            api.dispatch(data.draw(st.sampled_from([0] + descs)), data.draw(st.integers(0, 16)),
                         0, data.draw(st.integers(0, 2**32 - 1)), 7)
        elif op == "vidt":                      # a VIDT slot names a context at some VA
            try:
                api.write(k.geometry.vidt_va + 4 * data.draw(st.integers(0, 15)),
                          struct.pack("<I", va() + data.draw(st.sampled_from([0, 0xFC0]))))
            except MemoryFault:
                pass
        elif op == "int":
            api.set_int_state(data.draw(st.integers(0, 3)))
            api.get_int_state(desc())
        elif op == "rw":
            try:
                api.write(va() + 4000, b"\x01" * 200)
            except MemoryFault:
                pass
        if check:
            check(k, op)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_l2(data):
    run(Kernel(pages=128, table_size=16, levels=2), data, 30)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_l3(data):
    run(Kernel(pages=128, table_size=16, levels=3), data, 30)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_on_corrupted_state(data):
    """Syscalls on corrupted kernel structures never crash the model (nor hang)."""
    k = Kernel(pages=128, table_size=16, levels=2)
    run(k, data, 10)
    config = sorted(set().union(*(k.config_pages(p) for p in k.partitions())))
    for _ in range(data.draw(st.integers(1, 6))):
        page = data.draw(st.sampled_from(config))
        value = data.draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(
            [0, 1, 0x1F, 0xFFFFFFFF, 127 << 12 | 0x1F, 5000 << 12 | 3])))
        k.debug_write_word(page * PAGE_SIZE + 4 * data.draw(st.integers(0, 15)), value)
    run(k, data, 15, check=None)
    assert set(k.check_invariants()) <= set(INVARIANTS)        # names of properties, no crash
    assert set(k.check_extra_properties()) <= set(EXTRA_PROPERTIES)


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_hardened(data):
    """Under hardened, rightsMonotonicity, configPagesWritableInParent and noDeviceConfigPages
    hold after every step.  The run starts where the attacks are a call away: root -> C -> G,
    C holding read-only, code and device pages, G with a prepared table, more device pages."""
    f = Family("hardened", levels=data.draw(st.sampled_from([2, 3])))
    k = f.k
    gdesc, _g = f.grandchild()
    prepare_va(k, f.child, gdesc, k.geometry.root_va_start, f.cpool)
    config = set().union(*(k.config_pages(p) for p in k.partitions()))
    ram = sorted({m.pa // PAGE_SIZE for m in k.mappings(k.root).values()} - config)
    for page in data.draw(st.lists(st.sampled_from(ram), max_size=12)):
        k.mark_device(page)
    run(k, data, 30, check=hardened_holds, ops=ATTACK_OPS)
