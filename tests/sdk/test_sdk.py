"""The firmware SDK (docs/sdk.md): a user's C program built outside the tree with `pipsim cc`
and with CMake and the toolchain file, on both architectures, run in the root and as a
child; the C library, the stack's guard page, a user's own memcpy, pipsim cc's refusals.

The SDK is built by `make -C firmware` (tests/firmware's fixture does it first in a full run;
here `built` makes sure)."""
from __future__ import annotations

import pathlib
import struct
import subprocess
import sys

import pytest

from pipsim.kernel import cli
from pipsim.kernel import elf
from pipsim.kernel.abi import PAGE_SIZE, VECTORS
from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.spawn import run_child
from pipsim.kernel.sdk import cmake, flags, layout, toolchain
from pipsim.kernel.sdk.layout import SdkError

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
WORDFREQ = ROOT / "examples" / "wordfreq"
ARCHES = ("arm", "x86")
WORDFREQ_OUT = """\
wordfreq: 25 distinct words, the 8 most frequent:
parent     4
child      3
its        3
partition  3
box        2
decides    2
pages      2
program    2
"""
WORDFREQ_CODE = 25


@pytest.fixture(scope="module")
def built():
    try:
        toolchain.chosen()
    except SdkError as error:
        pytest.fail(str(error), pytrace=False)
    run = subprocess.run(["make", "-C", str(FIRMWARE), f"PY={sys.executable}", "sdk"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.fail(f"make -C firmware sdk failed:\n{run.stdout}\n{run.stderr}", pytrace=False)
    if not (layout.libc_dir("arm") / "lib" / "libc.a").is_file():      # no newlib source
        pytest.skip(run.stderr.strip().splitlines()[-1], allow_module_level=True)


def cc(*args) -> None:
    assert cli.main(["cc", *map(str, args)]) == 0


def run_root(path, capsys) -> tuple[int, str]:
    status = cli.main(["run", str(path)])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("arch", ARCHES)
def test_wordfreq_with_pipsim_cc_in_the_root_and_as_a_child(built, arch, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)                 # out of the tree
    cc("--arch", arch, "-O2", "-Wall", "-Wextra", "-Werror", WORDFREQ / "wordfreq.c",
       "-o", "root.elf")
    cc("--arch", arch, "--kind", "child", "-O2", WORDFREQ / "wordfreq.c", "-o", "child.elf")
    status, out = run_root(tmp_path / "root.elf", capsys)
    assert status == WORDFREQ_CODE
    assert out.startswith(WORDFREQ_OUT + f"stopped: halt (exit code {WORDFREQ_CODE})\n")
    status = cli.main(["run", "--child", str(tmp_path / "child.elf")])
    out = capsys.readouterr().out
    assert status == WORDFREQ_CODE
    assert out.startswith(WORDFREQ_OUT + f"child exited with code {WORDFREQ_CODE}\n")


@pytest.mark.needs("cmake")
@pytest.mark.parametrize("arch", ARCHES)
def test_wordfreq_with_cmake_and_the_toolchain_file(built, arch, tmp_path, capsys):
    toolchain = FIRMWARE / "build" / "cmake" / f"pipsim-{arch}.cmake"
    assert cli.main(["cc", "--arch", arch, "--print-toolchain"]) == 0
    assert capsys.readouterr().out == f"{toolchain}\n"
    for kind in ("root", "child"):
        build = tmp_path / kind
        for step in (["cmake", "-S", str(WORDFREQ), "-B", str(build),
                      f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", f"-DPIPSIM_KIND={kind}"],
                     ["cmake", "--build", str(build)]):
            done = subprocess.run(step, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
    status, out = run_root(tmp_path / "root" / "wordfreq.elf", capsys)
    assert status == WORDFREQ_CODE and out.startswith(WORDFREQ_OUT)
    assert elf.read(tmp_path / "child" / "wordfreq.elf").entry & ~1 < 0x400000
    status = cli.main(["run", "--child", str(tmp_path / "child" / "wordfreq.elf")])
    assert status == WORDFREQ_CODE and capsys.readouterr().out.startswith(WORDFREQ_OUT)


def test_an_arm_state_image_calls_the_thumb_libraries(built, tmp_path, capsys):
    out = tmp_path / "a32.elf"
    cc("--arch", "arm", "--state", "a32", "-O2", WORDFREQ / "wordfreq.c", "-o", out)
    assert elf.read(out).entry & 1 == 0             # ARM state
    status, text = run_root(out, capsys)
    assert status == WORDFREQ_CODE and text.startswith(WORDFREQ_OUT)


PROGRAM = r"""
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int canary = 0x5EC7E75A;            /* .data */
static unsigned calls;

void *memcpy(void *dst, const void *src, size_t n)   /* the program's own */
{
    char *d = dst;
    const char *s = src;
    calls++;
    while (n--)
        *d++ = *s++;
    return dst;
}

static int compare(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static __attribute__((noinline)) unsigned recurse(unsigned n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    return n == 0xFFFFFFFFu ? 0 : recurse(n + 1) + frame[0];
}

int main(unsigned mode)
{
    if (mode == 1 || OVERFLOW)
        return (int)recurse(canary != 0x5EC7E75A);     /* recurse(0), reading .data */
    char buf[32];
    int numbers[] = {42, -7, 19, 3};
    memcpy(buf, "pipsim", 7);
    qsort(numbers, 4, sizeof *numbers, compare);
    int key = 19;
    int *found = bsearch(&key, numbers, 4, sizeof *numbers, compare);
    void *big = malloc(2 * HEAP);
    printf("%s %u %d %d %ld %d %c %d %s %u\n", buf, (unsigned)strlen(buf), strcmp(buf, "pip") > 0,
           numbers[0], strtol("-0x1f", NULL, 16), atoi("123") + abs(-4), toupper('q'),
           (int)(found - numbers), big ? "heap?" : "no-heap", calls);
    srand(1);
    return rand() == rand() ? 1 : 0;
}
"""
PROGRAM_OUT = "pipsim 6 1 -7 -31 127 Q 2 no-heap 1\n"
HEAP = 0x8000


def build_program(tmp_path, arch, kind, overflow=False, name="prog") -> pathlib.Path:
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    out = tmp_path / f"{name}-{arch}-{kind}.elf"
    cc("--arch", arch, "--kind", kind, "--heap", f"{HEAP // 1024}K", "--stack", "8K",
       f"-DOVERFLOW={int(overflow)}", f"-DHEAP={HEAP}", "-O2", src, "-o", out)
    return out


@pytest.mark.parametrize("arch", ARCHES)
def test_the_c_library_and_a_programs_own_memcpy(built, arch, tmp_path, capsys):
    """<string.h>, <stdlib.h> (qsort, bsearch, strtol, atoi, abs, malloc past the heap:
    NULL, rand), <ctype.h> and printf on both architectures; the program's memcpy is the
    one called (it counts), with no clash with libpip's or the C library's."""
    status, out = run_root(build_program(tmp_path, arch, "root"), capsys)
    assert (status, out.split("stopped")[0]) == (0, PROGRAM_OUT)
    run = run_child(Machine(arch, pages=1024, python_root=True),
                    str(build_program(tmp_path, arch, "child")))
    assert (run.end, run.exit_code, run.result.console.decode()) == ("exit", 0, PROGRAM_OUT)


def guard_and_canary(path) -> tuple[int, int]:
    symbols = elf.read(path).symbols
    return symbols["__stack_guard"], symbols["canary"]


@pytest.mark.parametrize("arch", ARCHES)
def test_a_root_stack_overflow_faults_at_the_guard_page(built, arch, tmp_path):
    path = build_program(tmp_path, arch, "root", overflow=True)
    guard, canary = guard_and_canary(path)
    m = Machine(arch, pages=1024)
    m.load(str(path))
    result = m.run(max_instructions=5_000_000)
    assert result.stop == "panic"
    assert result.fault["vector"] == VECTORS["PAGE_FAULT"]
    assert result.fault["address"] & ~(PAGE_SIZE - 1) == guard
    assert result.fault["access"] == 2                                  # a write
    assert m.read_root_image(canary, 4) == struct.pack("<I", 0x5EC7E75A)
    with pytest.raises(ValueError, match="not a range"):
        m.read_root_image(canary, -1)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_child_stack_overflow_faults_to_its_parent_at_the_guard_page(built, arch, tmp_path):
    path = build_program(tmp_path, arch, "child", overflow=True)
    guard, canary = guard_and_canary(path)
    m = Machine(arch, pages=1024, python_root=True)
    run = run_child(m, str(path), max_instructions=5_000_000)
    assert run.end == "fault" and run.exit_code is None
    assert run.fault["vector"] == VECTORS["PAGE_FAULT"]
    assert run.fault["address"] & ~(PAGE_SIZE - 1) == guard
    maps = m.kernel.mappings(run.child)
    assert guard not in maps and guard + PAGE_SIZE in maps and guard - PAGE_SIZE in maps
    page = maps[canary & ~(PAGE_SIZE - 1)].pa + (canary & (PAGE_SIZE - 1))
    assert bytes(m.kernel.physical_memory()[page:page + 4]) == struct.pack("<I", 0x5EC7E75A)


@pytest.mark.parametrize("args, message", [
    (["--arch", "x86", "--state", "a32", "x.c"], "--state a32 (ARM state) is for arch arm only"),
    (["--arch", "arm", "--stack", "0", "x.c"], "stack size must be a whole number of bytes"),
    (["--arch", "arm", "--heap", "2M", "x.c"], "heap size must be a whole number of bytes"),
    (["x.c", "-o", "x.elf"], "pipsim cc needs --arch arm or --arch x86"),
    (["--arch", "arm"], "no compiler arguments"),
])
def test_pipsim_cc_refuses_what_it_cannot_build(built, args, message, capsys):
    assert cli.main(["cc", *args]) == 2
    assert message in capsys.readouterr().err


def test_pipsim_cc_refuses_a_size_it_cannot_read(capsys):
    with pytest.raises(SystemExit):
        cli.main(["cc", "--arch", "arm", "--stack", "lots", "x.c"])
    assert "'lots' is not a size" in capsys.readouterr().err


def test_the_flags_have_one_owner(built):
    """The Makefile's sdk.mk and the CMake toolchain files are what pipsim.kernel.sdk writes
    now; libpip.a holds no start file (the start files are separate objects)."""
    assert (FIRMWARE / "build" / "sdk.mk").read_text() == flags.make_variables()
    for arch in ARCHES:
        assert (FIRMWARE / "build" / "cmake" / f"pipsim-{arch}.cmake").read_text() == \
            cmake.toolchain(arch)
        ar = toolchain.programs(arch, toolchain.chosen())["ar"]
        members = subprocess.run([*ar, "t", str(FIRMWARE / "build" / arch / "lib" / "libpip.a")],
                                 capture_output=True, text=True, check=True).stdout.split()
        assert "mem.o" in members and "syscalls.o" in members and "start.o" not in members


def test_pipsim_run_child_needs_an_image_and_no_trace(capsys):
    assert cli.main(["run", "--child"]) == 2
    assert "--child needs an image" in capsys.readouterr().err
    assert cli.main(["run", "--child", "--trace", "-", str(WORDFREQ / "wordfreq.c")]) == 2
    assert "--trace is for a root image, not with --child" in capsys.readouterr().err


def test_where_the_sdk_is_and_an_sdk_not_built(tmp_path, monkeypatch, capsys):
    assert cli.main(["cc", "--print-sdk"]) == 0
    assert capsys.readouterr().out == f"{FIRMWARE}\n"
    monkeypatch.setenv("PIPSIM_SDK", str(tmp_path))
    assert cli.main(["cc", "--print-sdk"]) == 0
    assert capsys.readouterr().out == f"{tmp_path}\n"
    assert cli.main(["cc", "--arch", "x86", "x.c", "-o", "x.elf"]) == 2
    err = capsys.readouterr().err
    assert f"the SDK lacks {tmp_path}/build/x86/lib/crt0-root.o" in err and "make setup" in err
    assert cli.main(["cc", "--arch", "arm", "--print-toolchain"]) == 2
    assert "pipsim-arm.cmake is missing" in capsys.readouterr().err
