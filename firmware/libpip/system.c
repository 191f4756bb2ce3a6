/* The system page (docs/abi.md "Memory map"): timer period, halt, block counter. */
#include <pip/abi.h>
#include <pip/system.h>

#define SYSTEM_REG(off) (*(volatile uint32_t *)(PIP_SYSTEM_VA + (off)))

void pip_halt(uint32_t code)
{
    SYSTEM_REG(PIP_SYSTEM_HALT) = code;     /* the machine stops here */
    for (;;)
        ;
}

void pip_set_timer(uint32_t period_blocks)
{
    SYSTEM_REG(PIP_SYSTEM_TIMER_PERIOD) = period_blocks;
}

uint32_t pip_blocks(void)
{
    return SYSTEM_REG(PIP_SYSTEM_BLOCKS);
}
