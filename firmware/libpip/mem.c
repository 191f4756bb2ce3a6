/* memset / memcpy / memmove / memcmp for freestanding code, weak: a program's own (or
 * the C library's, taken first by `pipsim cc`) win over these. Built with
 * -fno-tree-loop-distribute-patterns so GCC does not turn these loops into calls to
 * themselves (unicorn-notes §9). */
#include <stdint.h>
#include <pip/mem.h>

__attribute__((weak)) void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    if (((uintptr_t)d & 3u) == 0 && (n & 3u) == 0) {
        uint32_t w = (uint8_t)c * 0x01010101u;
        for (uint32_t *p = dst; n; n -= 4)
            *p++ = w;
        return dst;
    }
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

__attribute__((weak)) void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d | (uintptr_t)s | n) & 3u) == 0) {
        uint32_t *dw = dst;
        const uint32_t *sw = src;
        for (; n; n -= 4)
            *dw++ = *sw++;
        return dst;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

__attribute__((weak)) void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

__attribute__((weak)) int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}
