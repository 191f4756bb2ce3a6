"""Human-readable fault reports, run summaries and traces (text and JSON lines)."""
from __future__ import annotations

import json

from .._pipcore import lib
from ..abi import ACCESS_CODES, VECTORS

VECTOR_NAMES = {v: k.lower().replace("_", " ") for k, v in VECTORS.items()}
ACCESS_NAMES = {v: k for k, v in ACCESS_CODES.items()}
EVENT_NAMES = {lib.PIP_EVENT_SYSCALL: "syscall", lib.PIP_EVENT_SWITCH: "switch",
               lib.PIP_EVENT_FAULT: "fault", lib.PIP_EVENT_SWI: "swi", lib.PIP_EVENT_IRQ: "irq"}


def instruction_at(machine, partition_pd: int, pc: int) -> str:
    """The instruction at pc as the partition sees it, disassembled by capstone."""
    from ..types import Partition
    cs, address = machine.arch.disassembler(pc)
    try:
        code = machine.kernel.as_partition(Partition(partition_pd)).read(address, 16)
    except Exception:                         # not readable by the partition: say so
        return "<not readable>"
    for insn in cs.disasm(code, address):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return "<not an instruction>"


def fault_report(machine, fault: dict, panic: bool) -> str:
    vector = fault["vector"]
    what = VECTOR_NAMES.get(vector, f"vector {vector}")
    lines = [f"{'KERNEL PANIC: ' if panic else ''}{what} in partition pd {fault['partition']} "
             f"at pc {fault['pc']:#010x}: {instruction_at(machine, fault['partition'], fault['pc'])}"]
    if fault["access"]:
        lines.append(f"  {ACCESS_NAMES.get(fault['access'], '?')} access to {fault['address']:#010x} "
                     f"refused by the partition's page tables")
    if panic:
        lines.append("  no ancestor could take the fault (the root faulted, or no handler up to it)")
    return "\n".join(lines)


def summary(result) -> str:
    c = result.counters
    exact = result.mode == "exact"
    counted = (f"instructions {c['instructions']}, blocks {c['blocks']}" if exact
               else "instructions not counted (fast mode)")
    lines = [f"stopped: {result.stop}" + (f" (exit code {result.exit_code})"
                                          if result.stop == "halt" else ""),
             f"{counted}, syscalls {c['syscalls']}, "
             f"switches {c['switches']}, faults {c['faults']}, software interrupts {c['swis']}, "
             f"interrupts {c['irqs']} (+{c['irqs_dropped']} dropped), TLB fills {c['tlb_fills']}"
             + (f", events raised by children {c['child_raised_events']} (docs/kernel.md §9 (d))"
                if c["child_raised_events"] else "")]
    for pd, s in sorted(result.partitions.items()):
        ran = f"{s['instructions']} instructions" if exact else f"{s['host_ns'] / 1e6:.3f} ms"
        lines.append(f"  partition pd {pd}: {ran}, {s['syscalls']} "
                     f"syscalls, {s['faults']} faults, scheduled {s['switches_in']} times")
    return "\n".join(lines)


def trace_events(machine) -> list[dict]:
    """The recorded events (machine.tracing must be on), oldest first."""
    return [{"event": EVENT_NAMES.get(kind, str(kind)), "partition": partition,
             "a": a, "b": b, "c": c, "blocks": blocks}
            for kind, partition, a, b, c, blocks in machine.take_trace()]


def trace_text(events: list[dict]) -> str:
    from ..abi import SYSCALLS
    names = {s.number: s.name for s in SYSCALLS}
    lines = []
    for e in events:
        if e["event"] == "syscall":
            what = f"{names.get(e['a'], e['a'])}({e['b']:#x}, ...) -> {e['c']:#x}"
        elif e["event"] == "switch":
            what = f"pd {e['a']} -> pd {e['b']}"
        elif e["event"] == "fault":
            what = f"{VECTOR_NAMES.get(e['a'], e['a'])} at {e['b']:#x} -> pd {e['c']}"
        else:
            what = f"vector {e['a']} from pd {e['b']} -> pd {e['c']}"
        lines.append(f"[{e['blocks']:>10}] pd {e['partition']:<5} {e['event']:<7} {what}")
    return "\n".join(lines)


def trace_json(events: list[dict]) -> str:
    return "\n".join(json.dumps(e) for e in events)
