"""The frame conditions (pipsim.kernel.model.frames) hold for real calls, and reject a call that
changed one page, one entry or the running partition more than its service may."""
from dataclasses import replace

import pytest

from kernel_helpers import child_with_page, leaf_entry_pa, pages, run_child
from pipsim.kernel import Partition
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.model.frames import Observation, frame_problems
from pipsim.kernel.wrappers import create_child


def observed(k, api, name, *args):
    """(before, after, refused) of api.name(*args), checked by its frame."""
    before = Observation.for_call(k, name)
    getattr(api, name)(*args)
    after = Observation.for_call(k, name)
    refused = k.last_error is not None
    assert frame_problems(name, before, after, api.partition, args, refused) == []
    return before, after, refused


def with_word(k, after, pa, value):
    """`after`, as if the call had also written value at pa."""
    old = k.debug_read_word(pa)
    k.debug_write_word(pa, value)
    doctored = Observation.of(k)
    k.debug_write_word(pa, old)
    return replace(doctored, current=after.current, cpu=after.cpu)


def stray_page(k, alloc):
    """A root page no call of these tests touches."""
    return k.mappings(k.root)[alloc.alloc()].pa


def test_create_partition_changes_five_pages_and_the_callers_tables(k, api, alloc):
    args = pages(alloc, 5)
    stray = stray_page(k, alloc)
    before, after, refused = observed(k, api, "create_partition", *args)
    assert not refused
    doctored = with_word(k, after, stray, 0xBAD)
    assert frame_problems("create_partition", before, doctored, k.root, args, False)


def test_add_vaddr_adds_one_entry(k, api, alloc):
    desc, _ = child_with_page(k, api, alloc, dst=0x3000)
    child, src = k.children(k.root)[0], alloc.alloc()
    args = (src, desc, 0x4000, True, True, False)
    before, after, _ = observed(k, api, "add_vaddr", *args)
    entry = k.debug_read_word(leaf_entry_pa(k, child, 0x4000))
    # the same page at 0x5000 too: in a table the call may write, but an entry it may not
    doctored = with_word(k, after, leaf_entry_pa(k, child, 0x5000), entry)
    problems = frame_problems("add_vaddr", before, doctored, k.root, args, False)
    assert any("0x5000" in p for p in problems), problems


@pytest.mark.parametrize("name, args", [
    ("create_partition", (0, 0, 0, 0, 0)),                  # NULL_VADDR
    ("delete_partition", (0x3000,)),                        # NOT_CHILD
    ("yield_", (0, 0, 0, 0, 0)),                            # ROOT_CALLER
    ("count_to_map", (0, 0)),
])
def test_a_refused_call_changes_nothing(k, api, alloc, name, args):
    stray = stray_page(k, alloc)
    before, after, refused = observed(k, api, name, *args)
    assert refused or name == "count_to_map"
    doctored = with_word(k, after, stray, 0xBAD)
    assert frame_problems(name, before, doctored, k.root, args, refused)
    moved = replace(after, current=Partition(after.current.pd + 1))
    assert frame_problems(name, before, moved, k.root, args, refused)


def test_deleting_the_running_child_must_make_the_caller_run(k, api, alloc):
    desc = create_child(api, alloc)
    run_child(k, api, alloc, desc)
    child = k.current
    before, after, _ = observed(k, api, "delete_partition", desc)
    assert after.current == k.root
    stayed = replace(after, current=child)
    assert frame_problems("delete_partition", before, stayed, k.root, (desc,), False)


def test_set_int_state_writes_one_word(k, api, alloc):
    before, after, _ = observed(k, api, "set_int_state", 7)
    pd = k.root.pd * PAGE_SIZE
    doctored = with_word(k, after, pd + 4 * 12, 0xBAD)          # the slot before it
    assert frame_problems("set_int_state", before, doctored, k.root, (7,), False)
