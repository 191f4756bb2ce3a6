"""How far hostile system calls from one partition reach."""
from __future__ import annotations

from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.types import MemoryFault

from ..measures import count, flag
from ..params import Param
from ..registry import Figure, experiment
from ..trees import build
from .common import IMPL, KERNELS, LEVELS, TABLE_SIZE, TREE, tree_shape

#: the memory services and their arguments: v a VA, f a flag
SERVICES = {"create_partition": "vvvvv", "delete_partition": "v", "add_vaddr": "vvvfff",
            "remove_vaddr": "vv", "prepare": "vvv", "collect": "vv", "count_to_map": "vv",
            "mapped_in_child": "v"}


def _snapshot(k) -> dict:
    """Every partition's mappings and kernel pages."""
    return {p: (k.mappings(p), k.config_pages(p)) for p in k.partitions()}


class _Attacker:
    """Draws hostile calls: VAs it maps (lent, shared or free), its children, null, anything."""

    def __init__(self, k, node, rng):
        self.k, self.api, self.rng = k, node.api, rng
        self.own = sorted(k.mappings(node.partition))
        self.kids = [child.desc for child in node.children]
        self.pages = k.geometry.va_limit // PAGE_SIZE

    def va(self) -> int:
        pick = self.rng.random()
        if pick < 0.5 and self.own:
            return self.rng.choice(self.own)
        if pick < 0.65 and self.kids:
            return self.rng.choice(self.kids)
        if pick < 0.75:
            return 0
        return self.rng.randrange(self.pages) * PAGE_SIZE

    def call(self) -> bool:
        """One random system call, or a write of a random word; True if accepted."""
        name = self.rng.choice([*SERVICES, "write"])
        if name == "write":
            try:
                self.api.write(self.va(), self.va().to_bytes(4, "little"))
            except MemoryFault:
                return False
            return True
        args = [self.va() if kind == "v" else self.rng.random() < 0.5
                for kind in SERVICES[name]]
        getattr(self.api, name)(*args)
        return self.k.last_error is None


@experiment(
    "fault_containment",
    params=[*TREE, Param("attacker_depth", 1, "depth of the hostile partition (0 = the root)",
                         low=0, high=12),
            Param("calls", 200, "hostile calls issued", low=1, unit="calls"), TABLE_SIZE, LEVELS,
            IMPL],
    measures={
        "partitions": count("partitions in the tree before the attack, the root "
                            "included", "partitions"),
        "subtree": count("partitions in the attacker's subtree before the attack, itself "
                         "included", "partitions"),
        "accepted": count("calls the kernel (or the MMU, for writes) accepted", "calls"),
        "refused": count("calls refused", "calls"),
        "changed_self": flag("1 if the attacker's own mappings or kernel pages changed"),
        "changed_descendants": count("descendants whose state changed (deleted ones "
                                     "included)", "partitions"),
        "changed_ancestors": count("ancestors whose state changed", "partitions"),
        "changed_others": count("partitions neither ancestors nor descendants whose state changed, "
                                "and partitions created outside the subtree: 0 if "
                                "contained", "partitions"),
        "foreign_ancestor_entries": count("changed ancestor mappings of pages the attacker never "
                                          "used: 0 if contained", "entries"),
        "invariant_violations": count("Pip properties violated after the attack", "properties"),
    },
    figures=[
        Figure("reach_vs_depth", x="attacker_depth",
               y=("changed_descendants", "changed_ancestors", "changed_others",
                  "foreign_ancestor_entries"),
               title="Partitions a hostile partition changes, against its depth"),
        Figure("acceptance", x="attacker_depth", y=("accepted", "refused"),
               title="Hostile calls accepted and refused"),
    ],
)
def fault_containment(p, rng):
    """How far a faulty or hostile partition's system calls reach in the tree.

    How: build the tree, pick the leftmost partition at `attacker_depth`, snapshot every
    partition's mappings and kernel pages, issue `calls` random memory system calls from it
    (its own VAs, its children's descriptors, null and arbitrary VAs as arguments, random
    rights) mixed with writes of random words into its memory (which turns its free-page
    chains hostile for prepare), then compare.  Pip's isolation means changes stay in the
    attacker's subtree, except the accessible bit of pages the attacker itself used, which
    Pip propagates to its ancestors (writeAccessibleRec).

    Limits: only the kernel's view (mappings, kernel pages, invariants) is compared, not the
    contents of data pages (the MMU checks of api.write are covered by the kernel tests);
    faults are hostile system calls, not CPU exceptions (fault_propagation delivers those).
    """
    tree = build(KERNELS[p["impl"]], tree_shape(p, rng), p["table_size"], p["levels"])
    k, node = tree.kernel, tree.leftmost(p["attacker_depth"])
    subtree = {n.partition for n in node.subtree()}
    ancestors = {n.partition for n in node.ancestors()}
    before = _snapshot(k)
    attacker = _Attacker(k, node, rng)
    accepted = sum(attacker.call() for _ in range(p["calls"]))
    after = _snapshot(k)
    touched = _pages(before, after, node.partition)
    changed = {q for q in before if before[q] != after.get(q)}
    escaped = [q for q in after if q not in before and not _inside(k, q, subtree)]
    foreign = sum(_foreign_entries(before[a][0], after[a][0], touched) for a in ancestors)
    return {
        "partitions": len(before), "subtree": len(subtree),
        "accepted": accepted, "refused": p["calls"] - accepted,
        "changed_self": int(node.partition in changed),
        "changed_descendants": len(changed & subtree - {node.partition}),
        "changed_ancestors": len(changed & ancestors),
        "changed_others": len(changed - subtree - ancestors) + len(escaped),
        "foreign_ancestor_entries": foreign,
        "invariant_violations": len(k.check_invariants()),
    }


def _pages(before, after, partition) -> set[int]:
    """Physical pages the attacker used before or after (mapped or kernel pages)."""
    pages = set()
    for snap in (before, after):
        mappings, config = snap.get(partition, ({}, frozenset()))
        pages |= {m.pa // PAGE_SIZE for m in mappings.values()} | config
    return pages


def _inside(k, partition, subtree) -> bool:
    while partition is not None and partition not in subtree:
        partition = k.parent(partition)
    return partition is not None


def _foreign_entries(old: dict, new: dict, touched: set[int]) -> int:
    return sum(1 for va in old.keys() | new.keys()
               if old.get(va) != new.get(va)
               and not {m.pa // PAGE_SIZE for m in (old.get(va), new.get(va)) if m} <= touched)
