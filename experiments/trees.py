"""Partition trees for experiments: shapes (regular or random) and building them on a kernel.

A ``Shape`` says how many data pages each partition keeps for itself and what its children are;
``build`` boots a kernel just big enough and creates the tree through the system calls (the
convenience layer), each parent giving each child exactly the pages its subtree needs, then
checks Pip's invariants.  Every partition maps its pages at consecutive VAs from the first VA
after the kernel slot, and optionally a VIDT page (needed to yield to it).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator

from pipkernel.abi import PAGE_SIZE
from pipkernel.types import Geometry
from pipkernel.wrappers import PageAllocator, PipCallError, create_child, map_page

from .errors import ExperimentError

SHAPES = ("chain", "star", "balanced", "random")
CREATE_PAGES = 5            # descriptor, MMU root, sh1 root, sh2 root, first LL page


@dataclass(frozen=True)
class Shape:
    """A partition: the data pages it keeps, and its children."""

    pages: int = 0
    children: tuple["Shape", ...] = ()

    def preorder(self, depth: int = 0) -> Iterator[tuple[int, "Shape"]]:
        yield depth, self
        for child in self.children:
            yield from child.preorder(depth + 1)

    @property
    def size(self) -> int:
        """Partitions in this subtree, itself included."""
        return sum(1 for _ in self.preorder())

    @property
    def depth(self) -> int:
        return max(d for d, _ in self.preorder())


def chain(depth: int, pages: int) -> Shape:
    """The root above `depth` partitions, each the only child of the previous one."""
    shape = Shape(pages)
    for _ in range(depth - 1):
        shape = Shape(pages, (shape,))
    return Shape(0, (shape,) if depth else ())


def balanced(depth: int, fanout: int, pages: int) -> Shape:
    """Every partition above `depth` has `fanout` children: fanout + ... + fanout^depth."""
    shape = Shape(pages)
    for _ in range(depth - 1):
        shape = Shape(pages, (shape,) * fanout)
    return Shape(0, (shape,) * fanout if depth else ())


def random_shape(rng: random.Random, depth: int, fanout: int, pages: int) -> Shape:
    """At most `depth` levels and `fanout` children per partition, 1..`pages` pages each;
    the root has at least one child."""
    def node(d: int) -> Shape:
        count = rng.randint(0, fanout) if d < depth else 0
        return Shape(rng.randint(1, pages), tuple(node(d + 1) for _ in range(count)))
    count = rng.randint(1, fanout) if depth else 0
    return Shape(0, tuple(node(1) for _ in range(count)))


def make_shape(kind: str, rng: random.Random, depth: int, fanout: int, pages: int) -> Shape:
    """One of SHAPES: chain ignores fanout, star is balanced with depth 1."""
    if kind == "chain":
        return chain(depth, pages)
    if kind == "star":
        return balanced(1, fanout, pages)
    if kind == "balanced":
        return balanced(depth, fanout, pages)
    if kind == "random":
        return random_shape(rng, depth, fanout, pages)
    raise ExperimentError(f"unknown tree shape {kind!r}; shapes: {', '.join(SHAPES)}")


# ---------------------------------------------------------------- page accounting

def _tables(n: int, g: Geometry) -> int:
    """Tables below the MMU root for n consecutive pages starting on a top-level slot."""
    return sum(-(-n // g.table_size ** j) for j in range(1, g.levels))


def _extra_ll_pages(tables: int, g: Geometry) -> int:
    """LL pages beyond the first: each table takes 3 pairs; a page holds ts/2 - 2 pairs."""
    per_page = (g.table_size // 2 - 2) // 3
    return max(0, -(-tables // per_page) - 1)


def data_pages(shape: Shape, g: Geometry, vidt: bool) -> int:
    """Pages a partition maps at its data VAs: its own plus all it lends to its children."""
    return shape.pages + sum(lent_pages(c, g, vidt) for c in shape.children)


def lent_pages(child: Shape, g: Geometry, vidt: bool) -> int:
    """Pages a parent spends on a child: its kernel pages, the pages it maps, their tables."""
    n = data_pages(child, g, vidt)
    tables = _tables(n, g) + (g.levels - 1 if vidt else 0)
    return CREATE_PAGES + n + int(vidt) + 3 * tables + _extra_ll_pages(tables, g)


# ---------------------------------------------------------------- building

class InvariantViolation(AssertionError):
    """A built tree breaks Pip's properties: a bug of the kernel, not of the experiment."""


