"""The firmware built by GCC and by zig's clang side by side (docs/sdk.md "Toolchains"): the
real programs (bench/programs, bench/README.md) as root images of each toolchain's build,
interleaved in one run (toolchain after toolchain of one program, program after program,
then again; the best of the rounds), on both architectures, every run's result verified.

Per toolchain: the exact guest instructions of a run (the machine's counter, exact mode),
the seconds of a run (fast mode, best of the rounds), the image's code bytes (its R X
segment); per program the ratios zig/gcc, and their geomeans.  Builds each toolchain's
images first (make -C firmware TOOLCHAIN=T BUILD=build-T; nothing to do when up to date).

Usage: python bench/bench_toolchains.py [--quick] [--rounds N] [--toolchains gcc,zig]
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import platform
import subprocess
import sys
import time

from bench_programs import geomean, programs

from pipsim.kernel import elf
from pipsim.kernel.machine import Machine
from pipsim.kernel.sdk.toolchain import TOOLCHAINS, gcc_present, zig_home

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
ARCHES = ("arm", "x86")
TIMED_MODE, COUNT_MODE = "fast", "exact"


def build(toolchain: str) -> pathlib.Path:
    """The toolchain's build of the firmware (made if needed): firmware/build-TOOLCHAIN."""
    folder = FIRMWARE / f"build-{toolchain}"
    subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"PY={sys.executable}",
                    f"TOOLCHAIN={toolchain}", f"BUILD={folder}"], check=True,
                   stdout=sys.stderr)
    return folder


def word(image: elf.ElfImage, symbol: str) -> int:
    """A constant word of an image."""
    at = image.symbols[symbol]
    for s in image.segments:
        if s.va <= at < s.end:
            return int.from_bytes(s.memory[at - s.va:at - s.va + 4], "little")
    raise ValueError(f"{symbol} is in no segment")


def run(path: pathlib.Path, arch: str, reps: int, mode: str):
    """(seconds, result) of the program's root image doing reps."""
    machine = Machine(arch, mode=mode)
    machine.load(str(path))
    machine.patch_word("bench_reps", reps)
    start = time.perf_counter()
    result = machine.run()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the work, one round")
    parser.add_argument("--rounds", type=int, help="rounds (best of; default 3, quick 1)")
    parser.add_argument("--toolchains", default=",".join(TOOLCHAINS),
                        help="comma-separated, default %(default)s")
    args = parser.parse_args()
    asked = args.toolchains.split(",")
    unknown = sorted(set(asked) - set(TOOLCHAINS))
    if unknown:
        parser.error(f"--toolchains: unknown {', '.join(unknown)} (known: {', '.join(TOOLCHAINS)})")
    present = {"gcc": gcc_present(), "zig": zig_home() is not None}
    absent = {"gcc": "Debian's GCC missing (firmware/setup-toolchain.sh, as root)",
              "zig": "ziglang missing (pip install 'pipsim[zig]'; make bench installs it)"}
    skipped = {chain: absent[chain] for chain in asked if not present[chain]}
    for chain, line in skipped.items():
        print(f"bench_toolchains: skipped: {line}", file=sys.stderr)
    chains = [chain for chain in asked if present[chain]]
    if not chains:
        print(json.dumps({"benchmark": "toolchains", "skipped": skipped}))
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    builds = {chain: build(chain) for chain in chains}
    names = programs()
    paths = {(c, a, p): builds[c] / a / f"prog_{p}.elf" for c in chains for a in ARCHES
             for p in names}
    images = {key: elf.read(path, key[1]) for key, path in paths.items()}
    # the same work for every toolchain: the first one's default reps
    reps = {(a, p): max(1, word(images[(chains[0], a, p)], "program_default_reps")
                        // (10 if args.quick else 1)) for a in ARCHES for p in names}
    counts, failures = {}, {}
    for key, path in paths.items():
        _, result = run(path, key[1], reps[key[1:]], COUNT_MODE)
        counts[key] = result.counters["instructions"]
    times = {}
    for _ in range(rounds):
        for arch in ARCHES:
            for program in names:
                for chain in chains:
                    key = (chain, arch, program)
                    seconds, result = run(paths[key], arch, reps[(arch, program)], TIMED_MODE)
                    times[key] = min(times.get(key, math.inf), seconds)
                    if result.stop != "halt" or result.exit_code != 0:
                        failures[key] = f"{result.stop} {result.exit_code}"
    report = {"benchmark": "toolchains", "machine": platform.machine(),
              "python": platform.python_version(), "rounds": rounds, "timed_mode": TIMED_MODE,
              "toolchains": chains, "skipped": skipped,
              "failures": {"/".join(k): v for k, v in failures.items()}}
    for arch in ARCHES:
        per = {}
        for program in names:
            entry = {"reps": reps[(arch, program)]}
            for chain in chains:
                key = (chain, arch, program)
                code = next(s for s in images[key].segments if s.flags & 1)   # PF_X
                entry[chain] = {"instructions": counts[key], "seconds": round(times[key], 4),
                                "code_bytes": code.end - code.va,
                                "verified": key not in failures}
            if len(chains) == 2:
                a, b = (entry[c] for c in reversed(chains))
                entry[f"{chains[1]}/{chains[0]}"] = {
                    k: round(a[k] / b[k], 3) for k in ("instructions", "seconds", "code_bytes")}
            per[program] = entry
        report[arch] = {"programs": per}
        if len(chains) == 2:
            ratio = f"{chains[1]}/{chains[0]}"
            report[arch]["geomean " + ratio] = {
                k: round(geomean(p[ratio][k] for p in per.values()), 3)
                for k in ("instructions", "seconds", "code_bytes")}
    print(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
