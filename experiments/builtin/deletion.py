"""Pages recovered and lost when a tree is deleted top-down or bottom-up."""
from __future__ import annotations

from pipsim.kernel.wrappers import PipCallError

from ..measures import count
from ..params import Param
from ..registry import Figure, experiment
from ..trees import build
from .common import IMPL, KERNELS, LEVELS, TABLE_SIZE, TREE, kernel_pages, tree_shape, \
    usable_pages

ORDERS = ("top_down", "bottom_up")


@experiment(
    "deletion",
    params=[*TREE, Param("order", "top_down", "top_down: the root deletes its children; "
                         "bottom_up: every partition is deleted after its children",
                         choices=ORDERS), TABLE_SIZE, LEVELS, IMPL],
    measures={
        "partitions": count("partitions deleted, the root excluded", "partitions"),
        "deletions": count("deletePartition calls made", "calls"),
        "kernel_pages": count("kernel pages of the deleted partitions", "pages"),
        "lent": count("pages the root had lent (to the kernel or to children) before "
                      "deleting", "pages"),
        "recovered": count("pages the root can use again after deleting", "pages"),
        "lost": count("pages the root never gets back: present but inaccessible", "pages"),
        "predicted_lost": count("kernel pages of the partitions at depth >= 2 (Pip does not visit "
                                "grandchildren: docs/kernel.md §5 deletePartition)", "pages"),
        "invariant_violations": count("Pip properties violated after the deletion", "properties"),
    },
    figures=[
        Figure("loss_vs_depth", x="depth", y=("lost", "recovered"),
               title="Pages lost and recovered by deletion, against depth"),
        Figure("loss_vs_size", x="partitions", y=("lost", "predicted_lost"), by=("order",),
               title="Pages lost against tree size"),
    ],
)
def deletion(p, rng):
    """Memory a parent gets back when it deletes a subtree, top-down or bottom-up.

    How: build the tree, count the root's usable pages (mapped, accessible, not derived)
    before building (every page it maps) and before and after deleting every partition, in
    one of two orders: top_down (the root deletes its children only) or bottom_up (every
    partition first deletes its children, the deepest first).  Pip's deletePartition does not
    visit grandchildren: their kernel pages were made inaccessible in every ancestor, so after
    a top-down deletion the root keeps them present but inaccessible forever.

    Limits: counts pages in the root's view only; Pip has no call that would reclaim lost
    pages, so "lost" is final for the rest of the kernel's life.
    """
    tree = build(KERNELS[p["impl"]], tree_shape(p, rng), p["table_size"], p["levels"])
    k, root = tree.kernel, tree.root
    nodes = tree.nodes[1:]
    at_boot = len(k.mappings(k.root))         # the root maps at boot every page it ever has
    usable_before = usable_pages(k, root.api, k.root)
    pages = kernel_pages(k, nodes)
    predicted = kernel_pages(k, [n for n in nodes if n.depth >= 2])
    victims = root.children if p["order"] == "top_down" else reversed(nodes)
    deletions = 0
    for node in victims:
        if not node.parent.api.delete_partition(node.desc):
            raise PipCallError("deletePartition", k.last_error)
        deletions += 1
    usable_after = usable_pages(k, root.api, k.root)
    return {
        "partitions": len(nodes), "deletions": deletions, "kernel_pages": pages,
        "lent": at_boot - usable_before, "recovered": usable_after - usable_before,
        "lost": at_boot - usable_after, "predicted_lost": predicted,
        "invariant_violations": len(k.check_invariants()),
    }
