"""Small builders shared by the kernel tests."""
from pipkernel.abi import PAGE_SIZE
from pipkernel.wrappers import create_child, map_page


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
