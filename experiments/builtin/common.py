"""Parameters and helpers the built-in experiments share."""
from __future__ import annotations

import pipsim.kernel
import pipsim.kernel.model

from ..params import Param
from ..trees import SHAPES, make_shape

KERNELS = {"c": pipsim.kernel.Kernel, "model": pipsim.kernel.model.Kernel}

IMPL = Param("impl", "c", "kernel: c (the C core) or model (the pure-Python reference model)",
             choices=tuple(KERNELS))
TABLE_SIZE = Param("table_size", 1024, "entries per page table",
                   choices=(16, 32, 64, 128, 256, 512, 1024), unit="entries")
LEVELS = Param("levels", 2, "page-table levels (levels*log2(table_size) + 12 <= 32)",
               low=2, high=5)
SHAPE = Param("shape", "balanced", "tree shape", choices=SHAPES)
DEPTH = Param("depth", 2, "tree depth below the root (random: the maximum)", low=1, high=12)
FANOUT = Param("fanout", 2, "children per partition (random: the maximum; chain: unused)",
               low=1, high=64, unit="children")
PAGES = Param("pages", 4, "data pages each partition keeps (random: the maximum)",
              low=1, high=4096, unit="pages")
TREE = (SHAPE, DEPTH, FANOUT, PAGES)


def tree_shape(p: dict, rng):
    """The shape the TREE parameters describe (random shapes draw from rng)."""
    return make_shape(p["shape"], rng, p["depth"], p["fanout"], p["pages"])


def kernel_pages(k, nodes) -> int:
    """Pages the kernel uses for these partitions' descriptors, tables and LL pages."""
    return sum(len(k.config_pages(n.partition)) for n in nodes)


def usable_pages(k, api, partition) -> int:
    """Pages `partition` maps that it could give away: accessible and not derived."""
    count = 0
    for va, m in k.mappings(partition).items():
        if m.accessible and api.mapped_in_child(va) == 0 and k.last_error is None:
            count += 1
    return count
