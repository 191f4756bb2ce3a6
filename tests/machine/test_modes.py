"""Run modes (docs/abi.md "Run modes"): exact mode counts every instruction a partition runs,
timer on or off, as a per-instruction hook on bare Unicorn counts them; fast mode has no
block hook, preempts a looping partition with its host-time timer and counts nothing."""
import pathlib

import pytest
from unicorn import UC_ERR_EXCEPTION, UC_HOOK_BLOCK, UC_HOOK_INSN, UC_PROT_ALL, UcError
from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_SP
from unicorn.x86_const import (UC_X86_INS_SYSENTER, UC_X86_REG_EAX, UC_X86_REG_ECX,
                               UC_X86_REG_EIP, UC_X86_REG_ESP)

from pipsim.kernel import elf
from pipsim.kernel.abi import CONSOLE_STATUS, CONSOLE_VA, PAGE_SIZE, SYSTEM_VA
from pipsim.kernel.machine import ARCHES, Machine
from pipsim.kernel.machine.spawn import python_parent_vidt, spawn_child
from pipsim.kernel.wrappers import PageAllocator, map_page

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
ARGS = (2, 4)                   # the compute child: 2 rounds of SHA-256 over 4 KiB
REGISTERS = {"arm": (UC_ARM_REG_SP, UC_ARM_REG_R0, UC_ARM_REG_R1),
             "x86": (UC_X86_REG_ESP, UC_X86_REG_EAX, UC_X86_REG_ECX)}
PC = {"arm": UC_ARM_REG_PC, "x86": UC_X86_REG_EIP}


def bare_count(arch: str, image: str, console: bool = True) -> int:
    """Instructions bare Unicorn runs of a child image (ARGS) until its first kernel call
    or fault ends the emulation: each block it runs disassembled by capstone, and of the
    block that faulted only the instructions before the faulting one (an independent count:
    not QEMU's, and Unicorn's per-instruction hook skips Thumb-2's instructions whose IT
    condition fails).  x86's kernel call, sysenter, is hooked to end the emulation: left to
    the engine, it goes on translating blocks from addresses past it, which ran nowhere."""
    path = BUILD / arch / f"{image}.elf"
    uc, loaded = ARCHES[arch].engine(), elf.read(path, arch)
    low = min(s.va for s in loaded.segments) & ~0xFFF
    high = max(s.end for s in loaded.segments)
    uc.mem_map(low, (high - low + 0xFFF) & ~0xFFF, UC_PROT_ALL)
    for s in loaded.segments:
        uc.mem_write(s.va, s.data)
    if console:                             # a device, as in the machine: always ready
        uc.mmio_map(CONSOLE_VA, PAGE_SIZE, lambda uc, offset, size, _: int(
            offset == CONSOLE_STATUS), None, lambda *_: None, None)
    for register, value in zip(REGISTERS[arch], (loaded.stack_top, *ARGS)):
        uc.reg_write(register, value)
    thumb = loaded.entry & 1
    disassembler, _ = ARCHES[arch].disassembler(thumb)
    blocks: dict[int, list[int]] = {}       # block address -> its instructions' addresses
    runs = []

    def on_block(uc, address, size, _):
        if address not in blocks:
            code = bytes(uc.mem_read(address, size))
            blocks[address] = [i.address for i in disassembler.disasm(code, address)]
        runs.append(address)

    uc.hook_add(UC_HOOK_BLOCK, on_block)
    if arch == "x86":
        uc.hook_add(UC_HOOK_INSN, lambda uc, _: uc.emu_stop(), None, 1, 0, UC_X86_INS_SYSENTER)
    uc.ctl_exits_enabled(True)
    uc.ctl_set_exits([])
    try:                                    # svc unhandled, sysenter hooked, or the fault
        uc.emu_start(loaded.entry, 0)
        errno = UC_ERR_EXCEPTION
    except UcError as error:
        errno = error.errno
    count = sum(len(blocks[address]) for address in runs)
    if errno != UC_ERR_EXCEPTION:           # a fault: the rest of its block did not run
        pc = uc.reg_read(PC[arch])
        count -= sum(1 for at in blocks[runs[-1]] if at >= pc)
    return count


