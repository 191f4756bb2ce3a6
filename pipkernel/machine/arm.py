"""ARMv7-A (ARM and Thumb-2 state), as pipcore's armv7 port: its engine and disassembler.
Its conventions (registers, kernel calls, status) are pipsim.kernel.abi.ARCHES["arm"]."""
from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc
from unicorn.arm_const import UC_CPU_ARM_CORTEX_A7

from ..abi import ARCHES

ABI = ARCHES["arm"]
NAME = ABI.name


def engine() -> Uc:
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_A7)      # before anything initialises the CPU
    uc.ctl_set_page_size(4096)                      # ARM's default TARGET_PAGE is 1 KiB
    return uc


def disassembler(pc: int):
    """A capstone instance for the state the pc's bit 0 names, and the address."""
    from capstone import CS_ARCH_ARM, CS_MODE_ARM, CS_MODE_THUMB, Cs   # only for reports
    return Cs(CS_ARCH_ARM, CS_MODE_THUMB if pc & 1 else CS_MODE_ARM), pc & ~1
