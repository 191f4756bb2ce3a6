/* The system page (docs/abi.md "Memory map"): +0 timer period in basic blocks (0 = off),
 * +4 halt with an exit code, +8 blocks executed. The root has it at PIP_SYSTEM_VA. */
#ifndef PIP_SYSTEM_H
#define PIP_SYSTEM_H

#include <stdint.h>

__attribute__((noreturn)) void pip_halt(uint32_t code);
void pip_set_timer(uint32_t period_blocks);
uint32_t pip_blocks(void);

#endif
