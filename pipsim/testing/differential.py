"""The differential state machine: the C core and the reference model side by side on
random syscall sequences (valid and invalid, from random partitions, deep trees and subtree
deletions), both booted with the policy the run draws (docs/kernel.md §9), with device pages and
pages lent with varied rights: same results, same reasons, same observable state, the same
properties beyond Pip's (§10), and every invariant after every step, failed calls included.

``Differential.TestCase`` runs it on the default geometries and policies; ``differential(...)``
makes one for chosen geometries, policies or a starting partition tree; a subclass may add
rules and ``@invariant`` methods of its own (docs/testing-kit.md).  Needs hypothesis."""
from __future__ import annotations

from typing import Sequence

from .strategies import st      # first: without hypothesis, it says what to install
from hypothesis import event, note
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import pipsim.kernel
from pipsim.experiments.trees import Shape, build
from pipsim.kernel import MemoryFault, PipError
from pipsim.kernel.abi import EXTRA_PROPERTIES, PAGE_SIZE, POLICIES, cli_sti_save_indices
from pipsim.kernel.model.frames import Observation, frame_problems

from .kernels import GEOMETRIES, IMPLEMENTATIONS, KitError, check_policy, geometry

HARDENED_REASONS = {PipError.RIGHTS_AMPLIFIED, PipError.NOT_WRITABLE, PipError.DEVICE_PAGE,
                    PipError.RESERVED_VECTOR}
#: free pages the root keeps beside a starting tree (Differential.tree), to grow it further
TREE_SPARE = 64


class Twin:
    """One syscall API per implementation, called together and compared; on each, the call
    must stay within its frame (pipsim.kernel.model.frames: a refused call changes nothing)."""

    def __init__(self, machine, partition, frames=True):
        self.machine, self.partition, self.frames = machine, partition, frames

    def check_frame(self, k, name, args, before, faulted):
        # memory accesses fault (and leave last_error alone); the services refuse
        refused = faulted if name in ("read", "write") else k.last_error is not None
        after = Observation.for_call(k, name)
        problems = frame_problems(name, before, after, self.partition, args, refused)
        assert not problems, (type(k).__module__, name, args, problems)
        if name == "delete_partition" and after.current != before.current:
            event("deletePartition took the running partition out of the tree")

    def __getattr__(self, name):
        def call(*args):
            m = self.machine
            results = []
            for k in (m.c, m.m):
                before = Observation.for_call(k, name) if self.frames else None
                try:
                    results.append(("ok", getattr(k.as_partition(self.partition), name)(*args)))
                except MemoryFault as fault:
                    results.append(("fault", fault.va, fault.access))
                if before:
                    self.check_frame(k, name, args, before, results[-1][0] == "fault")
            errors = (m.c.last_error, m.m.last_error)
            note(f"{self.partition}.{name}{args} -> {results[0]} {errors[0]}")
            assert results[0] == results[1], (name, args, results)
            assert errors[0] == errors[1], (name, args, errors)
            if errors[0] in HARDENED_REASONS:
                event(f"refused: {errors[0].name}")
            return results[0][1] if results[0][0] == "ok" else None
        return call


