"""The C core and the reference model, side by side on random syscall sequences
(valid and invalid, from random partitions, deep trees and subtree deletions):
same results, same reasons, same observable state, and every invariant after
every step, failed calls included."""
import hypothesis.strategies as st
from hypothesis import event, note
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import pipkernel
import pipkernel.model
from pipkernel import MemoryFault
from pipkernel.abi import PAGE_SIZE

GEOMETRIES = [(160, 16, 2), (260, 16, 2), (420, 16, 3)]


class Twin:
    """One syscall API per implementation, called together and compared."""

    def __init__(self, machine, partition):
        self.machine, self.partition = machine, partition

    def __getattr__(self, name):
        def call(*args):
            m = self.machine
            results = []
            for k in (m.c, m.m):
                try:
                    results.append(("ok", getattr(k.as_partition(self.partition), name)(*args)))
                except MemoryFault as fault:
                    results.append(("fault", fault.va, fault.access))
            errors = (m.c.last_error, m.m.last_error)
            note(f"{self.partition}.{name}{args} -> {results[0]} {errors[0]}")
            assert results[0] == results[1], (name, args, results)
            assert errors[0] == errors[1], (name, args, errors)
            return results[0][1] if results[0][0] == "ok" else None
        return call


class Differential(RuleBasedStateMachine):
    @initialize(geometry=st.sampled_from(GEOMETRIES))
    def boot(self, geometry):
        pages, ts, levels = geometry
        self.c = pipkernel.Kernel(pages=pages, table_size=ts, levels=levels)
        self.m = pipkernel.model.Kernel(pages=pages, table_size=ts, levels=levels)
        self.g = self.c.geometry

    # ---- drawing arguments ----
    def caller(self, data):
        """Any partition; the most recently created ones come first, so deep trees grow."""
        return data.draw(st.sampled_from(self.c.partitions()[::-1]), label="caller")

    def own_va(self, data, p, label):
        """Mostly a VA the caller maps or names a child by; sometimes anything."""
        maps = self.c.mappings(p)
        usable = sorted(va for va, mp in maps.items() if mp.accessible) or [0]
        special = [0, self.g.slot_size, self.g.vidt_va]
        return data.draw(st.one_of(st.sampled_from(usable), st.sampled_from(sorted(maps) or [0]),
                                   st.sampled_from(special),
                                   st.integers(0, self.g.va_limit - 1)), label=label)

    def child_desc(self, data, p):
        vas = self.descs(p)
        return data.draw(st.sampled_from(vas) if vas else st.just(0), label="desc")

    def descs(self, p):
        maps = self.c.mappings(p)
        return sorted(va for va, mp in maps.items()
                      if pipkernel.Partition(mp.pa // PAGE_SIZE) in self.c.children(p))

    def child_va(self, data):
        near = st.sampled_from([i * PAGE_SIZE for i in range(1, 12)] +
                               [2 * self.g.slot_size + i * PAGE_SIZE for i in range(4)] +
                               [self.g.vidt_va, self.g.slot_size])
        return data.draw(st.one_of(near, st.integers(0, self.g.va_limit - 1)), label="child va")

    def free_chain(self, data, p, twin, n):
        """Link n of the caller's usable pages as prepare's free list (both kernels)."""
        usable = sorted(va for va, mp in self.c.mappings(p).items() if mp.accessible)
        if not usable:
            return 0
        chain = data.draw(st.lists(st.sampled_from(usable), min_size=1, max_size=n), label="chain")
        for va, nxt in zip(chain, chain[1:] + [0]):
            twin.write(va, nxt.to_bytes(4, "little"))
        return chain[0]

    def free_pages(self, p, twin):
        """The caller's accessible, underived pages (probed on both kernels alike)."""
        return [va for va, mp in sorted(self.c.mappings(p).items())
                if mp.accessible and va != self.g.vidt_va and twin.mapped_in_child(va) == 0]

    # ---- macro rules that grow deep trees (libpip patterns, every call compared) ----
    @rule(data=st.data())
    def spawn(self, data):
        p = self.caller(data)
        twin = Twin(self, p)
        free = self.free_pages(p, twin)
        if len(free) >= 5:
            twin.create_partition(*data.draw(st.permutations(free), label="pages")[:5])

    @rule(data=st.data())
    def grow(self, data):
        p = self.caller(data)
        twin = Twin(self, p)
        desc, free = self.child_desc(data, p), self.free_pages(p, twin)
        base = data.draw(st.integers(1, 8), label="first page")
        for i in range(data.draw(st.integers(5, 8), label="pages")):
            dst = (base + i) * PAGE_SIZE
            need = twin.count_to_map(desc, dst) or 0
            if len(free) < need + self.g.levels:
                return
            if need:
                chain = [free.pop() for _ in range(need + self.g.levels - 1)]
                for va, nxt in zip(chain, chain[1:] + [0]):
                    twin.write(va, nxt.to_bytes(4, "little"))
                twin.prepare(desc, dst, chain[0])
            twin.add_vaddr(free.pop(), desc, dst, True, True, False)

    # ---- rules: every syscall, from a random caller ----
    @rule(data=st.data())
    def create_partition(self, data):
        p = self.caller(data)
        vas = [self.own_va(data, p, f"va{i}") for i in range(5)]
        Twin(self, p).create_partition(*vas)

    @rule(data=st.data())
    def give_page(self, data):
        """The libpip pattern: countToMap, a free chain, prepare, addVAddr."""
        p = self.caller(data)
        twin, desc, dst = Twin(self, p), self.child_desc(data, p), self.child_va(data)
        count = twin.count_to_map(desc, dst)
        first = self.free_chain(data, p, twin, max(count, 1) + data.draw(st.integers(0, 1)))
        twin.prepare(desc, dst, first)
        src = self.own_va(data, p, "src")
        r, w, e = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()), label="rwe")
        twin.add_vaddr(src, desc, dst, r or data.draw(st.booleans()), w, e)

    @rule(data=st.data())
    def add_vaddr(self, data):
        p = self.caller(data)
        Twin(self, p).add_vaddr(self.own_va(data, p, "src"), self.child_desc(data, p),
                                self.child_va(data), *data.draw(st.tuples(*[st.booleans()] * 3)))

    @rule(data=st.data())
    def remove_vaddr(self, data):
        p = self.caller(data)
        Twin(self, p).remove_vaddr(self.child_desc(data, p), self.child_va(data))

    @rule(data=st.data())
    def prepare(self, data):
        p = self.caller(data)
        twin = Twin(self, p)
        first = self.free_chain(data, p, twin, 8)
        twin.prepare(self.child_desc(data, p), self.child_va(data),
                     data.draw(st.one_of(st.just(first), st.integers(0, self.g.va_limit - 1))))

    @rule(data=st.data())
    def collect(self, data):
        p = self.caller(data)
        Twin(self, p).collect(self.child_desc(data, p), self.child_va(data))

    @rule(data=st.data())
    def count_to_map(self, data):
        p = self.caller(data)
        Twin(self, p).count_to_map(self.own_va(data, p, "desc"), self.child_va(data))

    @rule(data=st.data())
    def mapped_in_child(self, data):
        p = self.caller(data)
        Twin(self, p).mapped_in_child(self.own_va(data, p, "va"))

    @precondition(lambda self: len(self.c.partitions()) > 1)
    @rule(data=st.data())
    def delete_partition(self, data):
        p = self.caller(data)
        Twin(self, p).delete_partition(
            data.draw(st.one_of(st.just(self.child_desc(data, p)), st.integers(0, 4095)), "desc"))

    @rule(data=st.data())
    def memory(self, data):
        p = self.caller(data)
        twin, va = Twin(self, p), self.own_va(data, p, "va")
        n = data.draw(st.integers(0, 2 * PAGE_SIZE), label="n")
        if data.draw(st.booleans(), label="write"):
            twin.write(va, data.draw(st.binary(max_size=64), label="bytes") * (n // 64 + 1))
        else:
            twin.read(va, n)

    @rule(data=st.data())
    def control(self, data):
        p = self.caller(data)
        twin = Twin(self, p)
        small = st.integers(0, self.g.table_size)
        word = st.integers(0, 2**32 - 1)
        which = data.draw(st.sampled_from(["yield_", "dispatch", "resume", "get", "set"]))
        desc = data.draw(st.one_of(st.just(0), st.just(self.child_desc(data, p))), label="target")
        if which == "yield_":
            twin.yield_(desc, data.draw(small), data.draw(small), data.draw(word), data.draw(word))
        elif which == "dispatch":
            twin.dispatch(desc, data.draw(small), data.draw(small), data.draw(word), data.draw(word))
        elif which == "resume":
            twin.resume(desc, data.draw(word))
        elif which == "get":
            twin.get_int_state(desc)
        else:
            twin.set_int_state(data.draw(word))

    # ---- after every step ----
    @invariant()
    def same_observable_state(self):
        if not hasattr(self, "c"):
            return
        parts = self.c.partitions()
        assert parts == self.m.partitions()
        depth = {self.c.root: 0}
        for p in parts[1:]:
            depth[p] = depth[self.c.parent(p)] + 1
        event(f"tree depth reached: {max(depth.values())}")
        assert self.c.current == self.m.current
        assert self.c.cpu_context == self.m.cpu_context
        for p in parts:
            assert self.c.mappings(p) == self.m.mappings(p), p
            assert self.c.config_pages(p) == self.m.config_pages(p), p
            assert self.c.parent(p) == self.m.parent(p)

    @invariant()
    def pip_properties_hold(self):
        if hasattr(self, "c"):
            assert self.c.check_invariants() == []
            assert self.m.check_invariants() == []


TestDifferential = Differential.TestCase
