"""A Python root partition runs firmware children: it builds them with its system calls
(pipsim.kernel.machine.spawn), yields to them through the API, and gets control back when
they yield to it (Machine(python_root=True): the run stops "host")."""
import hashlib
import pathlib

import pytest

from pipsim.kernel.abi import CONSOLE_VA, SYSTEM_VA
from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.spawn import spawn_child
from pipsim.kernel.wrappers import PageAllocator, map_page

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
SERVICE_VECTOR = 64        # the compute child yields to this slot of its parent when done


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_python_root_runs_a_firmware_child(arch):
    m = Machine(arch, pages=1024, python_root=True)
    k = m.kernel
    root = k.as_partition(k.root)
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    landing = alloc.alloc()                     # where the child's yield "returns" to the root
    root.write(k.geometry.vidt_va + 4 * SERVICE_VECTOR, landing.to_bytes(4, "little"))
    desc = spawn_child(m, root, alloc, str(BUILD / arch / "compute_child.elf"), args=(1, 4))
    map_page(root, alloc, desc, CONSOLE_VA, CONSOLE_VA, True, True, False)
    assert k.check_invariants() == []

    assert root.yield_(desc, 0, 2, 0, 0) == 0 and k.current != k.root
    m.enter()
    result = m.run(max_instructions=5_000_000)

    buf = bytes((i * 31 + (i >> 8)) & 255 for i in range(4 * 1024))
    digest = hashlib.sha256(bytes(32) + buf).hexdigest()
    assert result.stop == "host" and k.current == k.root
    assert result.console.decode() == f"compute: sha256 = {digest}\n"
    assert k.check_invariants() == []
    # the root runs it again: the child did not save its context, so it starts afresh
    assert root.yield_(desc, 0, 2, 0, 0) == 0
    m.enter()
    again = m.run(max_instructions=5_000_000)
    assert again.stop == "host" and again.console == result.console


def test_a_python_partition_below_the_root_runs_a_firmware_child():
    """root (Python) -> manager (Python) -> driver (firmware): the manager yields to its child
    through the API; control coming back to the manager stops the run."""
    from pipsim.kernel.wrappers import create_child, map_range
    m = Machine("x86", pages=1024, python_root=True)
    k = m.kernel
    root = k.as_partition(k.root)
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    desc = create_child(root, alloc)
    pages = map_range(root, alloc, desc, 0x100000, 48)          # the manager's own pages
    map_page(root, alloc, desc, CONSOLE_VA, CONSOLE_VA, True, True, False)
    manager = k.as_partition(k.children(k.root)[0])
    m.add_python_partition(manager.partition)
    mine = PageAllocator(0x100000 + i * 0x1000 for i in range(len(pages)))
    landing = mine.alloc()                          # where the driver's yield lands
    map_page(root, alloc, desc, alloc.alloc(), k.geometry.vidt_va, True, True, False)
    manager.write(k.geometry.vidt_va + 4 * SERVICE_VECTOR, landing.to_bytes(4, "little"))
    driver = spawn_child(m, manager, mine, str(BUILD / "x86" / "compute_child.elf"), args=(1, 4))
    map_page(manager, mine, driver, CONSOLE_VA, CONSOLE_VA, True, True, False)
    assert manager.yield_(driver, 0, 2, 0, 0) == 0
    m.enter()
    result = m.run(max_instructions=5_000_000)
    assert result.stop == "host" and k.current == manager.partition
    assert result.console.startswith(b"compute: sha256 = ") and k.check_invariants() == []


def test_a_machine_nobody_uses_is_freed():
    """Machines (an engine, a translation buffer, physical memory each) are not kept alive
    by the host-call registry: test suites and experiments make thousands."""
    import gc
    import weakref

    from pipsim.kernel.machine import _MACHINES
    m = Machine("arm", pages=256, python_root=True)
    gone = weakref.ref(m)
    [key] = [key for key, entry in _MACHINES.items() if entry is m]
    del m
    gc.collect()       # (machines earlier tests left in cycles may go too: not counted)
    assert gone() is None and key not in _MACHINES
