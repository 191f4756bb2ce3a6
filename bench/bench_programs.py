"""Real programs (bench/programs, bench/README.md "Real programs"), each run five ways,
interleaved in one run (way after way of one program, program after program, then again;
the best of the rounds), on both architectures, every run's result verified:

* bare: Unicorn alone, one RWX map, no hooks (the child image);
* vtlb: Unicorn with a plain W^X virtual TLB and no other hook (the child image);
* root: the program as the machine's root partition (prog_NAME);
* child: in a child partition with preemption on, its root yielding back to it on every
  tick of a timer of TIMER_PERIOD blocks (prog_NAME_parent);
* qemu: QEMU user mode (qemu-arm / qemu-i386) running the program as a static Linux
  executable (prog_NAME_linux): the process's time minus the best time of the same
  executable exiting at once (its start-up).

Root and child are measured once per machine mode of MACHINE_MODES (a column each).  Every
way runs the same program source built with the same flags; MIPS use one instruction
count per program and architecture, the machine's exact counter in an untimed root run.
Prints JSON: per architecture and program the seconds, MIPS, verification of each way and
the ratios, and their geomeans over the programs.

Usage: python bench/bench_programs.py [--quick] [--rounds N]
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import pathlib
import platform
import subprocess
import sys
import time

from bench_machine import TIMER_PERIOD
import unicorn_alone

from pipsim.kernel import elf
from pipsim.kernel.abi import RUN_MODES
from pipsim.kernel.machine import Machine
from pipsim.kernel.needs import skipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "bench" / "programs"
BUILD = ROOT / "firmware" / "build"
ARCHES = ("arm", "x86")
QEMU = {"arm": "qemu-arm", "x86": "qemu-i386"}
#: the machine's run modes measured (docs/abi.md "Run modes"), a root and a child column each
MACHINE_MODES: list[str] = list(RUN_MODES)
COUNT_MODE = "exact"                 # the mode whose instruction counter is exact
TARGETS = {"child/vtlb, fast mode": 0.9, "child/qemu on ARM, fast mode": 0.35,
           "child/vtlb, deterministic mode": 0.75}      # geomeans (issue 14)


def programs() -> list[str]:
    """The programs: one NAME.c each in bench/programs (as programs.mk finds them)."""
    return sorted(p.stem for p in PROGRAMS.glob("*.c"))


def image(arch: str, name: str) -> pathlib.Path:
    path = BUILD / arch / f"{name}.elf"
    if not path.exists():
        raise SystemExit(f"{path} is missing: build the firmware (make setup)")
    return path


def default_reps(arch: str, program: str) -> int:
    """The program's program_default_reps (a constant word of its image)."""
    img = elf.read(image(arch, f"prog_{program}"), arch)
    at = img.symbols["program_default_reps"]
    for s in img.segments:
        if s.va <= at < s.end:
            return int.from_bytes(s.memory[at - s.va:at - s.va + 4], "little")
    raise ValueError(f"program_default_reps of {program} is in no segment")


def column(way: str, mode: str) -> str:
    """A machine way's column: root or child, and the mode's name."""
    return f"{way}_{mode}"


class Ways:
    """The five ways, each (arch, program, reps) -> (seconds, result), result 0 when the
    program's checks passed; with what they keep between runs: the virtual TLB's fills
    and QEMU's start-up time."""

    def __init__(self, has_qemu: bool):
        self.fills: dict = {}                   # (arch, program) -> TLB fills of a vtlb run
        self.startup: dict = {}                 # arch -> seconds of an empty QEMU run
        self.table = {"bare": functools.partial(self.unicorn, virtual=False),
                      "vtlb": functools.partial(self.unicorn, virtual=True)}
        for mode in MACHINE_MODES:
            self.table[column("root", mode)] = functools.partial(self.machine, child=False,
                                                                 mode=mode)
            self.table[column("child", mode)] = functools.partial(self.machine, child=True,
                                                                  mode=mode)
        if has_qemu:
            self.table["qemu"] = self.qemu

    def unicorn(self, arch: str, program: str, reps: int, virtual: bool):
        run = unicorn_alone.run(arch, image(arch, f"prog_{program}_child"), (reps,), virtual)
        if virtual:
            self.fills[(arch, program)] = run.tlb_fills
        result, check = run.regs[0], run.regs[1]
        return run.seconds, result if check == result ^ 0xFFFFFFFF else f"stopped: {run.regs}"

    @staticmethod
    def machine(arch: str, program: str, reps: int, child: bool, mode: str):
        if child:
            name, patches = f"prog_{program}_parent", {"bench_reps": reps,
                                                       "bench_timer": TIMER_PERIOD}
        else:
            name, patches = f"prog_{program}", {"bench_reps": reps}
        seconds, result = machine_run(arch, name, patches, mode)
        if result.stop != "halt":
            return seconds, f"{result.stop}: {result.console[-200:]!r}"
        return seconds, result.exit_code

    def qemu(self, arch: str, program: str, reps: int):
        command = [QEMU[arch], str(image(arch, f"prog_{program}_linux"))]
        if arch not in self.startup:
            self.startup[arch] = min(_timed(command)[0] for _ in range(5))
        seconds, code = _timed(command + [str(reps)])
        return max(seconds - self.startup[arch], 1e-9), code


