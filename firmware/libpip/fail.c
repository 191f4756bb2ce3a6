/* Report a failed step on the console and halt with 1 (roots only: needs the console
 * and system pages). */
#include <pip/console.h>
#include <pip/fail.h>
#include <pip/system.h>

void pip_fail(const char *what, uint32_t code)
{
    pip_puts("FAIL: ");
    pip_puts(what);
    pip_puts(" (");
    pip_putdec(code);
    pip_puts(")\n");
    pip_halt(1);
}
