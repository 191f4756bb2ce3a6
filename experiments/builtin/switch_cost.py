"""Host time of a partition switch and of a memory syscall round trip on the machine."""
from __future__ import annotations

import time

from .. import firmware
from ..measures import Measure
from ..params import Param
from ..registry import Figure, experiment

MODES = {"empty": 1, "syscall": 2, "switch": 3}     # the bench image's loops (root.c)
MACHINE_PAGES = 256         # enough for the bench image; a smaller kernel boots faster
COUNTERS = ("instructions", "syscalls", "switches", "tlb_fills")


def bench_run(arch: str, mode: int, iterations: int):
    """One run of the bench image: (host seconds of Machine.run, RunResult)."""
    from pipsim.kernel.machine import Machine     # needs the machine: imported when it runs
    machine = Machine(arch, pages=MACHINE_PAGES)
    machine.load(str(firmware.image(arch, "bench")))
    machine.patch_word("bench_mode", mode)
    machine.patch_word("bench_iterations", iterations)
    start = time.perf_counter()
    result = machine.run()
    elapsed = time.perf_counter() - start
    if (result.stop, result.exit_code) != ("halt", 0):
        raise RuntimeError(f"bench mode {mode} on {arch}: {result.stop} {result.exit_code} "
                           f"{result.console[-200:]!r}")
    return elapsed, result


def loop_cost(arch: str, mode: int, iterations: int, best_of: int) -> tuple[float, dict]:
    """Per-iteration host seconds of a loop and per-iteration counters: a run of
    `iterations` minus a run of 1 (set-up, the child's spawn and start-up, translation of
    the code all happen in both), divided by iterations - 1; times are the best of
    `best_of` runs, counters are deterministic."""
    def best(n):
        runs = [bench_run(arch, mode, n) for _ in range(best_of)]
        return min(t for t, _ in runs), runs[0][1].counters
    base_s, base = best(1)
    loop_s, loop = best(iterations)
    steps = iterations - 1
    return (loop_s - base_s) / steps, {c: (loop[c] - base[c]) / steps for c in COUNTERS}


@experiment(
    "switch_cost",
    params=[Param("arch", "arm", "the machine's CPU", choices=firmware.ARCHES),
            Param("iterations", 20_000, "loop iterations of each timed run", low=2,
                  unit="iterations"),
            Param("best_of", 3, "runs of each loop; the fastest is kept", low=1, unit="runs")],
    measures={
        "syscall_round_trip_us": Measure("host time of one memory syscall (mappedInChild) guest -> "
                                         "core -> guest, beyond the empty loop", "µs"),
        "switch_round_trip_us": Measure("host time of a yield to a child and the child's yield "
                                        "back, beyond the empty loop", "µs"),
        "switch_us": Measure("half of switch_round_trip_us: one partition switch", "µs"),
        "empty_loop_ns": Measure("host time of one iteration of the empty loop", "ns"),
        "syscall_instructions": Measure("guest instructions per syscall iteration beyond the empty "
                                        "loop (the libpip call and the result "
                                        "check)", "instructions"),
        "switch_instructions": Measure("guest instructions per switch round trip beyond the empty "
                                       "loop, both partitions", "instructions"),
        "switches_per_iteration": Measure("partition switches the machine counts per switch "
                                          "iteration (2: there and back)", "switches"),
        "syscalls_per_iteration": Measure("kernel calls per switch iteration (2 yields)", "calls"),
        "tlb_fills_per_switch": Measure("virtual-TLB refills per switch (the TLB is flushed at "
                                        "each)", "fills"),
    },
    figures=[
        Figure("by_arch", x="arch", y=("syscall_round_trip_us", "switch_round_trip_us"),
               title="Syscall and switch round trips on the machine, by architecture"),
        Figure("instructions_by_arch", x="arch",
               y=("syscall_instructions", "switch_instructions", "tlb_fills_per_switch"),
               title="Guest instructions and TLB refills per round trip"),
        Figure("vs_iterations", x="iterations",
               y=("syscall_round_trip_us", "switch_round_trip_us"), logx=True,
               title="Round trips against the loop length (fixed costs amortised)"),
    ],
    requires=("machine",),
)
def switch_cost(p, rng):
    """Host time of a partition switch and of a memory syscall round trip on the machine.

    How: the bench firmware image (firmware/samples/bench/root.c) runs in the root on the
    Unicorn machine; its data words bench_mode and bench_iterations are patched before the
    run: mode 1 an empty loop, mode 2 one mappedInChild syscall per iteration, mode 3 a yield
    to a child and the child's yield back per iteration.  Each loop's host time (best of
    `best_of` runs of Machine.run) minus the same image run with 1 iteration (set-up, the
    child's spawn and start-up, code translation), over iterations - 1, gives its cost per
    iteration; the empty loop's is subtracted from the others.  The machine's counters
    (RunResult.counters) give the guest instructions, kernel calls, switches and TLB refills
    per iteration the same way.

    Limits: host time of an emulator on a shared host, not cycles of a device: compare
    arches and runs within one sweep, use --repeat.  Unicorn's virtual TLB is flushed at
    every switch and refilled by the core's page-table walk, which dominates a switch
    (measured ~1.8 us per switch against ~0.3 us per syscall); a real MMU with ASIDs would
    not pay it.  Short loops are noisy: the subtraction of two runs of a few ms each.
    """
    arch, n, best_of = p["arch"], p["iterations"], p["best_of"]
    empty_s, empty = loop_cost(arch, MODES["empty"], n, best_of)
    syscall_s, syscall = loop_cost(arch, MODES["syscall"], n, best_of)
    switch_s, switch = loop_cost(arch, MODES["switch"], n, best_of)
    round_trip = (switch_s - empty_s) * 1e6
    return {
        "syscall_round_trip_us": (syscall_s - empty_s) * 1e6,
        "switch_round_trip_us": round_trip,
        "switch_us": round_trip / 2,
        "empty_loop_ns": empty_s * 1e9,
        "syscall_instructions": syscall["instructions"] - empty["instructions"],
        "switch_instructions": switch["instructions"] - empty["instructions"],
        "switches_per_iteration": switch["switches"],
        "syscalls_per_iteration": switch["syscalls"],
        "tlb_fills_per_switch": switch["tlb_fills"] / switch["switches"],
    }
