"""x86 32-bit protected mode, flat segments (as Unicorn sets them up): its engine and
disassembler.  Its conventions (registers, kernel calls, status) are
pipsim.kernel.abi.ARCHES["x86"]."""
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc

from ..abi import ARCHES

ABI = ARCHES["x86"]
NAME = ABI.name


def engine() -> Uc:
    return Uc(UC_ARCH_X86, UC_MODE_32)


def disassembler(pc: int):
    """A capstone instance for 32-bit x86, and the address."""
    from capstone import CS_ARCH_X86, CS_MODE_32, Cs   # only for reports
    return Cs(CS_ARCH_X86, CS_MODE_32), pc
