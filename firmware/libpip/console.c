/* Console output (docs/abi.md "Memory map": console page, +0 TX, +4 status). */
#include <pip/abi.h>
#include <pip/console.h>

#define CONSOLE_REG(off) (*(volatile uint32_t *)(PIP_CONSOLE_VA + (off)))

void pip_putc(char c)
{
    while (!(CONSOLE_REG(PIP_CONSOLE_STATUS) & 1u))
        ;                                   /* bit 0: ready to send */
    CONSOLE_REG(PIP_CONSOLE_TX) = (uint8_t)c;
}

void pip_puts(const char *s)
{
    while (*s)
        pip_putc(*s++);
}

void pip_puthex(uint32_t v)
{
    pip_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        pip_putc("0123456789abcdef"[(v >> shift) & 0xFu]);
}

void pip_putdec(uint32_t v)
{
    char buf[11];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (i)
        pip_putc(buf[--i]);
}
