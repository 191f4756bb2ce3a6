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

import unicorn_alone
from pipkernel.machine import Machine

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
