/* Integer matrix multiply, C = A B of 64 x 64 matrices of 32-bit words (modulo 2^32):
 * long blocks of loads and multiply-adds.  Checked by Freivalds' method (R. Freivalds,
 * 1977): C x = A (B x) for pseudo-random vectors x, exact in the ring of integers modulo
 * 2^32, and on a known product: [[1,2],[3,4]] [[5,6],[7,8]] = [[19,22],[43,50]]. */
#include "program.h"

const uint32_t program_default_reps = 220;

#define N 64

static uint32_t a[N][N], b[N][N], c[N][N];

static void multiply(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            uint32_t sum = 0;
            for (unsigned k = 0; k < n; k++)
                sum += a[i][k] * b[k][j];
            c[i][j] = sum;
        }
}

static int freivalds(uint32_t *seed)
{
    uint32_t x[N], bx[N], abx, cx;
    for (unsigned i = 0; i < N; i++)
        x[i] = bp_rand(seed);
    for (unsigned i = 0; i < N; i++) {
        bx[i] = 0;
        for (unsigned k = 0; k < N; k++)
            bx[i] += b[i][k] * x[k];
    }
    for (unsigned i = 0; i < N; i++) {
        abx = cx = 0;
        for (unsigned k = 0; k < N; k++) {
            abx += a[i][k] * bx[k];
            cx += c[i][k] * x[k];
        }
        if (abx != cx)
            return 0;
    }
    return 1;
}

uint32_t program_run(uint32_t reps)
{
    static const uint32_t small[2][2][2] = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};
    static const uint32_t product[2][2] = {{19, 22}, {43, 50}};
    for (unsigned i = 0; i < 2; i++)
        for (unsigned j = 0; j < 2; j++)
            a[i][j] = small[0][i][j], b[i][j] = small[1][i][j];
    multiply(2);
    for (unsigned i = 0; i < 2; i++)
        for (unsigned j = 0; j < 2; j++)
            if (c[i][j] != product[i][j])
                return 1;

    uint32_t seed = 0xC0FFEE11u;
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = 0; j < N; j++)
            a[i][j] = bp_rand(&seed), b[i][j] = bp_rand(&seed);
    for (uint32_t r = 0; r < reps; r++) {
        a[r % N][(r * 7) % N] += r;                 /* a different product each rep */
        multiply(N);
        if (!freivalds(&seed) || !freivalds(&seed))
            return 2;
    }
    return 0;
}
