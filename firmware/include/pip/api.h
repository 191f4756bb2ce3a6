/* Pip's system calls as typed C functions (names as in libpip, numbers from abi.h).
 * Semantics and failure order: docs/kernel.md §5 (memory) and §6 (control flow). */
#ifndef PIP_API_H
#define PIP_API_H

#include <stdint.h>
#include "abi.h"

/* A VA as the kernel takes it (32-bit on both architectures). */
#define PIP_VA(p) ((uint32_t)(uintptr_t)(p))

uint32_t Pip_CreatePartition(uint32_t desc, uint32_t pd, uint32_t sh1, uint32_t sh2,
                             uint32_t ll);                           /* bool */
uint32_t Pip_DeletePartition(uint32_t desc);                        /* bool */
uint32_t Pip_AddVAddr(uint32_t va_parent, uint32_t desc, uint32_t va_child,
                      uint32_t r, uint32_t w, uint32_t e);           /* bool */
uint32_t Pip_RemoveVAddr(uint32_t desc, uint32_t va_child);         /* bool */
/* Returns the next unused VA of the chain with the success bit in bit 0 (docs/abi.md). */
uint32_t Pip_Prepare(uint32_t desc, uint32_t va_child, uint32_t fst_va);
uint32_t Pip_Collect(uint32_t desc, uint32_t va);                   /* bool */
uint32_t Pip_CountToMap(uint32_t desc, uint32_t va_child);          /* pages needed */
uint32_t Pip_MappedInChild(uint32_t va_parent);                     /* desc or 0 */
/* Control flow: 0 = success (then the caller does not continue here), else Pip's code
 * (1..9, pip-spec §2.4: 4 = not a child, ...). */
uint32_t Pip_Yield(uint32_t callee, uint32_t target_int, uint32_t save_index,
                   uint32_t flags_on_yield, uint32_t flags_on_wake);
uint32_t Pip_Dispatch(uint32_t desc, uint32_t vint, uint32_t notify, uint32_t data1,
                      uint32_t data2);
uint32_t Pip_Resume(uint32_t desc, uint32_t pipflags);
uint32_t Pip_GetIntState(uint32_t desc);     /* PIP_GET_INT_STATE_ERROR if not a child */
void Pip_SetIntState(uint32_t state);

/* Pip's yield codes (pip-spec §2.4) are PIP_YIELD_* in abi.h, generated from
 * pipkernel/abi.py YIELD_CODES (10, RESERVED_VECTOR, is the hardened policy's). */

#endif
