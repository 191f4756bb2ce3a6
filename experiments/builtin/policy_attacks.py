"""Attacks from firmware under each kernel policy: Pip's weak spots and the attacker sample."""
from __future__ import annotations

from dataclasses import dataclass

from pipsim.kernel.abi import EXTRA_PROPERTIES, POLICIES

from .. import firmware
from ..measures import Measure, count, flag
from ..params import Param
from ..registry import Figure, experiment

VERDICT_CALL = 0x157        # WEAK_HOST_VERDICT, firmware/samples/pipweak/weak.h
DEVICE = "lent"             # the extra device whose page pipweak's root lends its child
BUDGET = 5_000_000          # guest instructions; a run takes about 0.3 M
#: pipweak's attempts in order (enum weak_attempt, weak.h), by the §9 weak spot they attack
ATTEMPTS = ("save_to_read_only",     # (a) VIDT save slots name a page lent read-only
            "save_to_code",          # (a) ... its own code
            "relend_writable",       # (b) the read-only page re-lent writable to a grandchild
            "read_only_table",       # (c) the read-only page as a grandchild's page directory
            "device_table",          # (c) a device page as a grandchild's page table
            "forged_dispatch",       # (d) dispatch of a page fault the victim never had
            "forged_yield")          # (d) yield into the parent's page-fault handler


@dataclass
class Attempt:
    contained: bool             # the root's verdict, from its host call
    extra: list[str]            # check_extra_properties() as the verdict was given
    invariants: list[str]       # check_invariants() then
    raised: int                 # events the child raised in the root's event vectors by yield
                                # or dispatch during it (the machine's child_raised_events)


@dataclass
class Run:
    machine: object             # pipsim.kernel.machine.Machine, after the run
    result: object              # its RunResult
    lines: list[str]            # the console


def _run(arch: str, policy: str, image: str, devices=(), setup=None) -> Run:
    from pipsim.kernel.machine import Machine     # needs the machine: imported when it runs
    path = firmware.image(arch, image)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build it with `make -C firmware`")
    machine = Machine(arch, devices=devices, policy=policy)
    machine.load(str(path))
    if setup:
        setup(machine)
    result = machine.run(max_instructions=BUDGET)
    if result.stop != "halt" or machine.host_errors:
        raise RuntimeError(f"{image} on {arch} under {policy}: {result.stop} "
                           f"{machine.host_errors} {result.console[-300:]!r}")
    return Run(machine, result, result.console.decode().splitlines())


def run_pipweak(arch: str, policy: str, device: bool = True) -> tuple[Run, list[Attempt]]:
    """Run the pipweak image; each attempt with the kernel's properties as the root gave its
    verdict (before the cleanup).  device: lend an extra Registers device (else the root
    lends its system page, its default)."""
    from pipsim.kernel.machine.devices import Registers
    verdicts, raised = [], [0]

    def verdict(machine, args):
        k, total = machine.kernel, machine.counters()["child_raised_events"]
        verdicts.append((args[0], bool(args[1]), k.check_extra_properties(),
                         k.check_invariants(), total - raised[0]))
        raised[0] = total
        return 0

    def setup(machine):
        machine.host_calls[VERDICT_CALL] = verdict
        if device:
            machine.patch_word("weak_device_va", machine.device_va(DEVICE))

    run = _run(arch, policy, "pipweak", [Registers(DEVICE)] if device else [], setup)
    numbers = [number for number, *_ in verdicts]
    if run.result.exit_code != 0 or numbers != list(range(1, len(ATTEMPTS) + 1)):
        raise RuntimeError(f"pipweak on {arch} under {policy}: exit {run.result.exit_code}, "
                           f"verdicts for attempts {numbers}, console {run.lines}")
    return run, [Attempt(*verdict) for _, *verdict in verdicts]


def run_attacker(arch: str, policy: str) -> tuple[Run, int, int]:
    """Run the attacker sample: (run, attempts refused, attempts)."""
    run = _run(arch, policy, "attacker")
    attempts = [line for line in run.lines if line.startswith("attack ")]
    return run, sum(": refused, " in line for line in attempts), len(attempts)


