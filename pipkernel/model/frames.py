"""Frame conditions: what each system call may change (docs/kernel.md §11).

pipcore proves one invariant file per service; here each service has one predicate, named after
it, over two ``Observation``s of a kernel taken through the public API alone (so they judge the
C core and this model alike): before and after one call by ``caller``.  A predicate returns what
changed that the call may not change, ``[]`` when its frame holds.  A refused call changes
nothing at all: not a byte of memory, not the running partition, not the CPU context (prepare
and collect excepted: Pip keeps the levels they finished before the failure, so a refused one
stays within the frame of a successful one).  Only yield, dispatch and resume switch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from ..abi import CONTEXT_SIZE, PAGE_SIZE, PD_INT_STATE, RESUME_SELF, cli_sti_save_indices
from ..types import Geometry, Mapping, Partition

Problems = list[str]


@dataclass(frozen=True)
class Observation:
    """What a kernel shows through its API (docs/kernel.md §8): its memory, the running
    partition and the CPU context; with ``structure``, the tree, mappings and configuration
    pages too (all read from memory: the same memory, the same structure)."""

    geometry: Geometry
    memory: bytes
    current: Partition
    cpu: tuple[int, ...]
    partitions: tuple[Partition, ...] = ()
    parents: dict[Partition, Partition | None] = field(default_factory=dict)
    mappings: dict[Partition, dict[int, Mapping]] = field(default_factory=dict)
    config: dict[Partition, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, k, structure: bool = True) -> "Observation":
        seen = cls(k.geometry, bytes(k.physical_memory()), k.current, k.cpu_context)
        if not structure:
            return seen
        parts = tuple(k.partitions())
        return replace(seen, partitions=parts, parents={p: k.parent(p) for p in parts},
                       mappings={p: k.mappings(p) for p in parts},
                       config={p: k.config_pages(p) for p in parts})

    @classmethod
    def for_call(cls, k, name: str) -> "Observation":
        """What the frame of the call `name` needs to see (before it, and after)."""
        return cls.of(k, structure=name not in READS_ONLY)

    def lineage(self, p: Partition) -> list[Partition]:
        """p and its ancestors up to the root."""
        chain = [p]
        while self.parents.get(chain[-1]) is not None:
            chain.append(self.parents[chain[-1]])
        return chain

    def subtree(self, p: Partition) -> set[Partition]:
        return {q for q in self.partitions if p in self.lineage(q)}

    def child(self, caller: Partition, va: int) -> Partition | None:
        """The caller's child its VA va names (its descriptor's page), None if none."""
        mapping = self.mappings[caller].get(va & ~0xFFF)
        named = mapping and Partition(mapping.pa // PAGE_SIZE)
        return named if named and self.parents.get(named) == caller else None

    def word(self, pa: int) -> int:
        return int.from_bytes(self.memory[pa:pa + 4], "little")

    def int_state(self, p: Partition) -> int:
        return self.word(p.pd * PAGE_SIZE + 4 * PD_INT_STATE)

    def bytes_at(self, p: Partition, va: int, n: int) -> set[int]:
        """The physical addresses of p's bytes [va, va + n) that p maps."""
        pas = set()
        for at in range(va, va + n):
            mapping = self.mappings[p].get(at & ~0xFFF)
            if mapping:
                pas.add(mapping.pa + (at & 0xFFF))
        return pas


# ---------------------------------------------------------------- what changed


