"""Kernel benchmark: syscalls per second through the Python API for a realistic mix,
on the C core and on the reference model in the same run, and the time to check
every invariant on large trees.  Prints JSON.

Usage: python bench/bench_kernel.py [--seconds S] [--quick]
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import pipsim.kernel
import pipsim.kernel.model
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.layout import PARTITION_PAGES
from pipsim.kernel.wrappers import PageAllocator, create_child, map_page

MIX_PAGES = 16          # pages shared with the child per round


def syscall_mix(kernel_cls, seconds: float) -> dict:
    """Rounds of: createPartition, prepare, addVAddr x16, mappedInChild x16, removeVAddr x16,
    collect, deletePartition (52 syscalls) on x86-like geometry (1024 x 2 levels)."""
    k = kernel_cls(pages=4096, table_size=1024, levels=2)
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    kernel_pages = [alloc.alloc() for _ in range(PARTITION_PAGES)]
    tables = [alloc.alloc() for _ in range(3)]
    shared = [alloc.alloc() for _ in range(MIX_PAGES)]
    dsts = [0x400000 * 3 + i * PAGE_SIZE for i in range(MIX_PAGES)]
    links = [(va, nxt.to_bytes(4, "little")) for va, nxt in zip(tables, tables[1:] + [0])]
    desc = kernel_pages[0]
    create, prepare, add = api.create_partition, api.prepare, api.add_vaddr
    mapped, remove, collect, delete = (api.mapped_in_child, api.remove_vaddr, api.collect,
                                       api.delete_partition)
    rounds, calls_per_round = 0, 4 + 3 * MIX_PAGES
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            for va, data in links:                # the free list prepare consumes (not a syscall)
                api.write(va, data)
            ok = create(*kernel_pages)
            ok &= prepare(desc, dsts[0], tables[0]).ok
            for src, dst in zip(shared, dsts):
                ok &= add(src, desc, dst, True, True, False)
            for src in shared:
                ok &= mapped(src) == desc
            for dst in dsts:
                ok &= remove(desc, dst)
            ok &= collect(desc, dsts[0])
            ok &= delete(desc)
            if not ok:
                raise RuntimeError(f"benchmark round refused: {k.last_error}")
            rounds += 1
    elapsed = time.perf_counter() - start
    assert k.check_invariants() == []
    return {"syscalls": rounds * calls_per_round, "seconds": round(elapsed, 3),
            "syscalls_per_s": round(rounds * calls_per_round / elapsed)}


def build_tree(children: int, grandchildren: int, pages_each: int) -> pipsim.kernel.Kernel:
    """root -> `children` -> `grandchildren` each; every grandchild maps `pages_each` pages
    of its parent, every child maps those plus `pages_each` of its own."""
    per_child = (grandchildren + 1) * pages_each + grandchildren * 10 + 10
    total = children * (per_child + 12) + 2000
    k = pipsim.kernel.Kernel(pages=total, table_size=1024, levels=2)
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    for _ in range(children):
        desc = create_child(api, alloc)
        child = k.children(k.root)[-1]
        base = 0x800000
        for i in range(per_child):
            map_page(api, alloc, desc, alloc.alloc(), base + i * PAGE_SIZE)
        capi = k.as_partition(child)
        calloc = PageAllocator(base + i * PAGE_SIZE for i in range(per_child))
        for _ in range(grandchildren):
            gdesc = create_child(capi, calloc)
            for j in range(pages_each):
                map_page(capi, calloc, gdesc, calloc.alloc(), base + j * PAGE_SIZE)
    return k


def invariant_scaling(quick: bool) -> list[dict]:
    sizes = [(12, 9, 40), (25, 9, 40), (50, 9, 40), (100, 9, 40)]
    if quick:
        sizes = sizes[:2]
    rows = []
    for children, grandchildren, pages_each in sizes:
        k = build_tree(children, grandchildren, pages_each)
        parts = k.partitions()
        mapped = sum(len(k.mappings(p)) for p in parts)
        best = min(_timed(k.check_invariants) for _ in range(3))
        rows.append({"partitions": len(parts), "mapped_pages": mapped,
                     "physical_pages": k.geometry.pages, "check_invariants_s": round(best, 4),
                     "us_per_mapped_page": round(best / mapped * 1e6, 3)})
    return rows


def _timed(fn) -> float:
    start = time.perf_counter()
    assert fn() == []
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="small trees only")
    args = parser.parse_args()
    c = syscall_mix(pipsim.kernel.Kernel, args.seconds)
    model = syscall_mix(pipsim.kernel.model.Kernel, args.seconds)
    print(json.dumps({
        "benchmark": "kernel",
        "machine": platform.machine(), "python": platform.python_version(),
        "syscall_mix": {"c_core": c, "model": model,
                        "c_over_model": round(c["syscalls_per_s"] / model["syscalls_per_s"], 1),
                        "targets": {"c_syscalls_per_s": 1_000_000, "c_over_model": 30}},
        "invariants": {"trees": invariant_scaling(args.quick),
                       "target": "1,000 partitions / 100,000 pages in <= 1 s, linear in pages"},
    }, indent=2))


if __name__ == "__main__":
    main()
