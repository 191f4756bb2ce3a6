"""Unicorn alone running a firmware image, the engine without the machine: the image's
segments at their own addresses, entered at the ELF entry with the stack at __stack_top
and a0..a3 in the registers a start file passes to main, until the image's first kernel
call or software interrupt (unhandled here, it ends emulation).  Two ways:

* bare: one RWX map, no hooks;
* W^X virtual TLB: UC_TLB_VIRTUAL with a TLB-fill hook (Python: fills are rare) giving
  each page its segment's rights, identity-mapped, no other hook.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from unicorn import (UC_ERR_EXCEPTION, UC_ERR_FETCH_UNMAPPED, UC_HOOK_TLB_FILL, UC_PROT_ALL,
                     UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, UC_TLB_VIRTUAL, UcError)
from unicorn import arm_const, x86_const

from pipsim.kernel import elf
from pipsim.kernel.abi import CONSOLE_STATUS, CONSOLE_VA, PAGE_SIZE
from pipsim.kernel.machine import ARCHES

# the registers of main's a0..a3 and the stack pointer (libpip's start files)
ARGS = {"arm": [arm_const.UC_ARM_REG_R0, arm_const.UC_ARM_REG_R1, arm_const.UC_ARM_REG_R2,
                arm_const.UC_ARM_REG_R3],
        "x86": [x86_const.UC_X86_REG_EAX, x86_const.UC_X86_REG_ECX, x86_const.UC_X86_REG_EDX,
                x86_const.UC_X86_REG_EBX]}
SP = {"arm": arm_const.UC_ARM_REG_SP, "x86": x86_const.UC_X86_REG_ESP}


@dataclass
class Run:
    seconds: float
    regs: list[int]         # a0..a3 at the stop (a software interrupt's arguments)
    tlb_fills: int          # 0 for bare


def run(arch: str, path, args=(), virtual: bool = False, console: bool = False) -> Run:
    """Run the image at path from its entry to its first kernel call; time only that.
    console: map the console page too, always ready (for images that print)."""
    uc = ARCHES[arch].engine()
    uc.ctl_exits_enabled(True)           # run until something stops it (no `until` address)
    uc.ctl_set_exits([])
    image = elf.read(path, arch)
    low = min(s.va for s in image.segments) & ~(PAGE_SIZE - 1)
    high = max(s.end for s in image.segments)
    uc.mem_map(low, (high - low + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), UC_PROT_ALL)
    for s in image.segments:
        uc.mem_write(s.va, s.data)
    rights = {}
    for s in image.segments:
        prot = (UC_PROT_READ | (UC_PROT_WRITE if "w" in s.rights else 0)
                | (UC_PROT_EXEC if "x" in s.rights else 0))
        for page in range(s.va & ~(PAGE_SIZE - 1), s.end, PAGE_SIZE):
            rights[page] = prot
    if console:
        uc.mem_map(CONSOLE_VA, PAGE_SIZE, UC_PROT_ALL)
        uc.mem_write(CONSOLE_VA + CONSOLE_STATUS, (1).to_bytes(4, "little"))
        rights[CONSOLE_VA] = UC_PROT_READ | UC_PROT_WRITE
    fills = 0
    if virtual:
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

        def fill(uc, vaddr, access, entry, data):
            nonlocal fills
            fills += 1
            if vaddr not in rights:
                return False
            entry.paddr, entry.perms = vaddr, rights[vaddr]
            return True
        uc.hook_add(UC_HOOK_TLB_FILL, fill)
    uc.reg_write(SP[arch], image.stack_top)
    for reg, value in zip(ARGS[arch], args):
        uc.reg_write(reg, value)
    start = time.perf_counter()
    try:
        uc.emu_start(image.entry, 0)
    except UcError as error:
        # the kernel call ends it: ARM's svc and x86's int raise an exception, x86's
        # sysenter jumps to the (unset) SYSENTER_EIP MSR, address 0
        if error.errno not in (UC_ERR_EXCEPTION, UC_ERR_FETCH_UNMAPPED):
            raise
    seconds = time.perf_counter() - start
    return Run(seconds, [uc.reg_read(r) for r in ARGS[arch]], fills)
