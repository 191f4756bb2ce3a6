/* A benchmark program as a child partition: main(reps) (0: the default) runs it, then
 * hands its result to the parent in a software interrupt PIP_SERVICE_VECTOR with
 * a0 = result, a1 = ~result (so a stop for another reason cannot pass for a result).
 * Bare Unicorn runs this same image: the interrupt ends its emulation. */
#include <pip/pip.h>
#include "../program.h"

int main(uint32_t reps)
{
    uint32_t result = program_run(reps ? reps : program_default_reps);
    PIP_SOFTINT4(PIP_SERVICE_VECTOR, result, ~result, 0, 0);
    for (;;)
        ;
}
