"""x86 32-bit protected mode, flat segments (as Unicorn sets them up)."""
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc

NAME = "x86"
ELF_MACHINE = "EM_386"
EFLAGS = 0x202              # IF set, reserved bit 1
REGISTERS = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]


def engine() -> Uc:
    return Uc(UC_ARCH_X86, UC_MODE_32)


def initial_context(entry: int, stack_top: int) -> dict:
    return {"pc": entry, "status": EFLAGS, "regs": {4: stack_top}}


def disassembler(pc: int):
    """A capstone instance for 32-bit x86, and the address."""
    from capstone import CS_ARCH_X86, CS_MODE_32, Cs   # only for reports
    return Cs(CS_ARCH_X86, CS_MODE_32), pc
