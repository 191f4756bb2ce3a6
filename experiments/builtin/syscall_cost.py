"""Host time and memory traffic of each system call, against depth and geometry."""
from __future__ import annotations

import statistics
import time

from pipsim.kernel.layout import PARTITION_PAGES
from pipsim.kernel.model.memory import PhysicalMemory
from pipsim.kernel.wrappers import create_child, map_page

from ..measures import Measure, count
from ..params import Param
from ..registry import Figure, experiment
from ..trees import Shape, build
from .common import IMPL, KERNELS, LEVELS, TABLE_SIZE

CALLS = ("create_partition", "count_to_map", "prepare", "add_vaddr", "mapped_in_child",
         "remove_vaddr", "collect", "delete_partition", "yield")
WORK_PAGES = 64             # free pages of the calling partition


class _CountingMemory(PhysicalMemory):
    """The model's memory, counting the 32-bit words every access touches."""

    words = 0

    def read_word(self, pa):
        self.words += 1
        return super().read_word(pa)

    def write_word(self, pa, value):
        self.words += 1
        super().write_word(pa, value)

    def read_words(self, pa, count):
        self.words += count
        return super().read_words(pa, count)

    def zero_words(self, pa, count):
        self.words += count
        super().zero_words(pa, count)

    def read_bytes(self, pa, n):
        self.words += -(-n // 4)
        return super().read_bytes(pa, n)

    def write_bytes(self, pa, data):
        self.words += -(-len(data) // 4)
        super().write_bytes(pa, data)


class _Probe:
    """Runs one call and records its host time, and its memory words on the model."""

    def __init__(self, k):
        self.k, self.ns = k, {name: [] for name in CALLS}
        self.words = {}
        self._mem = getattr(getattr(k, "_s", None), "mem", None)   # the model's memory only
        if self._mem is not None:
            self._mem.__class__ = _CountingMemory

    def __call__(self, name, fn, *args):
        words = self._mem.words if self._mem is not None else 0
        start = time.perf_counter_ns()
        result = fn(*args)
        self.ns[name].append(time.perf_counter_ns() - start)
        if self._mem is not None:
            self.words[name] = self._mem.words - words
        if self.k.last_error is not None:
            raise RuntimeError(f"{name} refused: {self.k.last_error.name}")
        return result


def _yield_pair(k, node):
    """A child of `node` that can be yielded to and that yields back: (its desc, its api)."""
    g, api, alloc = k.geometry, node.api, node.alloc
    desc = create_child(api, alloc)
    ctx = g.root_va_start
    for dst in (g.vidt_va, ctx):
        map_page(api, alloc, desc, alloc.alloc(), dst)
    child = k.as_partition(k.children(node.partition)[-1])
    save = alloc.alloc()
    api.write(g.vidt_va + 4, save.to_bytes(4, "little"))            # caller slot 1: save area
    child.write(g.vidt_va, (ctx | ctx << 32).to_bytes(8, "little"))  # child slots 0, 1: ctx
    return desc, child


@experiment(
    "syscall_cost",
    params=[Param("depth", 1, "depth of the calling partition (0 = the root)", low=0, high=12),
            TABLE_SIZE, LEVELS, IMPL,
            Param("calls", 200, "timed calls of each system call", low=1, unit="calls")],
    measures={**{f"{c}_ns": Measure(f"median host time of {c} through the Python API", "ns")
                 for c in CALLS},
              **{f"{c}_words": count(f"memory words {c} touches in the reference model "
                                     f"(impl=model only)", "words") for c in CALLS}},
    figures=[
        Figure("time_vs_depth", x="depth", y=tuple(f"{c}_ns" for c in CALLS),
               title="System call host time against the caller's depth"),
        Figure("words_vs_depth", x="depth", y=tuple(f"{c}_words" for c in CALLS),
               title="Memory words per call (reference model) against depth"),
        Figure("time_vs_table_size", x="table_size", y=tuple(f"{c}_ns" for c in CALLS),
               logx=True, title="System call host time against table size"),
    ],
)
def syscall_cost(p, rng):
    """How system call costs grow with the caller's depth in the tree and the table geometry.

    How: a chain of partitions down to the caller at `depth`, each with a VIDT; the caller
    repeats `calls` rounds of createPartition, countToMap, prepare, addVAddr, mappedInChild,
    removeVAddr, collect, deletePartition on a fresh child, and yields to a second child and
    back (both directions timed as `yield`).  Each call is timed alone with perf_counter_ns;
    the median is kept.  On the model, a counting memory records the 32-bit words each call
    reads or writes: a deterministic, machine-independent measure of its work.

    Limits: host time through the Python API (argument checks and cffi crossing included,
    ~0.1-1 us of it), not cycles of a device; it varies with the host and its load, hence the
    median and the repeats.  Word counts are the reference model's accesses, a proxy for the
    walks Pip makes, not the C core's or a real MMU's; they are left empty for impl=c.
    Yield here switches contexts in the kernel only: no partition code runs in between.
    """
    shape = Shape(WORK_PAGES)
    for _ in range(p["depth"]):
        shape = Shape(1, (shape,))
    tree = build(KERNELS[p["impl"]], shape, p["table_size"], p["levels"], vidt=True)
    k = tree.kernel
    node = tree.leftmost(p["depth"])
    api, alloc, g = node.api, node.alloc, k.geometry
    ydesc, child = _yield_pair(k, node)
    kernel_pages = [alloc.alloc() for _ in range(PARTITION_PAGES)]
    tables = [alloc.alloc() for _ in range(4 * g.levels)]
    src, dst, desc = alloc.alloc(), g.root_va_start, kernel_pages[0]
    links = [(va, nxt.to_bytes(4, "little")) for va, nxt in zip(tables, tables[1:] + [0])]
    probe = _Probe(k)
    for _ in range(p["calls"]):
        probe("create_partition", api.create_partition, *kernel_pages)
        probe("count_to_map", api.count_to_map, desc, dst)
        for va, data in links:
            api.write(va, data)
        probe("prepare", api.prepare, desc, dst, tables[0])
        probe("add_vaddr", api.add_vaddr, src, desc, dst, True, True, False)
        probe("mapped_in_child", api.mapped_in_child, src)
        probe("remove_vaddr", api.remove_vaddr, desc, dst)
        probe("collect", api.collect, desc, dst)
        probe("delete_partition", api.delete_partition, desc)
        probe("yield", api.yield_, ydesc, 0, 1, 0, 0)
        probe("yield", child.yield_, 0, 1, 1, 0, 0)
    return {**{f"{c}_ns": statistics.median(probe.ns[c]) for c in CALLS},
            **{f"{c}_words": n for c, n in probe.words.items()}}
