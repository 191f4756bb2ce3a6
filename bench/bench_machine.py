"""Machine benchmark, measured side by side in one run, printed as JSON:

* guest instructions per second of the compute image (SHA-256 in a child partition, with
  isolation and timer preemption on) against bare Unicorn running the same child code
  (one RWX map, no hooks, no preemption);
* a memory syscall's round trip guest -> core -> guest, and a partition switch (yield to
  a child and back), from the bench image's loops minus its empty loop.

Usage: python bench/bench_machine.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

from unicorn import UC_ERR_EXCEPTION, UC_ERR_FETCH_UNMAPPED, UC_PROT_ALL, UcError
from unicorn.arm_const import UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_SP
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_ESP

from pipkernel import elf
from pipkernel.abi import CONSOLE_STATUS, CONSOLE_VA, PAGE_SIZE
from pipkernel.machine import ARCHES, Machine

BUILD = pathlib.Path(__file__).resolve().parents[1] / "firmware" / "build"
TIMER_PERIOD = 20_000          # blocks between timer interrupts, as the scheduler sample
ROUNDS, KIB = 48, 64           # the compute image's defaults


def timed_run(arch: str, image: str, patches: dict[str, int], timer: int = 0):
    machine = Machine(arch)
    machine.load(str(BUILD / arch / f"{image}.elf"))
    for name, value in patches.items():
        machine.patch_word(name, value)
    machine.timer_period = timer
    start = time.perf_counter()
    result = machine.run()
    elapsed = time.perf_counter() - start
    if (result.stop, result.exit_code) != ("halt", 0):
        raise RuntimeError(f"{image} on {arch}: {result.stop} {result.exit_code} "
                           f"{result.console[-300:]!r}")
    return result, elapsed


def bare_compute(arch: str) -> float:
    """Seconds for bare Unicorn to run the compute child from its entry to its final
    kernel call (an unhooked svc / sysenter ends emulation with an exception)."""
    path = BUILD / arch / "compute_child.elf"
    uc = ARCHES[arch].engine()
    uc.ctl_exits_enabled(True)           # run until something stops it (no `until` address)
    uc.ctl_set_exits([])
    image = elf.read(path, arch)
    entry, top = image.entry, image.stack_top
    low = min(s.va for s in image.segments) & ~0xFFF
    high = max(s.end for s in image.segments)
    uc.mem_map(low, (high - low + 0xFFF) & ~0xFFF, UC_PROT_ALL)
    for s in image.segments:
        uc.mem_write(s.va, s.data)
    uc.mem_map(CONSOLE_VA, PAGE_SIZE, UC_PROT_ALL)
    uc.mem_write(CONSOLE_VA + CONSOLE_STATUS, (1).to_bytes(4, "little"))   # always ready
    if arch == "arm":
        regs = {UC_ARM_REG_SP: top, UC_ARM_REG_R0: ROUNDS, UC_ARM_REG_R1: KIB}
    else:
        regs = {UC_X86_REG_ESP: top, UC_X86_REG_EAX: ROUNDS, UC_X86_REG_ECX: KIB}
    for reg, value in regs.items():
        uc.reg_write(reg, value)
    start = time.perf_counter()
    try:
        uc.emu_start(entry, 0)
    except UcError as error:
        # the final kernel call, unhandled here: ARM's svc raises an exception, x86's
        # sysenter jumps to the (unset) SYSENTER_EIP MSR, address 0
        if error.errno not in (UC_ERR_EXCEPTION, UC_ERR_FETCH_UNMAPPED):
            raise
    return time.perf_counter() - start


def compute(arch: str) -> dict:
    result, isolated = timed_run(arch, "compute", {}, timer=TIMER_PERIOD)
    child = max(result.partitions.values(), key=lambda s: s["instructions"])["instructions"]
    bare = min(bare_compute(arch) for _ in range(2))
    total = result.counters["instructions"]
    return {"guest_instructions": total, "child_instructions": child,
            "isolated_s": round(isolated, 3), "bare_s": round(bare, 3),
            "isolated_mips": round(total / isolated / 1e6), "bare_mips": round(child / bare / 1e6),
            "isolated_over_bare": round((total / isolated) / (child / bare), 2),
            "timer_interrupts_raised": result.counters["irqs"] + result.counters["irqs_dropped"]
            or round(result.counters["blocks"] / TIMER_PERIOD)}


def loops(arch: str, iterations: int) -> dict:
    """Per-iteration host time of the bench image's loops (best of 3), minus the empty loop."""
    def best(mode):
        return min(timed_run(arch, "bench", {"bench_mode": mode,
                                             "bench_iterations": iterations})[1]
                   for _ in range(3))
    empty, syscall, switch = best(1), best(2), best(3)
    return {"iterations": iterations,
            "syscall_round_trip_us": round((syscall - empty) / iterations * 1e6, 3),
            "switch_round_trip_us": round((switch - empty) / iterations * 1e6, 3),
            "switch_us": round((switch - empty) / iterations / 2 * 1e6, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer loop iterations")
    args = parser.parse_args()
    iterations = 20_000 if args.quick else 200_000
    report = {"benchmark": "machine", "machine": platform.machine(),
              "python": platform.python_version(),
              "targets": {"isolated_over_bare": 1.0, "syscall_round_trip_us": 0.5,
                          "switch_round_trip_us": 2.0}}
    for arch in ("arm", "x86"):
        report[arch] = {"compute": compute(arch), "loops": loops(arch, iterations)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
