"""The built-in demo: boot a kernel, build a small partition tree through the
public API, show it, show isolation refusing what it must, check Pip's properties."""
from __future__ import annotations

from . import Kernel
from .abi import PAGE_SIZE
from .show import invariant_report, render_tree
from .wrappers import PageAllocator, create_child, map_range


def run(out=print) -> int:
    k = Kernel(pages=4096, table_size=1024, levels=2)
    g = k.geometry
    out(f"Booted a Pip kernel: {g.pages} pages of 4 KiB, {g.table_size}-entry tables, "
        f"{g.levels} levels; the root maps its free pages from {g.root_va_start:#x}.")
    root = k.as_partition(k.root)
    alloc = PageAllocator.for_root(k)
    names = {k.root: "root"}

    sensor = create_child(root, alloc)
    map_range(root, alloc, sensor, 0x1000, 12)
    lamp = create_child(root, alloc)
    lamp_pages = map_range(root, alloc, lamp, 0x1000, 4)
    s, l = k.children(k.root)
    names.update({s: "sensor", l: "lamp"})
    # the sensor partition builds a child of its own from pages it received
    sapi = k.as_partition(s)
    salloc = PageAllocator(0x1000 + i * PAGE_SIZE for i in range(12))
    driver = create_child(sapi, salloc)
    map_range(sapi, salloc, driver, 0x1000, 1)
    names[k.children(s)[0]] = "driver"
    out("\nPartition tree:")
    out(render_tree(k, names))

    out("\nIsolation at work:")
    k.as_partition(l).write(0x1000, b"lamp state: on")
    out(f"  lamp wrote 'lamp state: on'; the root reads it back vertically: "
        f"{root.read(lamp_pages[0], 14)!r}")
    refused = root.add_vaddr(lamp_pages[0], sensor, 0x9000, True, True, False)
    out(f"  root gives the lamp's page to the sensor too: {refused} ({k.last_error.name})")
    refused = sapi.create_partition(0x1000, 0x2000, 0x3000, 0x4000, 0x5000)
    out(f"  sensor reuses pages it lent to the kernel: {refused} ({k.last_error.name})")
    refused = root.delete_partition(lamp_pages[0])
    out(f"  root deletes something that is not a child: {refused} ({k.last_error.name})")

    out("\nPip's properties after every step above:")
    out(invariant_report(k))
    return 0 if not k.check_invariants() else 1
