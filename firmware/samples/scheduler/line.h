/* A console line of up to 15 characters carried in four registers (r0..r3 / eax ecx
 * edx ebx), little-endian, NUL-padded: the scheduler's children print through their
 * parent with a software interrupt (they do not own the console page, which can be
 * given to one child only: docs/kernel.md §5 addVAddr, "derived"). */
#ifndef SCHED_LINE_H
#define SCHED_LINE_H

#include <stdint.h>

#define LINE_MAX 15

static inline uint32_t line_word(const char *line, int w)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | (uint8_t)line[4 * w + i];
    return v;
}

static inline char line_char(const uint32_t *words, int i)
{
    return (char)(words[i / 4] >> (8 * (i % 4)));
}

#endif
