/* compute child: main(rounds, kib) fills a buffer of kib KiB (at most 64) with
 * buf[i] = (i * 31 + (i >> 8)) mod 256, then chains SHA-256 `rounds` times:
 * d_0 = 32 zero bytes, d_r = SHA-256(d_{r-1} || buf); prints d_rounds through the
 * console page its parent gave it (at PIP_CONSOLE_VA) and yields to the parent's
 * VIDT slot PIP_SERVICE_VECTOR. */
#include <pip/pip.h>
#include "sha256.h"

#define MAX_KIB 64u

static uint8_t buf[MAX_KIB * 1024];

int main(uint32_t rounds, uint32_t kib)
{
    if (kib > MAX_KIB)
        kib = MAX_KIB;
    uint32_t n = kib * 1024u;
    for (uint32_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 31u + (i >> 8));

    uint8_t digest[32] = {0};
    for (uint32_t r = 0; r < rounds; r++) {
        sha256_t s;
        sha256_init(&s);
        sha256_update(&s, digest, sizeof digest);
        sha256_update(&s, buf, n);
        sha256_final(&s, digest);
    }

    pip_puts("compute: sha256 = ");
    for (int i = 0; i < 32; i++) {
        pip_putc("0123456789abcdef"[digest[i] >> 4]);
        pip_putc("0123456789abcdef"[digest[i] & 15]);
    }
    pip_putc('\n');

    /* Back to the parent's done handler; the caller's context is not saved. */
    uint32_t code = Pip_Yield(0, PIP_SERVICE_VECTOR, PIP_SLOT_NONE, 0, 0);
    pip_puts("compute: yield to the parent failed, code ");
    pip_putdec(code);
    pip_putc('\n');
    for (;;)
        ;
}
