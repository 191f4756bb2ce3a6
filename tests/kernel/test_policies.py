"""The policy argument, device pages and check_extra_properties() (docs/kernel.md §9-§10)."""
import pytest

from kernel_helpers import leaf_entry_pa
from policy_helpers import Family, snapshot, word
from pipsim.kernel.abi import (CONTEXT_SIZE, PAGE_SIZE, POLICIES, PTE_EXEC,
                           PTE_WRITE, cli_sti_save_indices)


@pytest.mark.parametrize("policy", POLICIES)
def test_the_policy_is_fixed_at_boot(make_kernel, policy):
    k = make_kernel(pages=160, table_size=16, levels=2, policy=policy)
    assert k.policy == policy
    with pytest.raises(AttributeError):
        k.policy = "pip"
    assert k.check_invariants() == [] and k.check_extra_properties() == []
    assert make_kernel(pages=160, table_size=16, levels=2).policy == "pip"


@pytest.mark.parametrize("policy, error", [("strict", ValueError), ("PIP", ValueError),
                                           (1, TypeError), (None, TypeError)])
def test_unknown_policies_are_refused_naming_the_allowed_ones(make_kernel, policy, error):
    with pytest.raises(error, match="hardened"):
        make_kernel(pages=160, table_size=16, levels=2, policy=policy)


def test_mark_device_records_a_page_and_changes_no_table(k):
    before = snapshot(k)[0]
    free = k.mappings(k.root)[k.geometry.root_va_start].pa // PAGE_SIZE
    assert k.device_pages() == frozenset()
    k.mark_device(free)
    k.mark_device(free)                                # idempotent
    k.mark_device(k.geometry.pages - 1)
    assert k.device_pages() == {free, k.geometry.pages - 1}
    assert snapshot(k)[0] == before
    assert k.check_invariants() == [] and k.check_extra_properties() == []


@pytest.mark.parametrize("page, error", [(0, ValueError), (160, ValueError), (-1, ValueError),
                                         ("3", TypeError), (3.0, TypeError),
                                         (True, TypeError)])
def test_mark_device_refuses_what_is_not_a_physical_page(k, page, error):
    with pytest.raises(error, match="page"):
        k.mark_device(page)
    assert k.device_pages() == frozenset()


def test_extra_properties_are_reported_by_name(k):
    assert k.check_extra_properties() == []
    k.mark_device(1)                                   # the root's descriptor
    assert k.check_extra_properties() == ["noDeviceConfigPages"]
    assert k.check_invariants() == []


def test_save_slots_writable(k, api):
    """Only the CLI / STI slots count, each 0 or a context the partition may write."""
    g = k.geometry
    cli, sti = cli_sti_save_indices(g.table_size)
    slot = lambda index, va: api.write(g.vidt_va + 4 * index, word(va))
    slot(0, 0x5000)                                    # not a save slot
    assert k.check_extra_properties() == []
    slot(cli, g.root_va_start)
    slot(sti, g.va_limit - CONTEXT_SIZE)               # the end of the (writable) VIDT page
    assert k.check_extra_properties() == []
    for bad in (0x5000, g.vidt_va - PAGE_SIZE, g.va_limit - 8):   # unmapped, absent, wraps
        slot(sti, bad)
        assert k.check_extra_properties() == ["saveSlotsWritable"], hex(bad)
    slot(sti, 0)
    assert k.check_extra_properties() == []


def test_a_partition_without_a_vidt_names_no_save_slots(k):
    fam = Family(k, pool=0)
    g = k.geometry
    cli, _ = cli_sti_save_indices(g.table_size)
    vidt_src = fam.lend(g.vidt_va, w=False)
    fam.api.write(vidt_src + 4 * cli, word(0x5000))    # the child maps nothing at 0x5000
    assert k.check_extra_properties() == ["saveSlotsWritable"]
    assert fam.api.remove_vaddr(fam.desc, g.vidt_va)
    assert k.check_extra_properties() == []


@pytest.mark.parametrize("bit", [PTE_WRITE, PTE_EXEC])
def test_rights_are_compared_with_the_parents_present_entry(k, bit):
    """rightsMonotonicity, on a child entry given a right its parent's entry lacks."""
    fam = Family(k, pool=0)
    src = fam.lend(0x3000, w=False, e=False)
    fam.lend(0x4000, w=True, e=True)
    assert k.check_extra_properties() == []            # the child holds no more than the root
    child_pte, root_pte = leaf_entry_pa(k, fam.child, 0x3000), leaf_entry_pa(k, k.root, src)
    k.debug_write_word(root_pte, k.debug_read_word(root_pte) & ~bit)
    assert k.check_extra_properties() == []            # the child's entry lacks it too
    k.debug_write_word(child_pte, k.debug_read_word(child_pte) | bit)
    assert k.check_extra_properties() == ["rightsMonotonicity"]
    assert k.check_invariants() == []
    k.debug_write_word(root_pte, 0)                    # no present entry in the parent
    assert "rightsMonotonicity" not in k.check_extra_properties()