class Differential(RuleBasedStateMachine):
    """Both kernels, one geometry of ``geometries`` and one policy of ``policies`` a run;
    booted fresh (sometimes with a family of three), or with ``tree`` built on both by the
    system calls (pipsim.experiments.trees.build: its table size and levels are the
    geometry's, its pages what the tree needs plus TREE_SPARE)."""

    geometries: Sequence = GEOMETRIES
    policies: Sequence[str] = POLICIES
    tree: Shape | None = None

    @initialize(data=st.data())
    def boot(self, data):
        g = data.draw(st.sampled_from(self.geometries), label="geometry")
        policy = data.draw(st.sampled_from(self.policies), label="policy")
        event(f"policy {policy}")
        if self.tree is None:
            self.c, self.m = (IMPLEMENTATIONS[impl](pages=g.pages, table_size=g.table_size,
                                                    levels=g.levels, policy=policy)
                              for impl in ("c", "model"))
        else:
            self.c, self.m = (build(IMPLEMENTATIONS[impl], self.tree, g.table_size, g.levels,
                                    spare=TREE_SPARE, policy=policy).kernel
                              for impl in ("c", "model"))
        self.g = self.c.geometry
        self.config_marked = False          # a page was marked a device while a kernel page
        if self.tree is None and data.draw(st.booleans(), label="start with a family"):
            self.start_family(data)

    def start_family(self, data):
        """root -> child -> grandchild, each parent lending pages with varied rights to its
        child: the attacks that need a grandchild (re-lending a page with more rights, kernel
        tables from pages lent read-only) are then a step away."""
        p = self.c.root
        for count in (14, 4):
            before = set(self.descs(p))
            self.create_child(data, p)
            new = sorted(set(self.descs(p)) - before)
            if not new:
                return
            self.lend(data, p, new[0], count, base=1)
            p = pipsim.kernel.Partition(self.c.mappings(p)[new[0]].pa // PAGE_SIZE)

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
                      if pipsim.kernel.Partition(mp.pa // PAGE_SIZE) in self.c.children(p))

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

    def free_pages(self, p):
        """The caller's accessible, underived pages (probed on both kernels alike; the
        mapped_in_child rule checks that call's frame, not these probes)."""
        probe = Twin(self, p, frames=False)
        return [va for va, mp in sorted(self.c.mappings(p).items())
                if mp.accessible and va != self.g.vidt_va and probe.mapped_in_child(va) == 0]

    def kernel_fit(self, data, p):
        """The pages the caller may offer as kernel structures: an honest caller (as the
        hardened policy wants) offers writable RAM pages only, a careless one any page."""
        if not data.draw(st.booleans(), label="honest"):
            return None
        devices = self.c.device_pages()
        return {va for va, mp in self.c.mappings(p).items()
                if mp.w and mp.pa // PAGE_SIZE not in devices}

    # ---- macro rules that grow deep trees (libpip patterns, every call compared) ----
    @rule(data=st.data())
    def spawn(self, data):
        self.create_child(data, self.caller(data))

    def create_child(self, data, p):
        twin = Twin(self, p)
        fit = self.kernel_fit(data, p)
        free = [va for va in self.free_pages(p) if fit is None or va in fit]
        if len(free) >= 5:
            twin.create_partition(*data.draw(st.permutations(free), label="pages")[:5])

    @rule(data=st.data())
    def grow(self, data):
        p = self.caller(data)
        self.lend(data, p, self.child_desc(data, p), data.draw(st.integers(5, 8), label="pages"))

    def lend(self, data, p, desc, count, base=None):
        """p lends `count` of its pages to the child desc at consecutive VAs from page `base`
        (drawn if None), with varied rights; prepare's tables come from kernel_fit pages."""
        twin = Twin(self, p)
        free, fit = self.free_pages(p), self.kernel_fit(data, p)
        if base is None:
            base = data.draw(st.integers(1, 8), label="first page")
        for i in range(count):
            dst = (base + i) * PAGE_SIZE
            need = twin.count_to_map(desc, dst) or 0
            if need:
                n = need + self.g.levels - 1          # spare pages, as wrappers.map_page
                chain = [va for va in free if fit is None or va in fit][-n:]
                if len(chain) < n:
                    return
                free = [va for va in free if va not in chain]
                for va, nxt in zip(chain, chain[1:] + [0]):
                    twin.write(va, nxt.to_bytes(4, "little"))
                twin.prepare(desc, dst, chain[0])
            if not free:
                return
            twin.add_vaddr(free.pop(), desc, dst, True, *self.rights(data))

    def rights(self, data):
        """(w, e) of a page lent: mostly read-write, sometimes read-only or executable."""
        return data.draw(st.sampled_from([(True, False)] * 3 + [(False, False), (False, True),
                                                                (True, True)]), label="w, e")

    @rule(data=st.data())
    def run_child(self, data):
        """A parent gives a child a VIDT whose slot 0 names a context in that page and yields
        to it: the child runs (deleting it, or an ancestor, then takes the running partition
        out of the tree)."""
        p = self.caller(data)
        desc, vidt = self.child_desc(data, p), self.g.vidt_va
        if not desc:
            return
        child = pipsim.kernel.Partition(self.c.mappings(p)[desc].pa // PAGE_SIZE)
        if vidt not in self.c.mappings(child):
            self.lend(data, p, desc, 1, base=vidt // PAGE_SIZE)
        page = self.c.mappings(child).get(vidt)
        src = [va for va, mp in self.c.mappings(p).items() if page and mp.pa == page.pa]
        twin = Twin(self, p)
        if src:
            twin.write(src[0], (vidt + 0x100).to_bytes(4, "little"))
        twin.write(vidt + 4, bytes(4))                 # the caller's save slot 1: no save
        if twin.yield_(desc, 0, 1, 0, 0) == 0:
            event("a child runs")

    # ---- rules: every syscall, from a random caller ----
    @rule(data=st.data())
    def mark_device(self, data):
        """A page some partition maps (the ones that matter), or any physical page."""
        p = self.caller(data)
        mapped = sorted(mp.pa // PAGE_SIZE for mp in self.c.mappings(p).values()) or [1]
        page = data.draw(st.one_of(st.sampled_from(mapped),
                                   st.integers(1, self.g.pages - 1)), label="device page")
        note(f"mark_device({page})")
        self.c.mark_device(page)
        self.m.mark_device(page)
        self.config_marked |= any(page in self.c.config_pages(q) for q in self.c.partitions())

    @rule(data=st.data())
    def vidt_slot(self, data):
        """The caller names a context in its VIDT: a save slot, a vector, a handler's."""
        p = self.caller(data)
        cli, sti = cli_sti_save_indices(self.g.table_size)
        index = data.draw(st.sampled_from([cli, sti, 0, 1, 2, cli - 1]), label="slot")
        maps = sorted(self.c.mappings(p))
        va = data.draw(st.one_of(st.just(0), st.sampled_from(maps or [0]).flatmap(
            lambda v: st.sampled_from([v, v + PAGE_SIZE - 8]))), label="context va")
        Twin(self, p).write(self.g.vidt_va + 4 * index, va.to_bytes(4, "little"))

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
        """From any caller, or from the parent of the running partition (which may then go)."""
        running = self.c.current
        p = (self.caller(data) if running == self.c.root or data.draw(st.booleans(), "any")
             else self.c.parent(running))
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

    @invariant()
    def same_extra_properties(self):
        if hasattr(self, "c"):
            assert self.c.device_pages() == self.m.device_pages()
            extra = self.c.check_extra_properties()
            assert extra == self.m.check_extra_properties()
            for name in extra:
                event(f"{self.c.policy}: {name} violated")
            if self.c.policy == "hardened":     # §10: it keeps the first three by construction
                kept = set(EXTRA_PROPERTIES[:3])
                if self.config_marked:          # ... unless a kernel page is marked a device
                    kept.remove("noDeviceConfigPages")
                assert not kept & set(extra), extra


def differential(geometries: Sequence = GEOMETRIES, policies: Sequence[str] = POLICIES,
                 tree: Shape | None = None) -> type[Differential]:
    """A Differential on chosen geometries (each a Geometry, a (pages, table_size, levels)
    tuple or a mapping; checked to boot), policies, and starting tree; its ``TestCase`` is
    what pytest runs."""
    chosen = tuple(geometry(g) for g in geometries)
    if not chosen or not policies:
        raise KitError("a differential run needs at least one geometry and one policy")
    if tree is not None and not isinstance(tree, Shape):
        raise KitError(f"tree must be a pipsim.experiments.trees.Shape, not "
                       f"{type(tree).__name__}")
    return type("Differential", (Differential,),
                {"geometries": chosen, "policies": tuple(check_policy(p) for p in policies),
                 "tree": tree, "__module__": __name__})