def changed_pages(b: Observation, a: Observation) -> set[int]:
    if b.memory == a.memory:
        return set()
    return {page for page in range(len(b.memory) // PAGE_SIZE)
            if b.memory[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
            != a.memory[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]}


def pages_within(b: Observation, a: Observation, allowed: set[int]) -> Problems:
    outside = changed_pages(b, a) - allowed
    return [f"physical pages {sorted(outside)} changed"] if outside else []


def bytes_within(b: Observation, a: Observation, allowed: set[int]) -> Problems:
    changed = {page * PAGE_SIZE + i for page in changed_pages(b, a)
               for i in range(PAGE_SIZE)
               if b.memory[page * PAGE_SIZE + i] != a.memory[page * PAGE_SIZE + i]}
    outside = changed - allowed
    return [f"{len(outside)} bytes changed from {min(outside):#x}"] if outside else []


def same(b: Observation, a: Observation, *fields: str) -> Problems:
    return [f"{name} changed" for name in fields if getattr(b, name) != getattr(a, name)]


def mappings_within(b: Observation, a: Observation,
                    allowed: Callable[[Partition, int, Mapping | None, Mapping | None], bool]
                    ) -> Problems:
    """Every entry that differs between b and a (partitions in both) is allowed(p, va, b, a)."""
    problems = []
    for p in set(b.partitions) & set(a.partitions):
        before, after = b.mappings[p], a.mappings[p]
        for va in sorted(set(before) | set(after)):
            if before.get(va) != after.get(va) and not allowed(p, va, before.get(va),
                                                              after.get(va)):
                problems.append(f"{p} VA {va:#x}: {before.get(va)} -> {after.get(va)}")
    return problems


def nothing(b: Observation, a: Observation) -> Problems:
    """Nothing observable changed: not a byte of memory (so neither the tree, mappings nor
    configuration pages), nor the running partition, nor the CPU context."""
    return same(b, a, "current", "cpu") + pages_within(b, a, set())


def accessible_flip(pages: set[int], lineage: list[Partition], to: bool):
    """An entry allowed to change: in `lineage`, mapping one of `pages`, only its accessible
    bit, set to `to`."""
    def allowed(p, va, before, after):
        return (p in lineage and before is not None and after is not None
                and before.pa // PAGE_SIZE in pages and after == before._replace(accessible=to))
    return allowed


def config_of(o: Observation, parts) -> set[int]:
    return set().union(*(o.config[p] for p in parts))


def others_config_same(b: Observation, a: Observation, but: Partition | None) -> Problems:
    return [f"config pages of {p} changed" for p in a.partitions
            if p != but and p in b.config and b.config[p] != a.config[p]]


# ---------------------------------------------------------------- the memory services


def createPartition(b, a, caller, desc, pd, sh1, sh2, ll, *, refused) -> Problems:
    """A new child of the caller whose configuration pages are the five given pages; those
    become inaccessible in the caller and its ancestors; only those pages and the caller's and
    its ancestors' tables change."""
    if refused:
        return nothing(b, a)
    five = {b.mappings[caller][va & ~0xFFF].pa // PAGE_SIZE for va in (desc, pd, sh1, sh2, ll)}
    child = Partition(b.mappings[caller][desc & ~0xFFF].pa // PAGE_SIZE)
    lineage = b.lineage(caller)
    problems = same(b, a, "current", "cpu") + others_config_same(b, a, child)
    if set(a.partitions) != set(b.partitions) | {child} or a.parents.get(child) != caller:
        problems.append(f"the tree is not the old one plus {child} under {caller}")
    elif a.config[child] != five or a.mappings[child]:
        problems.append(f"{child} is not made of the five pages alone")
    problems += [f"the parent of {p} changed" for p in b.partitions
                 if a.parents.get(p) != b.parents[p]]
    return (problems + mappings_within(b, a, accessible_flip(five, lineage, False))
            + pages_within(b, a, five | config_of(b, lineage)))


def deletePartition(b, a, caller, desc, *, refused) -> Problems:
    """The child and its subtree leave the tree; the child's configuration pages become
    accessible again in the caller and its ancestors, whose tables alone change.  If the running
    partition was in the subtree, the caller runs."""
    if refused:
        return nothing(b, a)
    child, lineage = b.child(caller, desc), b.lineage(caller)
    if child is None:
        return [f"deleted {desc:#x}, not a child of {caller}"]
    gone = b.subtree(child)
    problems = same(b, a, "cpu") + others_config_same(b, a, None)
    if a.partitions != tuple(p for p in b.partitions if p not in gone):
        problems.append(f"the tree is not the old one without {sorted(gone)}")
    if a.current != (caller if b.current in gone else b.current):
        problems.append(f"running {a.current} after {b.current}")
    return (problems + mappings_within(b, a, accessible_flip(set(b.config[child]), lineage, True))
            + pages_within(b, a, config_of(b, lineage)))


def addVAddr(b, a, caller, src, desc, dst, r, w, e, *, refused) -> Problems:
    """One new entry in the child, dst -> the caller's page at src with rights (r, w, e);
    only the caller's and the child's tables change."""
    if refused:
        return nothing(b, a)
    child, page = b.child(caller, desc), b.mappings[caller][src & ~0xFFF]
    new = Mapping(page.pa, True, bool(w), bool(e), True)

    def allowed(p, va, before, after):
        return p == child and va == dst & ~0xFFF and before is None and after == new
    return (same(b, a, "partitions", "parents", "config", "current", "cpu")
            + mappings_within(b, a, allowed)
            + pages_within(b, a, set(b.config[caller] | b.config[child])))


def removeVAddr(b, a, caller, desc, va, *, refused) -> Problems:
    """The child's entry at va goes; only the caller's and the child's tables change."""
    if refused:
        return nothing(b, a)
    child = b.child(caller, desc)

    def allowed(p, at, before, after):
        return p == child and at == va & ~0xFFF and after is None
    return (same(b, a, "partitions", "parents", "config", "current", "cpu")
            + mappings_within(b, a, allowed)
            + pages_within(b, a, set(b.config[caller] | b.config[child])))


def prepare(b, a, caller, desc, va, first_free_va, *, refused) -> Problems:
    """The child gains configuration pages, pages the caller mapped accessible, which become
    inaccessible in the caller and its ancestors; only their tables and the child's change."""
    child, lineage = b.child(caller, desc), b.lineage(caller)
    if child is None:
        return nothing(b, a)
    new = set(a.config[child] - b.config[child])
    offered = {m.pa // PAGE_SIZE for m in b.mappings[caller].values() if m.accessible}
    problems = (same(b, a, "partitions", "parents", "current", "cpu")
                + others_config_same(b, a, child))
    if not b.config[child] <= a.config[child] or not new <= offered:
        problems.append(f"{child}'s configuration pages went from {sorted(b.config[child])} "
                        f"to {sorted(a.config[child])}")
    return (problems + mappings_within(b, a, accessible_flip(new, lineage, False))
            + pages_within(b, a, config_of(b, lineage) | set(a.config[child])))


def collect(b, a, caller, desc, va, *, refused) -> Problems:
    """The child loses empty tables, which become accessible again in the caller and its
    ancestors; only their tables and the child's change."""
    child, lineage = b.child(caller, desc), b.lineage(caller)
    if child is None:
        return nothing(b, a)
    freed = set(b.config[child] - a.config[child])
    problems = same(b, a, "partitions", "parents", "current", "cpu") + others_config_same(
        b, a, child)
    if not a.config[child] <= b.config[child]:
        problems.append(f"{child} gained configuration pages")
    return (problems + mappings_within(b, a, accessible_flip(freed, lineage, True))
            + pages_within(b, a, config_of(b, lineage) | set(b.config[child])))


def countToMap(b, a, caller, desc, va, *, refused) -> Problems:
    """Reads only."""
    return nothing(b, a)


def mappedInChild(b, a, caller, va, *, refused) -> Problems:
    """Reads only."""
    return nothing(b, a)


# ---------------------------------------------------------------- control flow


def state_word(p: Partition) -> set[int]:
    """The bytes of p's interrupt state (descriptor slot 13)."""
    at = p.pd * PAGE_SIZE + 4 * PD_INT_STATE
    return set(range(at, at + 4))


def save_area(b: Observation, caller: Partition, index: int) -> set[int]:
    """The bytes of the context slot `index` of the caller's VIDT names (none if no VIDT)."""
    g = b.geometry
    vidt = b.mappings[caller].get(g.vidt_va)
    if vidt is None or index >= g.table_size:
        return set()
    va = b.word(vidt.pa + 4 * index) & (g.va_limit - 1)
    return b.bytes_at(caller, va, CONTEXT_SIZE) if va else set()


def switch(b, a, caller, target, save_index, *, refused) -> Problems:
    """A switch to target: the caller's context saved in its save slot, the two interrupt
    states; nothing else but the running partition and the CPU context."""
    if refused:
        return nothing(b, a)
    if target is None or a.current != target:
        return [f"{caller} switched to {a.current}, not to {target}"]
    saved = save_area(b, caller, save_index) if save_index is not None else set()
    return (same(b, a, "partitions", "parents", "mappings", "config")
            + bytes_within(b, a, saved | state_word(caller) | state_word(target)))


def target_of(b: Observation, caller: Partition, desc: int) -> Partition | None:
    """yield's target: the parent for a null descriptor, else the child it names."""
    return b.parents[caller] if desc & ~0xFFF == 0 else b.child(caller, desc)


def yield_(b, a, caller, callee, target_interrupt, save_index, flags_on_yield, flags_on_wake,
           *, refused) -> Problems:
    return switch(b, a, caller, target_of(b, caller, callee), save_index, refused=refused)


def dispatch(b, a, caller, desc, vint, notify, data1, data2, *, refused) -> Problems:
    cli, sti = cli_sti_save_indices(b.geometry.table_size)
    return switch(b, a, caller, target_of(b, caller, desc),
                  cli if b.int_state(caller) == 0 else sti, refused=refused)


def resume(b, a, caller, desc, pipflags, *, refused) -> Problems:
    if desc == RESUME_SELF or (desc & ~0xFFF == 0 and b.parents[caller] is None):
        target = caller
    else:
        target = target_of(b, caller, desc)
    return switch(b, a, caller, target, None, refused=refused)


def get_int_state(b, a, caller, desc, *, refused) -> Problems:
    """Reads only."""
    return nothing(b, a)


def set_int_state(b, a, caller, value, *, refused) -> Problems:
    """The caller's interrupt state alone."""
    return (same(b, a, "partitions", "parents", "mappings", "config", "current", "cpu")
            + bytes_within(b, a, state_word(caller)))


# ---------------------------------------------------------------- memory accesses (§7)


def read(b, a, caller, va, n, *, refused) -> Problems:
    return nothing(b, a)


def write(b, a, caller, va, data, *, refused) -> Problems:
    """The bytes written, through the caller's page tables; nothing if refused."""
    if refused:
        return nothing(b, a)
    return (same(b, a, "partitions", "parents", "mappings", "config", "current", "cpu")
            + bytes_within(b, a, b.bytes_at(caller, va, len(data))))


#: the calls that change nothing: their frame needs no structure (Observation.before)
READS_ONLY = frozenset({"count_to_map", "mapped_in_child", "get_int_state", "read"})

#: the frame of each call, by the name of its method on a PartitionAPI
FRAMES: dict[str, Callable[..., Problems]] = {
    "create_partition": createPartition, "delete_partition": deletePartition,
    "add_vaddr": addVAddr, "remove_vaddr": removeVAddr, "prepare": prepare,
    "collect": collect, "count_to_map": countToMap, "mapped_in_child": mappedInChild,
    "yield_": yield_, "dispatch": dispatch, "resume": resume,
    "get_int_state": get_int_state, "set_int_state": set_int_state,
    "read": read, "write": write,
}


def frame_problems(name: str, before: Observation, after: Observation, caller: Partition,
                   args: tuple, refused: bool) -> Problems:
    """What the call `name(*args)` by caller changed outside its frame ([] if nothing)."""
    return FRAMES[name](before, after, caller, *args, refused=refused)


__all__ = ["FRAMES", "Observation", "frame_problems"]
