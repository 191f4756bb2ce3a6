/* Console output through the console page (docs/abi.md "Memory map": +0 TX, +4 status
 * bit 0 = ready to send). The root has it at PIP_CONSOLE_VA; a child can use these
 * functions only if its parent mapped the console page at the same VA in it. */
#ifndef PIP_CONSOLE_H
#define PIP_CONSOLE_H

#include <stdint.h>

void pip_putc(char c);
void pip_puts(const char *s);
void pip_puthex(uint32_t v);     /* "0x" and 8 lowercase hex digits */
void pip_putdec(uint32_t v);     /* unsigned decimal */

#endif
