/* The interface of a benchmark program (bench/README.md "Real programs"): freestanding C,
 * no libc and no libpip, so the same source builds for every harness (harness/: the pipsim
 * root and child, and a static Linux executable for QEMU user mode) and for both
 * architectures.  A program does a fixed, deterministic task `reps` times and checks its
 * own results against known answers. */
#ifndef BENCH_PROGRAM_H
#define BENCH_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

/* Do the task reps times; 0 if every result was right, else a failure code (the check
 * that failed, program-specific, never 0). */
uint32_t program_run(uint32_t reps);

/* The reps of one benchmark run (~0.5 s in the engine); a harness given 0 uses it. */
extern const uint32_t program_default_reps;

/* Small helpers, named apart from libc's (the SDK may link a C library). */
static inline void bp_copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
}

static inline void bp_fill(void *dst, uint8_t value, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = value;
}

static inline int bp_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

/* xorshift32 (Marsaglia, "Xorshift RNGs", J. Stat. Softw. 8(14), 2003): deterministic input. */
static inline uint32_t bp_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

#endif
