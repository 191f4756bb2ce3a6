"""Endpoints: a tree of named partitions and where each sees the mailboxes.

A Topology caches names, endpoint ids and VAs (configuration); the mailboxes
themselves live in partition pages.  ``setup_topology`` builds a tree on a kernel
through system calls, as the root and then as each parent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from pipsim.kernel import layout
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.types import Geometry, Partition
from pipsim.kernel.wrappers import PageAllocator, create_child, map_range

from .mailbox import MAILBOX_PAGES, MAX_ENDPOINT, IpcError, Mailbox, MailboxView

if TYPE_CHECKING:
    from pipsim.kernel import Kernel, model
    from pipsim.kernel.wrappers import API


@dataclass(eq=False)
class Node:
    """One endpoint: a partition and its mailbox's VAs, in its own and its parent's space."""

    name: str
    id: int
    partition: Partition
    outbox_va: int
    inbox_va: int
    parent: "Node | None" = None
    parent_pages: tuple[int, ...] | None = None
    children: list["Node"] = field(default_factory=list)
    subtree: set[int] = field(default_factory=set)   # endpoint ids, this node's included
    closed: str | None = None      # why it takes no message now: the relay refuses them
    broken: str | None = None      # why its mailbox cannot be used: the relay never touches it

    def __repr__(self) -> str:
        return f"Node({self.name!r}, id={self.id})"


class Topology:
    """The partition tree the relay serves; endpoints are partition names (ids 1, 2, ...)."""

    def __init__(self, kernel: Kernel | model.Kernel):
        self.kernel = kernel
        self.root: Node | None = None
        self._by_name: dict[str, Node] = {}
        self._by_id: dict[int, Node] = {}
        self._apis: dict[Partition, API] = {}
        self._last_id = 0              # ids are never reused: a late message finds no one

    def add(self, name: str, partition: Partition, outbox_va: int, inbox_va: int,
            parent: str | None = None, parent_pages: Sequence[int] | None = None) -> Node:
        """Register an endpoint.  The root comes first (no parent); any other node names
        its parent, the partition must be that parent's child and ``parent_pages`` are
        the parent's VAs of the mailbox's four pages (outbox pair, then inbox pair)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"an endpoint name is a non-empty string, not {name!r}")
        if name in self._by_name:
            raise ValueError(f"endpoint {name!r} already exists")
        if self._last_id >= MAX_ENDPOINT:
            raise ValueError(f"a topology gives out at most {MAX_ENDPOINT} endpoint ids")
        node = self._node(name, self._last_id + 1, partition, outbox_va, inbox_va, parent,
                          parent_pages)
        self._last_id = node.id
        self._attach(node)
        return node

    def replace(self, name: str, partition: Partition, outbox_va: int, inbox_va: int,
                parent_pages: Sequence[int] | None = None) -> Node:
        """The leaf endpoint `name` runs in a new partition (its parent restarted it): same
        name and id, its new mailbox (``parent_pages`` as for ``add``)."""
        old = self.node(name)
        if old.children or old.parent is None:
            raise ValueError(f"only a leaf other than the root can be replaced, not {name!r}")
        node = self._node(name, old.id, partition, outbox_va, inbox_va, old.parent.name,
                          parent_pages)
        self.remove(name)
        self._attach(node)
        return node

    def _node(self, name: str, endpoint: int, partition: Partition, outbox_va: int,
              inbox_va: int, parent: str | None, parent_pages: Sequence[int] | None) -> Node:
        """A checked node, not yet in the tree."""
        if (parent is None) != (self.root is None):
            raise ValueError("the first endpoint is the root and only it has no parent")
        up = self.node(parent) if parent is not None else None
        expected = up.partition if up else None
        if self.kernel.parent(partition) != expected:
            raise ValueError(f"{partition} is not the child of {parent!r}'s partition")
        if up is not None and (parent_pages is None or len(parent_pages) != MAILBOX_PAGES):
            raise ValueError(f"{name!r}: parent_pages must list the parent's VAs of the "
                             f"{MAILBOX_PAGES} mailbox pages")
        return Node(name, endpoint, partition, outbox_va, inbox_va, up,
                    tuple(parent_pages) if up is not None and parent_pages is not None else None)

    def _attach(self, node: Node) -> None:
        up = node.parent
        self._by_name[node.name], self._by_id[node.id] = node, node
        if up is None:
            self.root = node
        else:
            up.children.append(node)
        ancestor: Node | None = node
        while ancestor is not None:
            ancestor.subtree.add(node.id)
            ancestor = ancestor.parent

    def remove(self, name: str) -> None:
        """Forget a leaf endpoint (its partition is about to be deleted); ``add`` does not
        give its id out again."""
        node = self.node(name)
        if node.parent is None or node.children:
            raise ValueError(f"only a leaf other than the root can be removed, not {name!r}")
        del self._by_name[name], self._by_id[node.id]
        self._apis.pop(node.partition, None)
        node.parent.children.remove(node)
        ancestor: Node | None = node.parent
        while ancestor is not None:
            ancestor.subtree.discard(node.id)
            ancestor = ancestor.parent

    # ---- what the relay may do with an endpoint ----
    def close(self, name: str, why: str) -> None:
        """The endpoint takes nothing for now (its partition does not run): the relay
        refuses what is sent to it, and what waits in its inbox, as undeliverable."""
        node = self.node(name)
        node.closed = node.closed or why

    def reopen(self, name: str) -> None:
        """The endpoint takes messages again, unless its mailbox is broken."""
        node = self.node(name)
        node.closed = node.broken

    def mark_broken(self, name: str, why: str) -> None:
        """The endpoint's mailbox cannot be used (an access to it faulted): it is closed for
        good, and nobody reads or writes it again (``replace`` gives a fresh one)."""
        node = self.node(name)
        node.broken = why
        node.closed = node.closed or why

    # ---- lookups ----
    def node(self, name: str) -> Node:
        """The endpoint ``name``; IpcError if there is none."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise IpcError(f"unknown endpoint {name!r}") from None

    def by_id(self, endpoint: int) -> Node | None:
        """The endpoint with id ``endpoint``, or None."""
        return self._by_id.get(endpoint)

    @property
    def endpoints(self) -> dict[str, int]:
        """Every endpoint's id, by name."""
        return {name: node.id for name, node in self._by_name.items()}

    def preorder(self) -> Iterator[Node]:
        """The endpoints, parents before their children (depth first from the root)."""
        stack = [self.root] if self.root else []
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def postorder(self) -> list[Node]:
        """The endpoints, children before their parents (preorder reversed)."""
        return list(self.preorder())[::-1]

    # ---- acting as a partition ----
    def api(self, node: Node) -> API:
        """The system-call interface of node's partition (cached)."""
        if node.partition not in self._apis:
            self._apis[node.partition] = self.kernel.as_partition(node.partition)
        return self._apis[node.partition]

    def own_view(self, node: Node) -> MailboxView:
        """node's mailbox through its own VAs."""
        return MailboxView.own(self.api(node), node.outbox_va, node.inbox_va)

    def parent_view(self, node: Node) -> MailboxView:
        """node's mailbox through its parent's VAs of the same pages."""
        if node.parent is None or node.parent_pages is None:
            raise ValueError(f"{node.name!r} is the root: it has no parent")
        return MailboxView(self.api(node.parent), node.parent_pages)

    def format(self, name: str) -> None:
        """Initialise name's mailbox, as its partition."""
        node = self.node(name)
        self.own_view(node).format(node.id)

    def mailbox(self, name: str, api: API | None = None) -> Mailbox:
        """name's own Mailbox, used as its partition (through ``api``, its PartitionAPI or
        one standing for it)."""
        node = self.node(name)
        return Mailbox(api or self.api(node), node.outbox_va, node.inbox_va, self.endpoints)


