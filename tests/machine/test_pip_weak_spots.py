"""Pip's weak spots (docs/kernel.md §9 (a)-(d)) attacked from firmware: the pipweak image
(firmware/samples/pipweak) on both architectures under both policies.  Under "hardened" every
attempt is contained; under "pip" every one gets through, and the property of §10 meant for it
is violated right after it while Pip's own properties all hold."""
import functools

import pytest

from pipsim.experiments.builtin.policy_attacks import ATTEMPTS, run_pipweak
from pipsim.kernel.abi import PAGE_SIZE

ARCHES = ["arm", "x86"]
POLICIES = ["pip", "hardened"]
READ_ONLY_VA, DEVICE_VA = 0x100000, 0x101000        # in the attacker (weak.h)

WHAT = [
    "save its context in the read-only page",
    "save its context in its own code",
    "re-lend the read-only page writable to a grandchild",
    "make the read-only page a grandchild's page directory",
    "make the device page a grandchild's page table",
    "dispatch a page fault of the victim to the root",
    "yield to the root's page-fault handler",
]
LOST = "it became a kernel table of the grandchild: the root lost access to it"
HOW = {     # the root's account of each attempt (identical on both architectures)
    "pip": ["NOT CONTAINED (the kernel saved the attacker's context in it)",
            "NOT CONTAINED (the kernel saved the attacker's context in its code)",
            "NOT CONTAINED (the grandchild wrote it: word 0 is 0x0bad0bad)",
            f"NOT CONTAINED ({LOST})",
            f"NOT CONTAINED ({LOST})",
            "NOT CONTAINED (the root's handler ran, told vector 14 from the victim)",
            "NOT CONTAINED (the root's handler ran, told vector 0 from 0x00000000)"],
    "hardened": ["contained (the kernel skipped the save: page intact)",
                 "contained (the kernel skipped the save: code intact)",
                 "contained (addVAddr refused, returned 0)",
                 "contained (createPartition refused, returned 0)",
                 "contained (prepare refused, returned 0)",
                 "contained (dispatch refused, returned 10)",
                 "contained (yield refused, returned 10)"],
}
# check_extra_properties() right after each attempt.  The forged events (d) leave no state
# for §10 to flag.  saveSlotsWritable is about a partition's own VIDT, which it may write at
# will: it flags the child's naming of an unwritable save area under either policy (§10).
FLAGS = {
    "pip": {"save_to_read_only": ["saveSlotsWritable"], "save_to_code": ["saveSlotsWritable"],
            "relend_writable": ["rightsMonotonicity"],
            "read_only_table": ["configPagesWritableInParent"],
            "device_table": ["noDeviceConfigPages"], "forged_dispatch": [], "forged_yield": []},
    "hardened": {"save_to_read_only": ["saveSlotsWritable"],
                 "save_to_code": ["saveSlotsWritable"], "relend_writable": [],
                 "read_only_table": [], "device_table": [], "forged_dispatch": [],
                 "forged_yield": []},
}


# events the child raised in the root's event vectors during each attempt: what §10 cannot
# see of (d), the machine counts (child_raised_events)
RAISED = {"pip": [0, 0, 0, 0, 0, 1, 1], "hardened": [0] * 7}


@functools.cache
def pipweak(arch, policy, device=True):
    return run_pipweak(arch, policy, device)


def attacker_of(k):
    """The root's child the pages were lent to (the other is the victim)."""
    return next(c for c in k.children(k.root) if READ_ONLY_VA in k.mappings(c))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("arch", ARCHES)
def test_the_root_reports_each_attempt(arch, policy):
    run, attempts = pipweak(arch, policy)
    contained = 7 if policy == "hardened" else 0
    assert run.lines == [
        "pipweak: 7 attempts on a read-only page, a device page and free pages lent to a child",
        *[f"weak {i}: {what}: {how}" for i, (what, how) in
          enumerate(zip(WHAT, HOW[policy]), 1)],
        f"pipweak: {contained} of 7 attempts contained"]
    assert (run.result.stop, run.result.exit_code) == ("halt", 0)
    assert [a.contained for a in attempts] == [policy == "hardened"] * len(ATTEMPTS)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("arch", ARCHES)
def test_section_10_flags_what_pip_lets_through_while_pips_properties_hold(arch, policy):
    _, attempts = pipweak(arch, policy)
    assert {name: a.extra for name, a in zip(ATTEMPTS, attempts)} == FLAGS[policy]
    assert {name: a.invariants for name, a in zip(ATTEMPTS, attempts)} == \
        {name: [] for name in ATTEMPTS}
    assert [a.raised for a in attempts] == RAISED[policy]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("arch", ARCHES)
def test_every_lent_page_comes_back(arch, policy):
    """After each attempt the child deletes its grandchild: at the end the root and the child
    map the lent pages accessible again and no property is violated, under either policy."""
    run, _ = pipweak(arch, policy)
    k = run.machine.kernel
    attacker = attacker_of(k)
    theirs = k.mappings(attacker)
    assert k.children(attacker) == []
    for va in (READ_ONLY_VA, DEVICE_VA):
        assert theirs[va].accessible
        root_va = next(v for v, m in k.mappings(k.root).items() if m.pa == theirs[va].pa)
        assert k.mappings(k.root)[root_va].accessible
    assert not theirs[READ_ONLY_VA].w and theirs[DEVICE_VA].w
    assert theirs[DEVICE_VA].pa // PAGE_SIZE in k.device_pages()
    assert k.check_extra_properties() == [] and k.check_invariants() == []


@pytest.mark.parametrize("arch", ARCHES)
def test_without_an_extra_device_the_root_lends_its_system_page_and_gets_it_back(arch):
    """`pipsim run` has no extra device: the root lends the system page; under pip it becomes
    a grandchild's table (the root cannot halt until the cleanup gives it back)."""
    run, attempts = pipweak(arch, "pip", device=False)
    assert run.lines[5] == f"weak 5: {WHAT[4]}: NOT CONTAINED ({LOST})"
    assert attempts[4].extra == ["noDeviceConfigPages"]
    assert (run.result.stop, run.result.exit_code) == ("halt", 0)
    k = run.machine.kernel
    assert k.mappings(attacker_of(k))[DEVICE_VA].pa == run.machine.system_pa
