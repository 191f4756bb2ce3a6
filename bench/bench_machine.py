"""Machine benchmark, measured side by side in one run, printed as JSON:

* guest instructions per second of the compute image (SHA-256 in a child partition, with
  isolation and timer preemption on) against bare Unicorn running the same child code
  (one RWX map, no hooks, no preemption);
* a memory syscall's round trip guest -> core -> guest, and a partition switch (yield to
  a child and back), from the bench image's loops minus its empty loop;
* what running in slices costs (`pipsim run`: the console and the trace looked at every
  SLICE_SECONDS): a long run of the forever image and the loops, whole and sliced, side by
  side.

Usage: python bench/bench_machine.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import unicorn_alone
from pipsim.kernel.machine import SLICE_SECONDS, Machine

BUILD = pathlib.Path(__file__).resolve().parents[1] / "firmware" / "build"
TIMER_PERIOD = 20_000          # blocks between timer interrupts, as the scheduler sample
ROUNDS, KIB = 48, 64           # the compute image's defaults


def drain(machine) -> bool:
    """What `pipsim run` does between slices (tracing off): take the console."""
    machine.take_console()
    return False


def timed_run(arch: str, image: str, patches: dict[str, int], timer: int = 0,
              sliced: bool = False):
    machine = Machine(arch)
    machine.load(str(BUILD / arch / f"{image}.elf"))
    for name, value in patches.items():
        machine.patch_word(name, value)
    machine.timer_period = timer
    start = time.perf_counter()
    result = machine.run(between=drain if sliced else None)
    elapsed = time.perf_counter() - start
    if (result.stop, result.exit_code) != ("halt", 0):
        raise RuntimeError(f"{image} on {arch}: {result.stop} {result.exit_code} "
                           f"{result.console[-300:]!r}")
    return result, elapsed


def bare_compute(arch: str) -> float:
    """Seconds for bare Unicorn to run the compute child from its entry to its final
    kernel call (bench/unicorn_alone.py)."""
    return unicorn_alone.run(arch, BUILD / arch / "compute_child.elf", (ROUNDS, KIB),
                             console=True).seconds


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


def loops(arch: str, iterations: int, sliced: bool = False) -> dict:
    """Per-iteration host time of the bench image's loops (best of 3), minus the empty loop."""
    def best(mode):
        return min(timed_run(arch, "bench", {"bench_mode": mode,
                                             "bench_iterations": iterations}, sliced=sliced)[1]
                   for _ in range(3))
    empty, syscall, switch = best(1), best(2), best(3)
    return {"iterations": iterations,
            "syscall_round_trip_us": round((syscall - empty) / iterations * 1e6, 3),
            "switch_round_trip_us": round((switch - empty) / iterations * 1e6, 3),
            "switch_us": round((switch - empty) / iterations / 2 * 1e6, 3)}


LONG_RUN = 400_000_000          # instructions of the forever image (the scheduler, endless)


def long_run(arch: str, sliced: bool) -> float:
    """Seconds for LONG_RUN instructions of the forever image."""
    machine = Machine(arch)
    machine.load(str(BUILD / arch / "forever.elf"))
    start = time.perf_counter()
    result = machine.run(max_instructions=LONG_RUN, between=drain if sliced else None)
    elapsed = time.perf_counter() - start
    if result.stop != "budget":
        raise RuntimeError(f"forever on {arch}: {result.stop}")
    return elapsed


def slicing(arch: str, iterations: int) -> dict:
    """A long run of the forever image (after one to warm up; whole and sliced alternated,
    best of 3 each) and the loops, whole and in slices."""
    long_run(arch, False)
    runs = [(long_run(arch, False), long_run(arch, True)) for _ in range(3)]
    whole, sliced = min(w for w, _ in runs), min(s for _, s in runs)
    loops_whole, loops_sliced = loops(arch, iterations), loops(arch, iterations, sliced=True)
    return {"slice_s": SLICE_SECONDS, "long_run_instructions": LONG_RUN,
            "long_run_whole_s": round(whole, 3), "long_run_sliced_s": round(sliced, 3),
            "long_run_sliced_over_whole": round(sliced / whole, 3),
            "switch_round_trip_whole_us": loops_whole["switch_round_trip_us"],
            "switch_round_trip_sliced_us": loops_sliced["switch_round_trip_us"],
            "syscall_round_trip_whole_us": loops_whole["syscall_round_trip_us"],
            "syscall_round_trip_sliced_us": loops_sliced["syscall_round_trip_us"]}


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
        report[arch] = {"compute": compute(arch), "loops": loops(arch, iterations),
                        "slicing": slicing(arch, iterations)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