def run_child(arch: str, image: str, period: int, mode: str = "exact",
              console: bool = True, rounds: int = 5000):
    """A Python root runs a child (ARGS) with the timer at period, taking back control at
    each timer interrupt and yielding to the child again, until the child yields or faults
    to it; (the child's counters, its console output, how many times it was preempted)."""
    m = Machine(arch, pages=1024, python_root=True, mode=mode)
    k = m.kernel
    root = k.as_partition(k.root)
    python_parent_vidt(root)
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    desc = spawn_child(m, root, alloc, str(BUILD / arch / f"{image}.elf"), args=ARGS)
    if console:
        map_page(root, alloc, desc, CONSOLE_VA, CONSOLE_VA, True, True, False)
    m.timer_period = period
    output, preempted = b"", 0
    for _ in range(rounds):
        assert root.yield_(desc, 0, 2, 1, 0) == 0       # the root takes interrupts meanwhile
        m.enter()
        result = m.run(max_seconds=30)
        assert result.stop == "host", result
        output += result.console
        counters = m.counters()
        if counters["syscalls"] or counters["faults"]:
            break                                       # it yielded to the root, or faulted
        preempted += 1
    child = next(s for pd, s in m.partition_stats().items() if pd != k.root.pd)
    return child, output, preempted


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_exact_mode_counts_what_runs_timer_on_or_off(arch):
    """The child runs SHA-256 until its first console access, which faults mid-block (its
    console page is not given): exact mode counts what ran, whatever the timer period.
    The old block hook counted each block the timer stopped before it ran, once more when
    it ran; and a block a fault cut short, whole."""
    expected = bare_count(arch, "compute_child", console=False)
    seen = []
    for period in (0, 997, 50):
        child, output, preempted = run_child(arch, "compute_child", period, console=False)
        assert output == b"" and (preempted > 0) == (period > 0)
        seen.append(child["instructions"])
    assert seen == [expected] * 3


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_exact_mode_counts_a_whole_run_with_a_device_timer_on_or_off(arch):
    """The same child, its console given: it writes its line and yields to the root."""
    expected = bare_count(arch, "compute_child")
    for period in (0, 997, 50):
        child, output, _ = run_child(arch, "compute_child", period)
        assert output.startswith(b"compute: sha256 = ") and output.endswith(b"\n")
        assert child["instructions"] == expected


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_fast_mode_runs_the_same_program_and_counts_no_instructions(arch):
    child, output, _ = run_child(arch, "compute_child", 20_000, mode="fast")
    _, exact_output, _ = run_child(arch, "compute_child", 20_000)
    assert output == exact_output and output.startswith(b"compute: sha256 = ")
    assert child["instructions"] == 0 and child["host_ns"] > 0


def endless_child(arch: str, mode: str):
    """A Python root and a child that would hash for hours (10**6 rounds over 64 KiB) and
    never yield: (machine, root, the child's descriptor)."""
    m = Machine(arch, pages=1024, python_root=True, mode=mode)
    k = m.kernel
    root = k.as_partition(k.root)
    python_parent_vidt(root)
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    desc = spawn_child(m, root, alloc, str(BUILD / arch / "compute_child.elf"),
                       args=(10**6, 64))
    return m, root, desc


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_fast_mode_preempts_a_partition_that_never_yields(arch):
    """Only the host-time timer gives the root control back."""
    m, root, desc = endless_child(arch, "fast")
    m.timer_period = 20_000                      # 100 us of host time
    for turn in range(1, 4):
        assert root.yield_(desc, 0, 2, 1, 0) == 0
        m.enter()
        result = m.run(max_seconds=30)
        assert result.stop == "host" and m.kernel.current == m.kernel.root
        assert m.counters()["irqs"] == turn


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_a_time_limit_stops_a_partition_that_never_yields(mode):
    m, root, desc = endless_child("arm", mode)
    assert root.yield_(desc, 0, 2, 1, 0) == 0
    m.enter()
    assert m.run(max_seconds=0.2).stop == "budget"
    assert m.run(max_seconds=0.2).stop == "budget"      # and again: it goes on
    assert m.kernel.current != m.kernel.root


def test_modes_and_budgets_are_checked():
    with pytest.raises(ValueError, match="mode must be one of exact, fast"):
        Machine("arm", mode="turbo")
    m = Machine("arm", mode="fast")
    with pytest.raises(ValueError, match="fast mode counts no instructions"):
        m.run(max_instructions=1000)
    with pytest.raises(ValueError, match="max_seconds"):
        m.run(max_seconds=-1)
    m.mode = "exact"
    assert m.mode == "exact"
    with pytest.raises(ValueError, match="max_blocks must be an int"):
        m.run(max_blocks=-5)


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_pipsim_run_in_fast_mode(arch, capsys):
    from pipsim.kernel.cli import main
    assert main(["run", str(BUILD / arch / "compute_small.elf"), "--mode", "fast"]) == 0
    out = capsys.readouterr().out
    assert "compute: done" in out and "instructions not counted (fast mode)" in out
    assert main(["run", str(BUILD / arch / "compute_small.elf"), "--mode", "fast",
                 "--max-instructions", "10"]) == 2
    assert "fast mode counts no instructions" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_the_default_image_in_fast_mode(arch):
    """The gateway's session, attacks and containment included, with fast mode's timer
    and its per-turn time budget instead of an instruction budget."""
    import io

    from pipsim.domains.gateway import run_default
    out = io.StringIO()
    assert run_default(out, arch=arch, mode="fast") == 0, out.getvalue()
    assert "(fast mode)" in out.getvalue()

