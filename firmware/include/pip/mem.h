/* The few memory functions freestanding C still needs (GCC may emit calls to memcpy
 * and memset itself; they are defined under those names in libpip/mem.c, weak: a
 * program's own or the C library's win). */
#ifndef PIP_MEM_H
#define PIP_MEM_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
