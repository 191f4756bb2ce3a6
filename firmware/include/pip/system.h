/* The system page (docs/abi.md "Memory map"): +0 timer period in basic blocks (0 = off),
 * +4 halt with an exit code, +8 blocks executed. The root has it at PIP_SYSTEM_VA. */
#ifndef PIP_SYSTEM_H
#define PIP_SYSTEM_H

#include <stdint.h>

__attribute__((noreturn)) void pip_halt(uint32_t code);
void pip_set_timer(uint32_t period_blocks);
uint32_t pip_blocks(void);

/* The end of an image (main returned, exit, _exit; docs/sdk.md): the root halts the
 * machine with code; a child raises PIP_CHILD_EXIT_VECTOR to its parent with r0 / eax =
 * code and r1 / ecx = PIP_CHILD_EXIT_MAGIC (spawn.h: Pip_ChildExitCode), again each
 * time it is resumed. */
__attribute__((noreturn)) void pip_exit(int code);

#endif
