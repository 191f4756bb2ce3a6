"""Human-readable fault reports and run summaries (docs/debugging.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..abi import CTX_PC, CTX_REGS, CTX_STATUS
from ..types import Partition
from .trace import ACCESS_NAMES, VECTOR_NAMES

if TYPE_CHECKING:
    from . import Machine, RunResult

NEIGHBOURS = 3          # instructions listed before and after the faulting one


def _read(machine: Machine, pd: int, address: int, size: int) -> bytes | None:
    """The bytes at [address, address + size) as the partition sees them, or None."""
    try:
        return machine.kernel.as_partition(Partition(pd)).read(address, size)
    except Exception:                         # not readable by the partition
        return None


def instruction_at(machine: Machine, partition_pd: int, pc: int) -> str:
    """The instruction at pc as the partition sees it, disassembled by capstone."""
    cs, address = machine.arch.disassembler(pc)
    code = _read(machine, partition_pd, address, 16)
    if code is None:
        return "<not readable>"
    for insn in cs.disasm(code, address):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return "<not an instruction>"


def listing(machine: Machine, pd: int, pc: int, around: int = NEIGHBOURS) -> list[str]:
    """The instruction at pc (marked =>) and up to `around` before and after it: decoding
    starts at the farthest earlier byte from which the instructions land on pc."""
    cs, at = machine.arch.disassembler(pc)
    step = 1 if machine.arch.NAME == "x86" else (2 if pc & 1 else 4)
    for back in range(around * (15 if step == 1 else 4), -1, -step):
        start = at - back
        code = _read(machine, pd, start, back + 16 * (around + 1))
        if code is None or start < 0:
            continue
        insns = list(cs.disasm(code, start))
        index = next((i for i, insn in enumerate(insns) if insn.address == at), None)
        if index is None or (back and index == 0):
            continue
        chosen = insns[max(0, index - around):index + around + 1]
        return [f"  {'=>' if insn.address == at else '  '} {insn.address:#010x}  "
                f"{insn.mnemonic} {insn.op_str}".rstrip() for insn in chosen]
    return [f"  => {at:#010x}  <not readable>"]


def registers(machine: Machine, context: Sequence[int]) -> list[str]:
    """A context record's registers, four to a line."""
    abi = machine.arch.ABI
    pairs = [(name, context[CTX_REGS + i]) for i, name in enumerate(abi.registers)
             if name != abi.pc]
    pairs += [(abi.pc, context[CTX_PC]), (abi.status, context[CTX_STATUS])]
    cells = [f"{name:>6} {value:#010x}" for name, value in pairs]
    return ["  " + "  ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]


def partition_name(names: dict[int, str] | None, pd: int) -> str:
    """A partition's name and descriptor page ("driver (pd 32)"), or "pd N" without one."""
    name = (names or {}).get(pd)
    return f"{name} (pd {pd})" if name else f"pd {pd}"


def fault_report(machine: Machine, fault: dict, panic: bool, names: dict[int, str] | None = None,
                 detail: bool = False) -> str:
    """The fault (RunResult.fault): what, whose (the faulting partition), where, which
    access to which exact address; with detail, its registers and the code around pc."""
    vector = fault["vector"]
    what = VECTOR_NAMES.get(vector, f"vector {vector}")
    pd, pc = fault["partition"], fault["pc"]
    lines = [f"{'KERNEL PANIC: ' if panic else ''}{what} in partition "
             f"{partition_name(names, pd)} at pc {pc:#010x}: {instruction_at(machine, pd, pc)}"]
    if fault["access"]:
        lines.append(f"  {ACCESS_NAMES.get(fault['access'], '?')} access to "
                     f"{fault['address']:#010x} refused by the partition's page tables")
    if panic:
        lines.append("  no ancestor could take the fault (the root faulted, or no handler up to it)")
    if detail:
        lines += ["  registers:"] + registers(machine, fault["context"])
        lines += ["  code:"] + listing(machine, pd, pc)
    return "\n".join(lines)


def summary(result: RunResult) -> str:
    """A run's result in lines: how it stopped, the machine's counters, each partition's."""
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
                if c["child_raised_events"] else "")
             + (f", console bytes dropped {c['console_dropped']}" if c["console_dropped"] else "")
             + (f", trace events dropped {c['trace_dropped']}" if c["trace_dropped"] else "")]
    for pd, s in sorted(result.partitions.items()):
        ran = f"{s['instructions']} instructions" if exact else f"{s['host_ns'] / 1e6:.3f} ms"
        lines.append(f"  partition pd {pd}: {ran}, {s['syscalls']} "
                     f"syscalls, {s['faults']} faults, scheduled {s['switches_in']} times")
    return "\n".join(lines)


def where(machine: Machine, result: RunResult, names: dict[int, str] | None = None) -> str:
    """Where each partition was when the run stopped: name (or pd), state, pc, what it ran."""
    k = machine.kernel
    current = k.current.pd
    lines = []
    for pd, s in sorted(result.partitions.items()):
        if pd == current:
            state, pc = "running", machine.pc()
        elif machine.is_python_partition(pd):
            state, pc = "python", None
        elif not k.is_partition(Partition(pd)):
            state, pc = "deleted", s["pc"] or None
        else:
            state, pc = "waiting", s["pc"] or None
        ran = (f"{s['instructions']} instructions" if result.mode == "exact"
               else f"{s['host_ns'] / 1e6:.3f} ms")
        lines.append(f"  {partition_name(names, pd)}: {state}, pc "
                     f"{'-' if pc is None else f'{pc:#010x}'}, {ran}, {s['syscalls']} syscalls")
    return "\n".join(lines)
