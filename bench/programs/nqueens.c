/* N-queens: the number of ways to place n non-attacking queens on an n x n board, by
 * backtracking over bit masks (columns and both diagonals), recursive and branchy.
 * Known answers (OEIS A000170): 92 for n = 8, 724 for n = 10.  Each rep counts both. */
#include "program.h"

const uint32_t program_default_reps = 230;

static uint32_t place(uint32_t all, uint32_t cols, uint32_t left, uint32_t right)
{
    if (cols == all)
        return 1;
    uint32_t count = 0;
    uint32_t free = all & ~(cols | left | right);
    while (free) {
        uint32_t bit = free & -free;
        free ^= bit;
        count += place(all, cols | bit, (left | bit) << 1, (right | bit) >> 1);
    }
    return count;
}

static uint32_t queens(unsigned n)
{
    return place((1u << n) - 1, 0, 0, 0);
}

uint32_t program_run(uint32_t reps)
{
    for (uint32_t r = 0; r < reps; r++) {
        if (queens(8) != 92)
            return 1;
        if (queens(10) != 724)
            return 2;
    }
    return 0;
}
