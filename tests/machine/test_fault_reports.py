"""Fault reports (docs/debugging.md "Fault reports"): the exact address of a refused load or
store (the engine's fill hook sees only the page: machine.c exact_address), the access kind,
the faulting partition and pc, its registers and the code around pc; in the trace too."""
import pathlib
import struct

import pytest

from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.report import fault_report
from pipsim.kernel.machine.trace import describe

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
BASE, OFFSET = 0x03000124, 0x10        # the root maps nothing at 0x03000000
ADDRESS = BASE + OFFSET

# base register := BASE, then one access at [base + OFFSET], then a nop
CODE = {
    "arm": {"write": struct.pack("<4I", 0xE3003124, 0xE3403300, 0xE5832010, 0xE1A00000),
            "read": struct.pack("<4I", 0xE3003124, 0xE3403300, 0xE5932010, 0xE1A00000)},
    "x86": {"write": bytes.fromhex("bb24010003" "894310" "90"),
            "read": bytes.fromhex("bb24010003" "8b4310" "90")},
}
ACCESS_AT = {"arm": 8, "x86": 5}       # the access instruction's offset
TEXT = {("arm", "write"): "str r2, [r3, #0x10]", ("arm", "read"): "ldr r2, [r3, #0x10]",
        ("x86", "write"): "mov dword ptr [ebx + 0x10], eax",
        ("x86", "read"): "mov eax, dword ptr [ebx + 0x10]"}
BASE_REGISTER = {"arm": "r3", "x86": "ebx"}


def faulting(arch: str, access: str):
    machine = Machine(arch)
    image = machine.load(str(BUILD / arch / "hello.elf"))
    entry = image.entry & ~1                   # ARM state: the code above is A32
    machine.write_root_image(entry, CODE[arch][access])
    machine.tracing = True
    machine.start_at(entry)
    return machine, machine.run(max_instructions=1000), entry


@pytest.mark.parametrize("arch", ["arm", "x86"])
@pytest.mark.parametrize("access", ["read", "write"])
def test_a_refused_access_is_reported_at_its_exact_address(arch, access):
    machine, result, entry = faulting(arch, access)
    fault = result.fault
    assert result.stop == "panic"
    assert (fault["address"], fault["access"]) == (ADDRESS, {"read": 1, "write": 2}[access])
    assert fault["pc"] == entry + ACCESS_AT[arch] and fault["partition"] == 1
    report = fault_report(machine, fault, panic=True, names={1: "root"}, detail=True)
    lines = report.splitlines()
    assert lines[0] == (f"KERNEL PANIC: page fault in partition root (pd 1) at pc "
                        f"{entry + ACCESS_AT[arch]:#010x}: {TEXT[arch, access]}")
    assert lines[1] == f"  {access} access to {ADDRESS:#010x} refused by the partition's page tables"
    assert f"{BASE_REGISTER[arch]} {BASE:#010x}" in report             # the register dump
    marked = [line for line in lines if line.startswith("  =>")]
    assert marked == [f"  => {entry + ACCESS_AT[arch]:#010x}  {TEXT[arch, access]}"]
    listed = lines[lines.index("  code:") + 1:]
    assert len(listed) >= 3 and listed.index(marked[0]) >= 1               # its neighbours
    fault_event = [describe(e) for e in machine.take_trace() if e.kind == 3]
    assert [(e["pd"], e["address"], e["access"], e["to"], e.get("outcome"))
            for e in fault_event] == [(1, ADDRESS, access, None, "panic")]


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_refused_fetch_is_reported_at_the_pc(arch):
    machine = Machine(arch)
    image = machine.load(str(BUILD / arch / "hello.elf"))
    data = next(va for va, size, flags in image.segments if "w" in flags) + 0x24
    machine.start_at(data | (1 if arch == "arm" else 0))
    result = machine.run(max_instructions=1000)
    assert (result.fault["address"], result.fault["access"]) == (data, 3)


def test_a_store_after_a_read_of_the_same_page_is_reported_at_the_store():
    """x86 movsd from one place of the root's code page to another: the read is allowed, the
    store refused (code is R X); the address is the store's, not the read's."""
    machine = Machine("x86")
    image = machine.load(str(BUILD / "x86" / "hello.elf"))
    entry = image.entry
    code = (b"\xbe" + struct.pack("<I", entry + 0x40) + b"\xbf" + struct.pack("<I", entry + 0x80)
            + b"\xa5")                                   # mov esi; mov edi; movsd
    machine.write_root_image(entry, code)
    machine.start_at(entry)
    result = machine.run(max_instructions=1000)
    assert result.stop == "panic"
    assert (result.fault["address"], result.fault["access"]) == (entry + 0x80, 2)
    assert result.fault["pc"] == entry + 10
