/* Factorials as decimal big numbers: n! in limbs of base 10^4 (least significant
 * first), multiplied by 2, 3, ..., 1000 in turn; a multiply-add loop with a carry and a
 * division by a constant.  Known answers: 100! has 158 digits with digit sum 648, 1000!
 * has 2568 digits with digit sum 10539 (OEIS A034886 and A004152).  Each rep computes
 * 1000! and checks both. */
#include "program.h"

const uint32_t program_default_reps = 220;

#define BASE 10000u
#define LIMBS 700u                              /* 1000! has 2568 digits: 642 limbs */

static uint32_t limb[LIMBS];

struct digits {
    uint32_t count, sum;
};

static struct digits digits(uint32_t used)
{
    struct digits d = {4 * (used - 1), 0};
    for (uint32_t top = limb[used - 1]; top; top /= 10)
        d.count++;
    for (uint32_t i = 0; i < used; i++)
        for (uint32_t x = limb[i]; x; x /= 10)
            d.sum += x % 10;
    return d;
}

uint32_t program_run(uint32_t reps)
{
    for (uint32_t r = 0; r < reps; r++) {
        uint32_t used = 1;
        limb[0] = 1;
        for (uint32_t k = 2; k <= 1000; k++) {
            uint32_t carry = 0;
            for (uint32_t i = 0; i < used; i++) {
                uint32_t x = limb[i] * k + carry;
                limb[i] = x % BASE;
                carry = x / BASE;
            }
            while (carry) {
                if (used == LIMBS)
                    return 1;
                limb[used++] = carry % BASE;
                carry /= BASE;
            }
            if (k == 100) {
                struct digits d = digits(used);
                if (d.count != 158 || d.sum != 648)
                    return 2;
            }
        }
        struct digits d = digits(used);
        if (d.count != 2568 || d.sum != 10539)
            return 3;
    }
    return 0;
}
