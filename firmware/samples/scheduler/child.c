/* scheduler child: prints "<letter><n>" for n = 1, 2, ... forever, one line per step,
 * with a busy delay between lines. Built twice: sched_a (letter A, Thumb-2 on ARM) and
 * sched_b (letter B, ARM state on ARM). It owns no console: each line goes to the
 * parent in r0..r3 of a software interrupt (PIP_SERVICE_VECTOR), the parent prints it
 * and yields back, so lines are never torn by a timer tick. */
#include <pip/pip.h>
#include "line.h"

#ifndef CHILD_LETTER
#error "define CHILD_LETTER"
#endif
#ifndef SCHED_DELAY
#define SCHED_DELAY 5000    /* loop iterations between lines */
#endif

static void say(uint32_t n)
{
    char line[4 * 4] = {0};
    char digits[10];
    int len = 0, d = 0;
    line[len++] = CHILD_LETTER;
    do {
        digits[d++] = (char)('0' + n % 10u);
        n /= 10u;
    } while (n);
    while (d)
        line[len++] = digits[--d];
    line[len] = '\n';
    PIP_SOFTINT4(PIP_SERVICE_VECTOR, line_word(line, 0), line_word(line, 1),
                 line_word(line, 2), line_word(line, 3));
}

int main(void)
{
    for (uint32_t n = 1;; n++) {
        say(n);
        for (volatile uint32_t i = 0; i < SCHED_DELAY; i++)
            ;
    }
}
