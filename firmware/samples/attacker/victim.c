/* attacker sample, the victim: a data page full of VICTIM_PATTERN, and code that never
 * needs to run (the root only checks the page stays intact). */
#include <pip/pip.h>
#include "victim.h"

volatile uint32_t victim_secret[1024] __attribute__((aligned(4096))) = {
    [0 ... 1023] = VICTIM_PATTERN,
};

int main(void)
{
    for (;;)
        (void)victim_secret[0];
}
