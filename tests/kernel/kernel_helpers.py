"""Small builders shared by the kernel tests."""
from pipsim.kernel.abi import PAGE_SIZE, PD_MMU
from pipsim.kernel.wrappers import create_child, map_page


def pages(alloc, n):
    return [alloc.alloc() for _ in range(n)]


def chain(api, vas):
    """Link free pages as prepare expects: word 0 of each page holds the next VA."""
    for va, nxt in zip(vas, list(vas[1:]) + [0]):
        api.write(va, nxt.to_bytes(4, "little"))
    return vas[0]


def child_with_page(k, api, alloc, dst=0x3000, **rights):
    """A child of the caller with one page of the caller mapped at dst; returns (desc, src)."""
    desc = create_child(api, alloc)
    src = alloc.alloc()
    map_page(api, alloc, desc, src, dst, **rights)
    return desc, src


def pd_slot(k, part, slot):
    return k.debug_read_word(part.pd * PAGE_SIZE + 4 * slot)


def run_child(k, api, alloc, desc):
    """Make the caller's child desc the running partition the way a partition does it: a yield
    to it (slot 0 of its VIDT names a context inside the VIDT page itself; no save)."""
    vidt, src = k.geometry.vidt_va, alloc.alloc()
    map_page(api, alloc, desc, src, vidt)
    api.write(src, (vidt + 0x100).to_bytes(4, "little"))
    api.write(vidt + 4, bytes(4))                      # the caller's save slot 1: no save
    assert api.yield_(desc, 0, 1, 0, 0) == 0, k.last_error


def leaf_entry_pa(k, part, va):
    """Physical address of part's MMU leaf entry for va (its tables read from memory)."""
    g = k.geometry
    table = k.debug_read_word(part.pd * PAGE_SIZE + 4 * (PD_MMU + 1)) & ~0xFFF
    for level in range(g.levels - 1, 0, -1):
        table = k.debug_read_word(table + 4 * g.index(va, level)) & ~0xFFF
    return table + 4 * g.index(va, 0)