@dataclass(eq=False)
class Node:
    """A built partition: its handle, depth, descriptor VA in its parent, syscall view and
    the pages it still has free (its own data pages, once its children are built)."""

    partition: object
    depth: int
    desc: int
    parent: "Node | None"
    api: object
    alloc: PageAllocator
    children: list["Node"] = field(default_factory=list)

    def subtree(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.subtree()

    def ancestors(self) -> list["Node"]:
        chain_up, node = [], self.parent
        while node is not None:
            chain_up.append(node)
            node = node.parent
        return chain_up


@dataclass
class Tree:
    kernel: object
    root: Node

    @property
    def nodes(self) -> list[Node]:
        return list(self.root.subtree())

    def leftmost(self, depth: int) -> Node:
        """The first partition at `depth` (the root is depth 0)."""
        for node in self.root.subtree():
            if node.depth == depth:
                return node
        raise ExperimentError(f"the tree has no partition at depth {depth} "
                              f"(it is {max(n.depth for n in self.nodes)} deep)")


def boot(kernel_cls, shape: Shape, table_size: int, levels: int, vidt: bool = False,
         spare: int = 0):
    """A kernel whose root has the free pages `shape` needs, plus `spare`."""
    g = Geometry(8, table_size, levels)
    need = data_pages(shape, g, vidt) + spare
    pages = need + 32
    while True:
        k = kernel_cls(pages=pages, table_size=table_size, levels=levels)
        free = len(PageAllocator.for_root(k))
        if free >= need:
            return k
        pages += need - free


def build(kernel_cls, shape: Shape, table_size: int = 1024, levels: int = 2,
          vidt: bool = False, spare: int = 0) -> Tree:
    """Boot a kernel and build `shape` on it; the root keeps `spare` extra free pages."""
    k = boot(kernel_cls, shape, table_size, levels, vidt, spare)
    api = k.as_partition(k.root)
    root = Node(k.root, 0, 0, None, api, PageAllocator.for_root(k))
    _build_children(k, root, shape, vidt)
    problems = k.check_invariants()
    if problems:
        raise InvariantViolation(f"the built tree violates {', '.join(problems)}")
    return Tree(k, root)


def _build_children(k, node: Node, shape: Shape, vidt: bool) -> None:
    g = k.geometry
    for child_shape in shape.children:      # a child fits if the root did: it needs less
        n = data_pages(child_shape, g, vidt)
        desc = create_child(node.api, node.alloc)
        dsts = [g.root_va_start + i * PAGE_SIZE for i in range(n)]
        for dst in ([g.vidt_va] if vidt else []) + dsts:
            prepare(k, node.api, node.alloc, desc, dst)
            map_page(node.api, node.alloc, desc, node.alloc.alloc(), dst)
        part = k.children(node.partition)[-1]
        child = Node(part, node.depth + 1, desc, node, k.as_partition(part), PageAllocator(dsts))
        node.children.append(child)
        _build_children(k, child, child_shape, vidt)


def prepare(k, api, alloc: PageAllocator, desc: int, dst: int) -> None:
    """Give the child the tables for dst, with a chain longer than countToMap says.

    countToMap adds one LL page only if the head LL page is full, but a call creating tables
    at two levels may fill the head and need a second one: prepare then reaches the end of an
    exact chain (NULL_VADDR; pipkernel.wrappers.map_page fails this way after 256 pages on
    16x3).  The pages prepare leaves unused go back to `alloc`.
    """
    needed = api.count_to_map(desc, dst)
    if not needed:
        return
    chain_vas = [alloc.alloc() for _ in range(min(needed + k.geometry.levels, len(alloc)))]
    for va, nxt in zip(chain_vas, chain_vas[1:] + [0]):
        api.write(va, nxt.to_bytes(4, "little"))
    ok, unused = api.prepare(desc, dst, chain_vas[0])
    if not ok:
        raise PipCallError("prepare", k.last_error)
    for va in chain_vas[chain_vas.index(unused):] if unused else ():
        alloc.free(va)
