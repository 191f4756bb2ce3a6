/* Prime counting by the sieve of Eratosthenes over odd numbers, one bit each (long
 * inner loops of strided stores).  Known answers (OEIS A006880): pi(10^5) = 9592,
 * pi(10^6) = 78498.  Each rep sieves to 10^6 and counts both. */
#include "program.h"

const uint32_t program_default_reps = 45;

#define LIMIT 1000000u
#define ODDS (LIMIT / 2)                     /* bit i stands for 2i + 1 */

static uint32_t composite[(ODDS + 31) / 32];

static uint32_t count_to(uint32_t n)          /* pi(n), n even */
{
    uint32_t count = 1;                      /* 2 */
    for (uint32_t i = 1; i < n / 2; i++)
        if (!(composite[i >> 5] >> (i & 31) & 1))
            count++;
    return count;
}

uint32_t program_run(uint32_t reps)
{
    for (uint32_t r = 0; r < reps; r++) {
        bp_fill(composite, 0, sizeof composite);
        for (uint32_t i = 1; (2 * i + 1) * (2 * i + 1) < LIMIT; i++) {
            if (composite[i >> 5] >> (i & 31) & 1)
                continue;
            uint32_t p = 2 * i + 1;
            for (uint32_t j = (p * p) / 2; j < ODDS; j += p)
                composite[j >> 5] |= 1u << (j & 31);
        }
        if (count_to(100000) != 9592)
            return 1;
        if (count_to(LIMIT) != 78498)
            return 2;
    }
    return 0;
}
