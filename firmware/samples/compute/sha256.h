/* SHA-256 (FIPS 180-4), streaming. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t length;        /* bytes hashed so far */
    uint8_t block[64];
    uint32_t used;          /* bytes in block */
} sha256_t;

void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const uint8_t *data, size_t n);
void sha256_final(sha256_t *s, uint8_t digest[32]);

#endif
