/* A benchmark program as the root partition: main runs it and returns its result, which
 * libpip's start file halts the machine with (0: its checks passed). */
#include <pip/pip.h>
#include "../program.h"

/* a runner patches it, so it is kept in .data (the start file clears .bss); 0: the default */
__attribute__((section(".data"))) volatile uint32_t bench_reps = 0;

int main(void)
{
    uint32_t reps = bench_reps;
    return (int)program_run(reps ? reps : program_default_reps);
}
