/* exit sample's child: main(0) returns 42, which libpip's start file raises to the
 * parent (PIP_CHILD_EXIT_VECTOR); main(1) recurses without bound: its stack overflows
 * into the unmapped guard page below it (ld/image.ld), a page fault for its parent. */
#include <pip/pip.h>

static volatile uint32_t depth;

static __attribute__((noinline)) uint32_t recurse(uint32_t n)
{
    volatile uint8_t frame[256];
    frame[0] = (uint8_t)n;
    depth = n;
    return n == UINT32_MAX ? 0 : recurse(n + 1) + frame[0];     /* the stack ends first */
}

int main(uint32_t mode)
{
    return mode == 1 ? (int)recurse(0) : 42;
}
