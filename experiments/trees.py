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
from typing import TYPE_CHECKING, Iterator

from pipsim.kernel import layout
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.types import Geometry
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page

from .errors import ExperimentError

if TYPE_CHECKING:
    from pipsim.kernel import Kernel, Partition, model
    from pipsim.kernel.wrappers import API

SHAPES = ("chain", "star", "balanced", "random")


@dataclass(frozen=True)
class Shape:
    """A partition: the data pages it keeps, and its children."""

    pages: int = 0
    children: tuple["Shape", ...] = ()

    def preorder(self, depth: int = 0) -> Iterator[tuple[int, "Shape"]]:
        """(depth, shape) of this subtree's partitions, parents first (this one at ``depth``)."""
        yield depth, self
        for child in self.children:
            yield from child.preorder(depth + 1)

    @property
    def size(self) -> int:
        """Partitions in this subtree, itself included."""
        return sum(1 for _ in self.preorder())

    @property
    def depth(self) -> int:
        """Levels below this partition (0: no children)."""
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

def data_pages(shape: Shape, g: Geometry, vidt: bool) -> int:
    """Pages a partition maps at its data VAs: its own plus all it lends to its children."""
    return shape.pages + sum(lent_pages(c, g, vidt) for c in shape.children)


def lent_pages(child: Shape, g: Geometry, vidt: bool) -> int:
    """Pages a parent spends on a child: the pages it maps, its VIDT, its kernel pages."""
    n = data_pages(child, g, vidt)
    ranges = [(g.root_va_start, g.root_va_start + n * PAGE_SIZE)]
    ranges += layout.page_ranges([g.vidt_va] if vidt else [])
    return n + int(vidt) + layout.kernel_pages(g, ranges)


# ---------------------------------------------------------------- building

class InvariantViolation(AssertionError):
    """A built tree breaks Pip's properties: a bug of the kernel, not of the experiment."""


@dataclass(eq=False)
class Node:
    """A built partition: its handle, depth, descriptor VA in its parent, syscall view and
    the pages it still has free (its own data pages, once its children are built)."""

    partition: Partition
    depth: int
    desc: int
    parent: "Node | None"
    api: API
    alloc: PageAllocator
    children: list["Node"] = field(default_factory=list)

    def subtree(self) -> Iterator["Node"]:
        """This partition and every one below it, parents first."""
        yield self
        for child in self.children:
            yield from child.subtree()

    def ancestors(self) -> list["Node"]:
        """Its parent, its parent's parent, ... up to the root."""
        chain_up, node = [], self.parent
        while node is not None:
            chain_up.append(node)
            node = node.parent
        return chain_up


@dataclass
class Tree:
    """A built partition tree: its kernel and its root."""

    kernel: Kernel | model.Kernel
    root: Node

    @property
    def nodes(self) -> list[Node]:
        """Every partition, parents first."""
        return list(self.root.subtree())

    def leftmost(self, depth: int) -> Node:
        """The first partition at `depth` (the root is depth 0)."""
        for node in self.root.subtree():
            if node.depth == depth:
                return node
        raise ExperimentError(f"the tree has no partition at depth {depth} "
                              f"(it is {max(n.depth for n in self.nodes)} deep)")


def boot(kernel_cls: type[Kernel] | type[model.Kernel], shape: Shape, table_size: int,
         levels: int, vidt: bool = False, spare: int = 0,
         policy: str = "pip") -> Kernel | model.Kernel:
    """A kernel (with `policy`) whose root has the free pages `shape` needs, plus `spare`."""
    g = Geometry(8, table_size, levels)
    need = data_pages(shape, g, vidt) + spare
    pages = need + 32
    while True:
        k = kernel_cls(pages=pages, table_size=table_size, levels=levels, policy=policy)
        free = len(PageAllocator.for_root(k))
        if free >= need:
            return k
        pages += need - free


def build(kernel_cls: type[Kernel] | type[model.Kernel], shape: Shape, table_size: int = 1024,
          levels: int = 2, vidt: bool = False, spare: int = 0, policy: str = "pip") -> Tree:
    """Boot a kernel (with `policy`) and build `shape` on it; the root keeps `spare` extra
    free pages."""
    k = boot(kernel_cls, shape, table_size, levels, vidt, spare, policy)
    api = k.as_partition(k.root)
    root = Node(k.root, 0, 0, None, api, PageAllocator.for_root(k))
    _build_children(k, root, shape, vidt)
    problems = k.check_invariants()
    if problems:
        raise InvariantViolation(f"the built tree violates {', '.join(problems)}")
    return Tree(k, root)


def _build_children(k: Kernel | model.Kernel, node: Node, shape: Shape, vidt: bool) -> None:
    g = k.geometry
    for child_shape in shape.children:      # a child fits if the root did: it needs less
        n = data_pages(child_shape, g, vidt)
        desc = create_child(node.api, node.alloc)
        dsts = [g.root_va_start + i * PAGE_SIZE for i in range(n)]
        for dst in ([g.vidt_va] if vidt else []) + dsts:
            map_page(node.api, node.alloc, desc, node.alloc.alloc(), dst)
        part = k.children(node.partition)[-1]
        child = Node(part, node.depth + 1, desc, node, k.as_partition(part), PageAllocator(dsts))
        node.children.append(child)
        _build_children(k, child, child_shape, vidt)
