"""The firmware images build for ARM and x86 and have the layout docs/abi.md asks for.

`make -C firmware` runs once per session (it does nothing when the images are up to
date). Without the ARM toolchain these tests fail, on purpose: run
firmware/setup-toolchain.sh (the top-level `make setup` does).
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from elftools.elf.constants import P_FLAGS

from pipsim.kernel import abi, abi_headers, elf
from pipsim.kernel.sdk import toolchain
from pipsim.kernel.sdk.layout import SdkError

FIRMWARE = pathlib.Path(__file__).resolve().parents[2] / "firmware"
PAGE = abi.PAGE_SIZE
CHILD_BASE = 0x1000
KERNEL_SLOT = (0x400000, 0x800000)      # top-level index 1 (docs/kernel.md §1)

# name: (kind, arches, ARM instruction set, embedded children)
IMAGES = {
    "hello": ("root", ("arm", "x86"), "thumb", ()),
    "hello_a32": ("root", ("arm",), "arm", ()),
    "sched_a": ("child", ("arm", "x86"), "thumb", ()),
    "sched_b": ("child", ("arm", "x86"), "arm", ()),
    "scheduler": ("root", ("arm", "x86"), "thumb", ("sched_a", "sched_b")),
    "attack_victim": ("child", ("arm", "x86"), "thumb", ()),
    "attack_evil": ("child", ("arm", "x86"), "thumb", ()),
    "attacker": ("root", ("arm", "x86"), "thumb", ("attack_victim", "attack_evil")),
    "compute_child": ("child", ("arm", "x86"), "thumb", ()),
    "compute": ("root", ("arm", "x86"), "thumb", ("compute_child",)),
    "compute_small": ("root", ("arm", "x86"), "thumb", ("compute_child",)),
    "temp_driver": ("child", ("arm", "x86"), "thumb", ()),
    "temp_driver_v2": ("child", ("arm", "x86"), "thumb", ()),
    "lamp_driver": ("child", ("arm", "x86"), "thumb", ()),
    "store_app": ("child", ("arm", "x86"), "thumb", ()),
    "devirq": ("root", ("arm", "x86"), "thumb", ()),
    "exit_child": ("child", ("arm", "x86"), "thumb", ()),
    "exit": ("root", ("arm", "x86"), "thumb", ("exit_child",)),
}
CASES = [(arch, name) for name, (_, arches, _, _) in IMAGES.items() for arch in arches]


@pytest.fixture(scope="session")
def built():
    try:
        toolchain.chosen()          # GCC, or zig's clang (docs/sdk.md "Toolchains")
    except SdkError as error:
        pytest.fail(str(error), pytrace=False)
    run = subprocess.run(["make", "-C", str(FIRMWARE), f"PY={sys.executable}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.fail(f"make -C firmware failed:\n{run.stdout}\n{run.stderr}", pytrace=False)
    return FIRMWARE / "build"


class Image:
    """A built image as the machine reads it (pipsim.kernel.elf), its segments as tuples."""

    def __init__(self, path: pathlib.Path):
        image = elf.read(path)
        self.path, self.e_machine, self.entry = path, image.e_machine, image.entry
        self.symbols = dict(image.symbols)
        self.loads = [(s.va, s.size, s.flags) for s in image.segments]

    def segment_of(self, va: int):
        for vaddr, memsz, flags in self.loads:
            if vaddr <= va < vaddr + memsz:
                return flags
        return None


def pages(vaddr: int, memsz: int) -> set[int]:
    return set(range(vaddr // PAGE, (vaddr + memsz + PAGE - 1) // PAGE))


@pytest.mark.parametrize("arch,name", CASES)
def test_segments_are_wx_separate(built, arch, name):
    img = Image(built / arch / f"{name}.elf")
    assert img.e_machine == {"arm": "EM_ARM", "x86": "EM_386"}[arch]
    assert len(img.loads) in (2, 3), img.loads     # code, data (if it has any), stack
    seen: set[int] = set()
    for vaddr, memsz, flags in img.loads:
        assert vaddr % PAGE == 0, f"segment at {vaddr:#x} is not page-aligned"
        assert flags & P_FLAGS.PF_R
        assert not (flags & P_FLAGS.PF_W and flags & P_FLAGS.PF_X), "a W+X segment"
        span = pages(vaddr, memsz)
        assert not span & seen, "two segments share a page"
        seen |= span
    code, *data, stack = img.loads
    assert code[2] == P_FLAGS.PF_R | P_FLAGS.PF_X
    assert all(d[2] == P_FLAGS.PF_R | P_FLAGS.PF_W for d in data)
    assert stack[2] == P_FLAGS.PF_R | P_FLAGS.PF_W


@pytest.mark.parametrize("arch,name", CASES)
def test_the_stack_has_pages_of_its_own_above_a_guard_page(built, arch, name):
    """ld/image.ld: the stack segment starts one page above the data segment's last page
    (the code's, for an image without data), a page no segment covers (loaders leave it
    unmapped: an overflow faults there)."""
    img = Image(built / arch / f"{name}.elf")
    (below_va, below_size, _), (stack_va, stack_size, _) = img.loads[-2:]
    guard = img.symbols["__stack_guard"]
    assert guard == -(-(below_va + below_size) // PAGE) * PAGE and stack_va == guard + PAGE
    assert img.segment_of(guard) is None and img.segment_of(guard + PAGE - 1) is None
    assert (img.symbols["__stack_bottom"], img.symbols["__stack_top"]) == \
        (stack_va, stack_va + stack_size)
    assert stack_size == {"root": 0x4000, "child": 0x2000}[IMAGES[name][0]]


@pytest.mark.parametrize("arch,name", CASES)
def test_link_address_stack_and_entry(built, arch, name):
    kind, _, state, _ = IMAGES[name]
    img = Image(built / arch / f"{name}.elf")
    low = min(v for v, _, _ in img.loads)
    high = max(v + m for v, m, _ in img.loads)
    if kind == "root":
        assert low >= abi.ROOT_IMAGE_BASE, f"root image linked at {low:#x}"
        assert low == abi.ROOT_IMAGE_BASE
    else:
        assert low == CHILD_BASE
        assert high <= KERNEL_SLOT[0], "a child image reaches the kernel slot"
    top = img.symbols.get("__stack_top")
    assert top is not None, "__stack_top is not defined"
    assert top % 16 == 0
    assert img.segment_of(top - 4) == P_FLAGS.PF_R | P_FLAGS.PF_W, "stack not in R W data"
    assert img.segment_of(img.entry & ~1) == P_FLAGS.PF_R | P_FLAGS.PF_X
    assert img.entry & ~1 == img.symbols["_start"] & ~1
    if arch == "arm":
        assert img.entry & 1 == (state == "thumb"), "entry state (bit 0 = Thumb)"


@pytest.mark.parametrize("arch,name", [(a, n) for a, n in CASES if IMAGES[n][3]])
def test_embedded_children_are_whole_pages(built, arch, name):
    """Each child segment stored in the root sits on pages of its own, in a root segment
    with the child segment's rights, so the root can give exactly those pages."""
    root = Image(built / arch / f"{name}.elf")
    for child_name in IMAGES[name][3]:
        child = Image(built / arch / f"{child_name}.elf")
        assert f"{child_name}_image" in root.symbols
        for i, (vaddr, memsz, flags) in enumerate(child.loads):
            label = f"{child_name}_seg{i}"
            if label not in root.symbols:
                continue        # nothing stored: .bss and stack only
            at = root.symbols[label]
            assert at % PAGE == 0, f"{label} at {at:#x} is not page-aligned"
            rights = root.segment_of(at)
            assert rights is not None
            assert bool(rights & P_FLAGS.PF_W) == bool(flags & P_FLAGS.PF_W), label


def test_abi_header_matches_pipkernel(built):
    header = FIRMWARE / "include" / "pip" / "abi.h"
    assert header.read_text() == abi_headers.firmware_header()
