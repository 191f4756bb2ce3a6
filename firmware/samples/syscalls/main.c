/* syscalls: the root runs a script of kernel calls a test patched into its data
 * (tests/machine/test_guest_syscalls.py), so property tests drive the kernel from
 * guest code. Entry i: script[i][0] = call number, script[i][1..6] = arguments; number
 * SCRIPT_STORE stores script[i][2] at VA script[i][1] instead (to build prepare's free
 * lists, or to write a device register); SCRIPT_LOAD reads the word at VA script[i][1].
 * results[i] := the call's result (or the word read). Non-zero initialisers keep the arrays in
 * .data, which the start file does not clear. */
#include <pip/pip.h>

#define MAX_CALLS 256
#define SCRIPT_STORE 0x1000u
#define SCRIPT_LOAD 0x1001u

volatile uint32_t script_count = MAX_CALLS + 1;   /* patched; > MAX_CALLS runs nothing */
volatile uint32_t script[MAX_CALLS][7] = {{1}};
volatile uint32_t results[MAX_CALLS] = {1};

int main(void)
{
    uint32_t n = script_count;
    for (uint32_t i = 0; i < n && i < MAX_CALLS; i++) {
        volatile uint32_t *s = script[i];
        if (s[0] == SCRIPT_STORE)
            *(volatile uint32_t *)s[1] = s[2];
        else if (s[0] == SCRIPT_LOAD)
            results[i] = *(volatile uint32_t *)s[1];
        else
            results[i] = pip_call6(s[1], s[2], s[3], s[4], s[5], s[6], s[0]);
    }
    return 0;
}