def _pool_size(g: Geometry, tree: Mapping, base: int) -> int:
    """Pages a node needs to build the subtree `tree` (its children) from its own pool: each
    child's mailbox and pool, mapped from `base`, with their kernel pages (pipsim.kernel.layout),
    and the spare pages map_page's chains may take while tables are built."""
    if not tree:
        return 0
    total = layout.build_spare(g)
    for sub in tree.values():
        mapped = MAILBOX_PAGES + _pool_size(g, sub, base)
        total += mapped + layout.kernel_pages(g, [(base, base + mapped * PAGE_SIZE)])
    return total


def setup_topology(kernel: Kernel | model.Kernel, tree: Mapping,
                   mailbox_va: int | None = None) -> Topology:
    """Build a partition tree with a formatted mailbox in each partition.

    ``tree`` is ``{"root": {"a": {"a1": {}}, "b": {}}}``: one key, the root partition's
    name.  Each parent creates its children (pipsim.kernel.wrappers) from its own pages and
    maps them their mailbox at ``mailbox_va`` (default: the first VA after the kernel
    slot; outbox pair, then inbox pair) and, if they have children, a page pool after it.
    """
    if not isinstance(tree, Mapping) or len(tree) != 1:
        raise ValueError("tree must be a mapping with one key, the root's name")
    g = kernel.geometry
    base = g.root_va_start if mailbox_va is None else mailbox_va
    pool_va = base + MAILBOX_PAGES * PAGE_SIZE
    topo = Topology(kernel)
    (root_name, root_tree), = tree.items()
    alloc = PageAllocator.for_root(kernel)
    pages = [alloc.alloc() for _ in range(MAILBOX_PAGES)]
    if pages[1] != pages[0] + PAGE_SIZE or pages[3] != pages[2] + PAGE_SIZE:
        raise IpcError("the root has no two pairs of consecutive free pages for its mailbox")
    root = topo.add(root_name, kernel.root, pages[0], pages[2])
    topo.format(root_name)

    def build(parent: Node, subtree: Mapping, alloc: PageAllocator) -> None:
        api = topo.api(parent)
        for name, sub in subtree.items():
            if not isinstance(sub, Mapping):
                raise ValueError(f"children of {name!r} must be a mapping, not {sub!r}")
            before = set(kernel.children(parent.partition))
            desc = create_child(api, alloc)
            (child,) = set(kernel.children(parent.partition)) - before
            mine = map_range(api, alloc, desc, base, MAILBOX_PAGES)
            node = topo.add(name, child, base, base + 2 * PAGE_SIZE, parent.name, mine)
            topo.format(name)
            if sub:
                count = _pool_size(g, sub, base)
                map_range(api, alloc, desc, pool_va, count)
                build(node, sub, PageAllocator(pool_va + i * PAGE_SIZE for i in range(count)))

    build(root, root_tree, alloc)
    return topo
