/* Heapsort (J. W. J. Williams, CACM 7(6), 1964, with Floyd's bottom-up heap
 * construction) of 16384 pseudo-random words: branchy compares and swaps.  Checked:
 * the result is in order and is a permutation of the input (the count, sum, xor and
 * sum of squares of the elements are kept). */
#include "program.h"

const uint32_t program_default_reps = 65;

#define N 16384u

static uint32_t v[N];

static void sift_down(uint32_t *x, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && x[child] < x[child + 1])
            child++;
        if (x[root] >= x[child])
            return;
        uint32_t t = x[root];
        x[root] = x[child];
        x[child] = t;
        root = child;
    }
}

static void heapsort(uint32_t *x, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(x, i, n);
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = x[0];
        x[0] = x[end];
        x[end] = t;
        sift_down(x, 0, end);
    }
}

struct digest {
    uint32_t sum, xor, squares;
};

static struct digest digest(const uint32_t *x, uint32_t n)
{
    struct digest d = {0, 0, 0};
    for (uint32_t i = 0; i < n; i++) {
        d.sum += x[i];
        d.xor ^= x[i];
        d.squares += x[i] * x[i];
    }
    return d;
}

uint32_t program_run(uint32_t reps)
{
    uint32_t seed = 0x2545F491u;
    for (uint32_t r = 0; r < reps; r++) {
        for (uint32_t i = 0; i < N; i++)
            v[i] = r % 3 ? bp_rand(&seed) % 1000u : bp_rand(&seed);   /* two reps in three: ties */
        struct digest before = digest(v, N);
        heapsort(v, N);
        for (uint32_t i = 1; i < N; i++)
            if (v[i - 1] > v[i])
                return 1;
        struct digest after = digest(v, N);
        if (before.sum != after.sum || before.xor != after.xor || before.squares != after.squares)
            return 2;
    }
    return 0;
}
