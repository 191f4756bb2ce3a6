/* A bytecode interpreter: a register machine with a switch dispatch (a state machine of
 * short, branchy blocks), running a program that finds the longest Collatz trajectory
 * (x -> x/2 if even, 3x + 1 if odd, until 1) for the starting values below 10^4.  Known
 * answers (OEIS A006877, A006577): 6171 needs 261 steps, the most below 10^4; 27 needs 111.
 * The interpreted total of steps is checked against the same sum computed in C. */
#include "program.h"

const uint32_t program_default_reps = 2;

enum op { LI, ADD, ADDI, ANDI, SHRI, SUBI, JZ, JLEU, JMP, HALT };

struct insn {
    uint8_t op, a, b, c;       /* registers; c or imm: an immediate or a jump target */
    uint16_t imm;
};

#define LIMIT 10000u

/* r1 n, r2 LIMIT, r3 x, r4 steps, r5 best steps, r6 best n, r7 scratch, r0 total steps */
static const struct insn program[] = {
    /*  0 */ {LI, 1, 0, 0, 1},
    /*  1 */ {LI, 2, 0, 0, LIMIT},
    /*  2 */ {LI, 5, 0, 0, 0},
    /*  3 */ {LI, 0, 0, 0, 0},
    /*  4 */ {ADD, 3, 1, 7, 0},        /* next n: x = n (r7 is 0 here) */
    /*  5 */ {LI, 4, 0, 0, 0},
    /*  6 */ {SUBI, 7, 3, 0, 1},       /* step: r7 = x - 1 */
    /*  7 */ {JZ, 7, 0, 0, 17},        /* x == 1: done */
    /*  8 */ {ANDI, 7, 3, 0, 1},
    /*  9 */ {JZ, 7, 0, 0, 14},        /* even */
    /* 10 */ {ADD, 7, 3, 3, 0},        /* r7 = 2x */
    /* 11 */ {ADD, 3, 7, 3, 0},        /* x = 3x */
    /* 12 */ {ADDI, 3, 3, 0, 1},       /* x = 3x + 1 */
    /* 13 */ {JMP, 0, 0, 0, 15},
    /* 14 */ {SHRI, 3, 3, 0, 1},       /* x = x / 2 */
    /* 15 */ {ADDI, 4, 4, 0, 1},       /* steps++ */
    /* 16 */ {JMP, 0, 0, 0, 6},
    /* 17 */ {ADD, 0, 0, 4, 0},        /* total += steps */
    /* 18 */ {JLEU, 4, 5, 0, 21},      /* steps <= best: not a record */
    /* 19 */ {ADD, 5, 4, 7, 0},        /* best = steps (r7 is 0 from here to 4) */
    /* 20 */ {ADD, 6, 1, 7, 0},        /* best n = n */
    /* 21 */ {ADDI, 1, 1, 0, 1},       /* n++ */
    /* 22 */ {JLEU, 2, 1, 0, 24},      /* LIMIT <= n: halt */
    /* 23 */ {JMP, 0, 0, 0, 4},
    /* 24 */ {HALT, 0, 0, 0, 0},
};

static void interpret(const struct insn *code, uint32_t r[8])
{
    uint32_t pc = 0;
    for (;;) {
        const struct insn *i = &code[pc++];
        switch (i->op) {
        case LI:   r[i->a] = i->imm; break;
        case ADD:  r[i->a] = r[i->b] + r[i->c]; break;
        case ADDI: r[i->a] = r[i->b] + i->imm; break;
        case ANDI: r[i->a] = r[i->b] & i->imm; break;
        case SHRI: r[i->a] = r[i->b] >> i->imm; break;
        case SUBI: r[i->a] = r[i->b] - i->imm; break;
        case JZ:   if (!r[i->a]) pc = i->imm; break;
        case JLEU: if (r[i->a] <= r[i->b]) pc = i->imm; break;
        case JMP:  pc = i->imm; break;
        default:   return;
        }
    }
}

static uint32_t steps(uint32_t x)
{
    uint32_t n = 0;
    for (; x != 1; n++)
        x = x & 1 ? 3 * x + 1 : x / 2;
    return n;
}

uint32_t program_run(uint32_t reps)
{
    if (steps(27) != 111 || steps(6171) != 261)
        return 1;
    uint32_t total = 0;
    for (uint32_t n = 1; n < LIMIT; n++)
        total += steps(n);
    for (uint32_t rep = 0; rep < reps; rep++) {
        uint32_t r[8];
        bp_fill(r, 0, sizeof r);
        interpret(program, r);
        if (r[5] != 261 || r[6] != 6171)
            return 2;
        if (r[0] != total)
            return 3;
    }
    return 0;
}
