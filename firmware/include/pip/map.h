/* libpip's helpers on top of the memory calls (pip-spec §8, pipkernel/wrappers.py). */
#ifndef PIP_MAP_H
#define PIP_MAP_H

#include <stdint.h>
#include "abi.h"
#include "alloc.h"

/* Rights of a page given to a child. The kernel demands R (docs/kernel.md §5
 * addVAddr 3); keep code R X and data R W (W^X: unicorn-notes §9). */
#define PIP_R 1u
#define PIP_W 2u
#define PIP_X 4u
#define PIP_RX (PIP_R | PIP_X)
#define PIP_RW (PIP_R | PIP_W)

enum {
    PIP_MAP_OK = 0,
    PIP_MAP_FAIL_ALLOC = 1,     /* not enough free pages for the tables */
    PIP_MAP_FAIL_PREPARE = 2,
    PIP_MAP_FAIL_ADDVADDR = 3,
};

/* Pip_MapPageWrapper: make the child's tables for va_child exist (countToMap, a chain of
 * that many free pages linked through word 0, prepare; pages prepare did not use go
 * back to the allocator), then addVAddr(src, desc, va_child, rights). */
int Pip_MapPageWrapper(pip_alloc_t *a, uint32_t src, uint32_t desc, uint32_t va_child,
                       uint32_t rights);

/* Create a child from five fresh pages, the descriptor page cleared first (so its
 * interrupt state, PD word 13, starts at 0: docs/kernel.md §2). Returns the
 * descriptor's VA, 0 on failure. */
uint32_t Pip_CreateChild(pip_alloc_t *a);

#endif
