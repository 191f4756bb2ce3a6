/* The 20-word context record (docs/abi.md "Contexts", docs/kernel.md §6):
 * pc, pipflags, status, valid, then 16 registers:
 *   ARM:    r0..r15 (pc has bit 0 set in Thumb state; status = CPSR)
 *   x86-32: eax, ecx, edx, ebx, esp, ebp, esi, edi, then 8 zero words (status = EFLAGS)
 */
#ifndef PIP_CONTEXT_H
#define PIP_CONTEXT_H

#include <stdint.h>
#include "abi.h"

typedef struct {
    uint32_t pc;
    uint32_t pipflags;      /* the partition's interrupt state once this context is loaded */
    uint32_t status;
    uint32_t valid;
    uint32_t regs[16];
} pip_context_t;

_Static_assert(sizeof(pip_context_t) == 4 * PIP_CONTEXT_WORDS, "context is 20 words");

/* Register indices in regs[] (context word = 4 + index): PIP_REG_<name> and PIP_REG_SP
 * (abi.h, per architecture). Arguments 0..3 are the four registers the kernel sets on
 * delivery (vector, child, address, access): r0..r3 on ARM, eax ecx edx ebx on x86;
 * libpip's start files pass them to main(). */
enum { PIP_REG_ARG0 = 0, PIP_REG_ARG1 = 1, PIP_REG_ARG2 = 2, PIP_REG_ARG3 = 3 };

/* Fill a fresh context that starts at entry (a function address: on ARM bit 0 selects
 * Thumb state) with stack pointer sp (0 = let the start file set it), the four argument
 * registers a0..a3 and interrupt state pipflags. Status PIP_STATUS_USER (ARM: CPSR user
 * mode, plus PIP_STATUS_THUMB for Thumb; x86: EFLAGS IF). valid = 1. */
void Pip_InitContext(pip_context_t *ctx, uint32_t entry, uint32_t sp, uint32_t a0,
                     uint32_t a1, uint32_t a2, uint32_t a3, uint32_t pipflags);

/* A handler the kernel enters with (vector, interrupted child's descriptor or 0, faulting
 * address, access) in r0..r3 (docs/abi.md "Delivery" step 3). It must not return: it
 * ends with a yield, dispatch, resume or halt (if it returns, the machine halts with
 * PIP_HANDLER_RETURNED). */
typedef void (*pip_handler_t)(uint32_t vector, uint32_t child, uint32_t addr,
                              uint32_t access);
#define PIP_HANDLER_RETURNED 0xDEADu

/* A context that calls handler(vector, child, addr, access) on the stack ending at
 * stack_top, with interrupt state pipflags (0: uninterruptible handler). It goes through
 * pip_handler_entry (libpip/<arch>/handler.S), which turns the registers into C
 * arguments; each delivery starts it afresh from this record. */
void Pip_InitHandlerContext(pip_context_t *ctx, pip_handler_t handler, uint32_t stack_top,
                            uint32_t pipflags);

#endif
