"""Firmware partitions of a device image, run on the machine's CPU by their Python parent.

A turn, when the child's mailbox holds something for it (its pending counts) or its last
turn ended with a full outbox (it waits to send): the parent yields to its child's VIDT slot
0 (the child's main context, where it saves itself when it yields back:
firmware/samples/drivers), the machine runs it until control comes back to the parent (the
run stops "host"), at most ``BUDGET`` instructions.
A child that faults, halts, runs past its budget, or whose mailbox is out of its reach is
halted by the runtime and reported; the parent's VIDT sends every fault back to the parent
(pipsim.kernel.machine.spawn.python_parent_vidt).
"""
from __future__ import annotations

from pipsim.ipc.mailbox import RINGS, Pending, RingKind
from pipsim.kernel import MemoryFault, Partition
from pipsim.kernel.machine.spawn import child_exit_code
from pipsim.kernel.machine.report import fault_report

BUDGET = 2_000_000             # instructions per turn (exact mode): a request costs a few
                               # thousand
BUDGET_SECONDS = 1.0           # host time per turn (fast mode, which counts no instructions)
MAIN_SLOT = 0                  # the child's VIDT slot naming its main context


class FirmwarePartition:
    def __init__(self, machine, name: str, parent_api, desc: int, partition, mailbox):
        self.machine, self.name, self.mailbox = machine, name, mailbox
        self.parent_api, self.desc, self.pd = parent_api, desc, partition.pd
        self.halted: str | None = None          # why it no longer runs
        self.turns = 0
        self._sending = False                   # its last turn ended with a full outbox

    def due(self) -> bool:
        """Whether a turn has work: something arrived, or it was waiting for outbox room."""
        return not self.halted and (self._sending or self.mailbox.waiting())

    def turn(self) -> str | None:
        """Run it until it yields back; None, or the report of what went wrong (then the
        runtime halts it: later turns do nothing)."""
        try:
            if not self.due():
                return None
        except MemoryFault as fault:
            return f"its mailbox is out of reach: {fault}"
        return self._run()

    def start(self) -> str | None:
        """Its first turn, due or not (a freshly spawned image: from its entry point until it
        yields back to its parent for the first time); None, or the report of what went
        wrong, as ``turn``, or that its main returned (it exited instead of yielding).  What
        "starts" means for an update (docs/trust.md)."""
        if self.halted:
            return None
        problem = self._run()
        code = child_exit_code(self.machine.kernel, Partition(self.pd))
        return problem or (None if code is None else f"its main returned {code}")

    def _run(self) -> str | None:
        faults = self.machine.counters()["faults"]
        self.turns += 1
        code = self.parent_api.yield_(self.desc, MAIN_SLOT, MAIN_SLOT, 0, 0)
        if code:
            return f"its parent cannot yield to it (Pip code {code})"
        self.machine.enter()
        exact = self.machine.mode == "exact"
        result = (self.machine.run(max_instructions=BUDGET) if exact
                  else self.machine.run(max_seconds=BUDGET_SECONDS))
        try:
            outbox = self.mailbox.view.pending()[Pending.OUTBOX]
        except MemoryFault as fault:
            return f"its mailbox is out of reach: {fault}"
        self._sending = outbox >= RINGS[RingKind.OUTBOX].count
        if result.stop == "host" and result.counters["faults"] == faults:
            return None
        fault = result.fault if result.counters["faults"] != faults else None
        if fault and fault["partition"] == self.pd:
            return "; ".join(line.strip() for line in
                             fault_report(self.machine, fault, False).splitlines())
        if result.stop == "budget":
            return (f"ran {BUDGET} instructions without yielding back" if exact
                    else f"ran {BUDGET_SECONDS:g} s without yielding back")
        return f"the machine stopped: {result.stop}"

    def halt(self, why: str) -> None:
        """It runs no more (the runtime contained its fault): why, its first fault."""
        self.halted = self.halted or why