def flag_bits(names) -> int:
    """The properties as the core reports them: bit i = EXTRA_PROPERTIES[i]."""
    return sum(1 << EXTRA_PROPERTIES.index(name) for name in names)


BITS = ", ".join(f"{1 << i} {name}" for i, name in enumerate(EXTRA_PROPERTIES))
MEASURES = {
    **{f"{name}_contained": flag(f"1 if pipweak's attempt {i} ({name}) was contained")
       for i, name in enumerate(ATTEMPTS, 1)},
    **{f"{name}_flagged": Measure(f"the properties beyond Pip's (docs/kernel.md §10) violated "
                                  f"right after attempt {i}, as bits: {BITS}", integer=True)
       for i, name in enumerate(ATTEMPTS, 1)},
    "weak_contained": count(f"pipweak's attempts contained (of {len(ATTEMPTS)})", "attempts"),
    "weak_events_raised": count("events pipweak's child raised in the root's event vectors by "
                                "yield or dispatch, which §10 cannot see: the machine counts "
                                "them", "events"),
    "weak_flagged_at_end": Measure("the properties beyond Pip's violated after pipweak's run, "
                                   "every grandchild deleted (bits as above)", integer=True),
    "attacker_refused": count("attempts of the attacker sample refused", "attempts"),
    "attacker_attempts": count("attempts of the attacker sample", "attempts"),
    "attacker_flagged": Measure("the properties beyond Pip's violated after the attacker "
                                "sample's run (bits as above)", integer=True),
    "invariant_violations": count("Pip's own properties violated after any attempt or either "
                                  "run", "properties"),
}


@experiment(
    "policy_attacks",
    params=[Param("arch", "arm", "the machine's CPU", choices=firmware.ARCHES),
            Param("policy", "pip", "the kernel's policy (docs/kernel.md §9)", choices=POLICIES)],
    measures=MEASURES,
    figures=[Figure("contained_by_policy", x="policy",
                    y=("weak_contained", "attacker_refused"),
                    title="Attacks from firmware contained, by kernel policy")],
    requires=("machine",),
)
def policy_attacks(p, rng):
    """Attacks from firmware contained under each kernel policy, and what §10 flags.

    How: two images on the Unicorn machine with the kernel's policy.  pipweak
    (firmware/samples/pipweak): a root lends its child a read-only page, a device page (an
    extra Registers device) and free pages; the child attacks Pip's four weak spots of
    docs/kernel.md §9 in 7 attempts and the root judges each from its own pages (a host call
    after each verdict records check_extra_properties() and check_invariants() before the
    child deletes its grandchild).  The attacker sample (firmware/samples/attacker): 29
    attempts against a sibling, each refused or not.

    Limits: the verdicts are the roots' own checks of the pages they can still read or ask
    about; the §10 properties are about states, so a forged event (attempts 6, 7) leaves
    nothing for them to flag (the machine counts them instead), and saveSlotsWritable flags a child naming an unwritable save
    area under either policy (attempts 1, 2), whether or not the kernel then writes there.
    """
    arch, policy = p["arch"], p["policy"]
    weak, attempts = run_pipweak(arch, policy)
    attacker, refused, total = run_attacker(arch, policy)
    violations = {name for a in attempts for name in a.invariants}
    for run in (weak, attacker):
        violations.update(run.machine.kernel.check_invariants())
    return {
        **{f"{name}_contained": int(a.contained) for name, a in zip(ATTEMPTS, attempts)},
        **{f"{name}_flagged": flag_bits(a.extra) for name, a in zip(ATTEMPTS, attempts)},
        "weak_contained": sum(a.contained for a in attempts),
        "weak_events_raised": sum(a.raised for a in attempts),
        "weak_flagged_at_end": flag_bits(weak.machine.kernel.check_extra_properties()),
        "attacker_refused": refused,
        "attacker_attempts": total,
        "attacker_flagged": flag_bits(attacker.machine.kernel.check_extra_properties()),
        "invariant_violations": len(violations),
    }
