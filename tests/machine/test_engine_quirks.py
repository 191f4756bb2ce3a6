"""Bugs of the engine the machine works around (docs/abi.md "The engine's own bugs")."""
import pytest
import unicorn.arm_const as A

from pipsim.kernel.abi import PAGE_SIZE, ROOT_IMAGE_BASE, RUN_MODES
from pipsim.kernel.machine import Machine

# Thumb-2 at ROOT_IMAGE_BASE (arm-none-eabi-as):
#   0: movs r0, #0 / movs r3, #0 / movs r4, #0
#   6: ldr r2, =ROOT_IMAGE_BASE + PAGE_SIZE      @ a page no access has filled yet
#   8: ldr r5, =target | 1
#   a: cmp r0, #0                                @ Z = 1
#   c: itt eq
#   e: ldreq r1, [r2]                            @ a TLB miss inside the IT block
#  10: addeq r3, r3, #1
#  12: cmp r0, #1                                @ Z = 0
#  14: bx r5                                     @ the next block, looked up
#  18: target: movs r4, #7                       @ unconditional
#  1a: bkpt #0                                   @ ends the run (a root fault)
IT_MISS = bytes.fromhex("002000230024054a054d002804bf1168013301282847c046072400be"
                        "0030800019208000")


@pytest.mark.parametrize("mode", RUN_MODES)
def test_a_tlb_miss_inside_an_it_block_leaves_no_it_state_behind(mode):
    """Unicorn's TLB fill restores the accessing instruction's IT state into the CPSR and
    lets the block go on; the lookup after `bx` then translated `movs r4, #7` as the
    rest of that IT block (condition eq, false): skipped, r4 stayed 0.  A preempted
    dijkstra failed its own check so."""
    m = Machine("arm", pages=256, mode=mode)
    m.write_root_image(ROOT_IMAGE_BASE, IT_MISS)
    m.write_root_image(ROOT_IMAGE_BASE + PAGE_SIZE, (42).to_bytes(4, "little"))
    m.start_at(ROOT_IMAGE_BASE | 1)
    result = m.run(max_seconds=10) if mode == "fast" else m.run(max_instructions=1000)
    assert result.stop == "panic" and result.fault["pc"] == ROOT_IMAGE_BASE + 0x1B
    assert [m.register(r) for r in (A.UC_ARM_REG_R1, A.UC_ARM_REG_R3, A.UC_ARM_REG_R4)] == \
        [42, 1, 7]
    assert m.register(A.UC_ARM_REG_CPSR) & 0x0600FC00 == 0      # no IT state left