def machine_run(arch: str, name: str, patches: dict[str, int], mode: str):
    """Load an image in a new machine, patch its words, time its run."""
    machine = Machine(arch, mode=mode)
    machine.load(str(image(arch, name)))
    for symbol, value in patches.items():
        machine.patch_word(symbol, value)
    start = time.perf_counter()
    result = machine.run()
    return time.perf_counter() - start, result


def _timed(command: list[str]):
    start = time.perf_counter()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - start, done.returncode


def instructions(arch: str, program: str, reps: int) -> int:
    """Exact guest instructions of one run: the root way, untimed, in COUNT_MODE."""
    _, result = machine_run(arch, f"prog_{program}", {"bench_reps": reps}, COUNT_MODE)
    return result.counters["instructions"]


def ratios(best: dict) -> dict:
    """The issue's ratios of speeds (same instructions: the inverse ratio of seconds)."""
    speed = {way: 1 / s for way, s in best.items()}
    out = {"vtlb/bare": speed["vtlb"] / speed["bare"]}
    for mode in MACHINE_MODES:
        root, child = column("root", mode), column("child", mode)
        out[f"{child}/vtlb"] = speed[child] / speed["vtlb"]
        if "qemu" in speed:
            out[f"{child}/qemu"] = speed[child] / speed["qemu"]
        out[f"{root}/{child}"] = speed[root] / speed[child]
    return out


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def measure(ways: Ways, names: list[str], reps: dict, rounds: int):
    """Best seconds per (arch, program, way) over interleaved rounds, and the failures."""
    times, failures = {}, {}
    for _ in range(rounds):
        for arch in ARCHES:
            for program in names:
                for way, run in ways.table.items():
                    seconds, result = run(arch, program, reps[(arch, program)])
                    key = (arch, program, way)
                    times[key] = min(times.get(key, math.inf), seconds)
                    if result != 0:
                        failures[key] = result
    return times, failures


def arch_report(arch: str, ways: Ways, names, reps, counts, times, failures) -> dict:
    per = {}
    for program in names:
        best = {way: times[(arch, program, way)] for way in ways.table}
        count = counts[(arch, program)]
        per[program] = {
            "reps": reps[(arch, program)], "instructions": count,
            "verified": all((arch, program, w) not in failures for w in ways.table),
            "seconds": {w: round(s, 4) for w, s in best.items()},
            "mips": {w: round(count / s / 1e6) for w, s in best.items()},
            "ratios": {k: round(v, 3) for k, v in ratios(best).items()},
            "vtlb_fills": ways.fills.get((arch, program))}
        failed = {w: str(failures[(arch, program, w)]) for w in ways.table
                  if (arch, program, w) in failures}
        if failed:
            per[program]["failures"] = failed
    keys = next(iter(per.values()))["ratios"]
    return {"programs": per,
            "geomean": {k: round(geomean(p["ratios"][k] for p in per.values()), 3) for k in keys},
            "geomean_mips": {w: round(geomean(p["mips"][w] for p in per.values()))
                             for w in ways.table},
            "qemu_startup_s": round(ways.startup[arch], 4) if arch in ways.startup else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the work, one round")
    parser.add_argument("--rounds", type=int, help="rounds (best of; default 3, quick 1)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    no_qemu = skipped("bench_programs", *QEMU.values())
    has_qemu = no_qemu is None
    ways, names = Ways(has_qemu), programs()
    reps = {(a, p): max(1, default_reps(a, p) // (10 if args.quick else 1))
            for a in ARCHES for p in names}
    counts = {key: instructions(*key, reps[key]) for key in reps}
    times, failures = measure(ways, names, reps, rounds)
    report = {"benchmark": "programs", "machine": platform.machine(),
              "python": platform.python_version(), "rounds": rounds,
              "timer_period_blocks": TIMER_PERIOD, "machine_modes": MACHINE_MODES,
              "qemu": no_qemu or "qemu-user, its start-up subtracted",
              "targets": TARGETS}
    for arch in ARCHES:
        report[arch] = arch_report(arch, ways, names, reps, counts, times, failures)
    print(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
