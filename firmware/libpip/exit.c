/* How an image ends (system.h). The start file (crt0-*.o) says which kind it is. */
#include <pip/abi.h>
#include <pip/call.h>
#include <pip/system.h>

extern const uint32_t pip_image_kind;   /* 0 root, 1 child (libpip/<arch>/start.S) */

void pip_exit(int code)
{
    if (pip_image_kind == 0)
        pip_halt((uint32_t)code);
    /* A parent that yields to the exited child again is told again. */
    for (;;)
        PIP_SOFTINT4(PIP_CHILD_EXIT_VECTOR, (uint32_t)code, PIP_CHILD_EXIT_MAGIC, 0, 0);
}
