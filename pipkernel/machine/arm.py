"""ARMv7-A (ARM and Thumb-2 state), as pipcore's armv7 port."""
from elftools.elf.enums import ENUM_E_MACHINE
from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc
from unicorn.arm_const import UC_CPU_ARM_CORTEX_A7

NAME = "arm"
ELF_MACHINE = "EM_ARM"
assert ELF_MACHINE in ENUM_E_MACHINE
USER_MODE = 0x10            # CPSR mode bits: user
THUMB = 0x20
REGISTERS = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc"]


def engine() -> Uc:
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_A7)      # before anything initialises the CPU
    uc.ctl_set_page_size(4096)                      # ARM's default TARGET_PAGE is 1 KiB
    return uc


def initial_context(entry: int, stack_top: int) -> dict:
    status = USER_MODE | (THUMB if entry & 1 else 0)
    return {"pc": entry, "status": status, "regs": {13: stack_top}}


def disassembler(pc: int):
    """A capstone instance for the state the pc's bit 0 names, and the address."""
    from capstone import CS_ARCH_ARM, CS_MODE_ARM, CS_MODE_THUMB, Cs   # only for reports
    return Cs(CS_ARCH_ARM, CS_MODE_THUMB if pc & 1 else CS_MODE_ARM), pc & ~1
