"""Partitions never leave user mode (docs/abi.md "Privilege"), whatever a context says."""
import pathlib

import pytest
import unicorn.arm_const as A
import unicorn.x86_const as X

from pipsim.kernel.abi import CONSOLE_VA, CTX_PC, CTX_STATUS, PAGE_SIZE, ROOT_IMAGE_BASE, SYSTEM_VA
from pipsim.kernel.cli import main
from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.devices import Registers

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"

ARM_STATUS = [mode | extra for mode in range(32) for extra in (0, 0x010001C0, 0xFFFFFFE0)]
X86_STATUS = [0xFFFFFFFF, 0x3202, 0x20202, 0x4202, 0x0302, 0x40202, 0x0002, 0x0ED7]


def load_context(machine, pc, status):
    words = list(machine.kernel.cpu_context)
    words[CTX_PC], words[CTX_STATUS] = pc, status
    machine.kernel.cpu_context = words
    machine.start_at(pc)


@pytest.mark.parametrize("status", ARM_STATUS)
def test_arm_a_forged_cpsr_loads_as_user_mode(status):
    m = Machine("arm", pages=256)
    load_context(m, ROOT_IMAGE_BASE | 1, status)       # used to abort the process (SIGABRT)
    cpsr = m.register(A.UC_ARM_REG_CPSR)
    assert cpsr & 0x1F == 0x10 and cpsr & 0x010001C0 == 0       # USR, no J A I F
    assert cpsr & 0x20                                          # Thumb from the pc's bit 0
    assert cpsr & 0xF8000000 == status & 0xF8000000             # the flags are the context's
    assert m.kernel.cpu_context[CTX_STATUS] == cpsr


@pytest.mark.parametrize("status", X86_STATUS)
def test_x86_a_forged_eflags_loads_at_cpl3_iopl0(status):
    m = Machine("x86", pages=256)
    load_context(m, ROOT_IMAGE_BASE, status)
    eflags = m.register(X.UC_X86_REG_EFLAGS)
    assert eflags & 0x3000 == 0 and eflags & 0x20000 == 0       # IOPL 0, no VM86
    assert eflags & 0x4100 == 0 and eflags & 0x200              # no NT, no TF; IF set
    assert eflags & 0x8D5 == status & 0x8D5                      # arithmetic flags kept
    assert m.register(X.UC_X86_REG_CS) & 3 == 3 and m.register(X.UC_X86_REG_SS) & 3 == 3


PRIVILEGED = {   # a privileged instruction and the vector it must raise in user mode
    "arm": (bytes.fromhex("100f11ee"), 6),                     # mrc p15, 0, r0, c1, c0, 0
    "x86": (bytes.fromhex("0f20c0"), 13),                      # mov %cr0, %eax
}


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_privileged_instruction_faults(arch):
    """(attacker.elf's attempts 24-26 check the same in a child, three in a row.)"""
    code, vector = PRIVILEGED[arch]
    m = Machine(arch, pages=256)
    m.write_root_image(ROOT_IMAGE_BASE, code)
    m.start_at(ROOT_IMAGE_BASE)
    result = m.run(max_instructions=1000)
    assert result.stop == "panic" and result.fault["vector"] == vector     # a root fault


@pytest.mark.parametrize("policy", ["pip", "hardened"])
def test_the_machine_marks_its_device_pages_for_the_kernel(policy):
    m = Machine("arm", pages=256, devices=[Registers("lamp")], policy=policy)
    k = m.kernel
    maps = k.mappings(k.root)
    assert k.policy == policy
    assert k.device_pages() == {maps[va].pa // PAGE_SIZE
                                for va in (CONSOLE_VA, SYSTEM_VA, m.device_va("lamp"))}


def test_the_command_line_takes_a_policy(capsys):
    assert main(["run", str(BUILD / "x86" / "hello.elf"), "--policy", "hardened"]) == 0
    assert "Hello World" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--policy", "strict"])
    assert "invalid choice: 'strict'" in capsys.readouterr().err
