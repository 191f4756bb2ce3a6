"""Kernel memory overhead of a partition tree."""
from __future__ import annotations

import statistics

from ..measures import Measure, count
from ..registry import Figure, experiment
from ..trees import build
from .common import IMPL, KERNELS, LEVELS, TABLE_SIZE, TREE, kernel_pages, tree_shape


@experiment(
    "memory_overhead",
    params=[*TREE, TABLE_SIZE, LEVELS, IMPL],
    measures={
        "partitions": count("partitions in the tree, the root excluded", "partitions"),
        "max_depth": Measure("depth of the deepest partition", integer=True),
        "data_pages": count("data pages the partitions keep for themselves", "pages"),
        "kernel_pages": count("descriptor, MMU/sh1/sh2 table and LL pages of every partition but "
                              "the root", "pages"),
        "kernel_pages_per_partition": Measure("kernel_pages / partitions", "pages/partition"),
        "kernel_pages_max": count("kernel pages of the costliest partition", "pages"),
        "overhead_ratio": Measure("kernel_pages / data_pages", ""),
        "root_kernel_pages": count("the root's own kernel pages (they grow with physical "
                                   "memory)", "pages"),
        "physical_pages": count("pages of the booted kernel (just enough for the tree)", "pages"),
    },
    figures=[
        Figure("overhead_vs_size", x="partitions", y=("kernel_pages", "overhead_ratio"),
               by=("shape",), title="Kernel memory against tree size"),
        Figure("per_partition_vs_depth", x="depth",
               y=("kernel_pages_per_partition", "overhead_ratio"),
               title="Kernel pages per partition against depth"),
        Figure("geometry", x="table_size", y=("kernel_pages_per_partition", "overhead_ratio"),
               logx=True, title="Kernel memory against table geometry"),
    ],
)
def memory_overhead(p, rng):
    """Kernel memory a Pip tree costs as it grows deeper or wider, and with the table geometry.

    How: boot a kernel just large enough, build the tree through the system calls (every
    partition maps its pages at consecutive VAs from the first VA after the kernel slot, each
    parent lending its children exactly what their subtrees need), then count with
    ``config_pages`` the pages the kernel holds for every partition: its descriptor, the roots
    and inner/leaf tables of its MMU, sh1 and sh2 trees, and its LL pages.

    Limits: the figures are exact page counts of this layout; another VA layout (sparse
    mappings, a VIDT per partition) needs more tables.  The root's own cost depends on the
    physical memory size, so it is reported apart.
    """
    shape = tree_shape(p, rng)
    tree = build(KERNELS[p["impl"]], shape, p["table_size"], p["levels"])
    k, nodes = tree.kernel, tree.nodes[1:]
    per_partition = [kernel_pages(k, [n]) for n in nodes]
    data = sum(s.pages for _, s in shape.preorder())
    return {
        "partitions": len(nodes), "max_depth": shape.depth, "data_pages": data,
        "kernel_pages": sum(per_partition),
        "kernel_pages_per_partition": statistics.fmean(per_partition),
        "kernel_pages_max": max(per_partition),
        "overhead_ratio": sum(per_partition) / data,
        "root_kernel_pages": len(k.config_pages(k.root)),
        "physical_pages": k.geometry.pages,
    }
