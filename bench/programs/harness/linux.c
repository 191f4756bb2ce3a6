/* A benchmark program as a static Linux executable, for QEMU user mode: `prog N` runs
 * it with N reps (0: the default) and exits with its result (0: passed; 255 for codes
 * above 254); without an argument it exits at once, which times the start-up alone. */
#include "../program.h"

uint32_t linux_main(const uint32_t *sp);

uint32_t linux_main(const uint32_t *sp)     /* sp: the initial stack (argc, argv...) */
{
    if (sp[0] < 2)
        return 0;
    const char *arg = (const char *)sp[2];
    uint32_t reps = 0;
    for (; *arg >= '0' && *arg <= '9'; arg++)
        reps = reps * 10 + (uint32_t)(*arg - '0');
    uint32_t result = program_run(reps ? reps : program_default_reps);
    return result < 255 ? result : 255;
}
