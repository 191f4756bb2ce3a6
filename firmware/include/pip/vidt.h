/* A partition's VIDT page (docs/abi.md; pip-spec §5): mapped at PIP_VIDT_VA in its
 * owner; word i = VA (in the owner) of the context for interrupt i. Slots
 * PIP_CLI_SAVE_INDEX / PIP_STI_SAVE_INDEX (48, 49) name where the owner's interrupted
 * context is saved.
 *
 * libpip layout (our convention): slots 0..511 are slots; the upper half of the page,
 * from PIP_VIDT_CTX_OFFSET, stores up to PIP_VIDT_MAX_CTX contexts, so a partition's
 * contexts live in its own VIDT page and are always "ctx ok" while the VIDT is mapped.
 * Indices >= 512 must therefore never be used as interrupt or save indices. */
#ifndef PIP_VIDT_H
#define PIP_VIDT_H

#include <stdint.h>
#include "context.h"

#define PIP_VIDT_SLOTS (PIP_VIDT_CTX_OFFSET / 4u)    /* PIP_VIDT_CTX_OFFSET: abi.h */
#define PIP_VIDT_MAX_CTX ((PIP_PAGE_SIZE - PIP_VIDT_CTX_OFFSET) / sizeof(pip_context_t))

/* A slot libpip never fills (vector 2 is unused by the machine): yield with it as
 * save index to skip saving the caller's context (docs/kernel.md §6 yield step 6). */
#define PIP_SLOT_NONE 2u

/* libpip's software-interrupt "service" vector for children talking to their parent
 * (>= 50: 48 and 49 are the save slots, so vectors 48/49 cannot have handlers). */
#define PIP_SERVICE_VECTOR 64

typedef struct {
    volatile uint32_t *view;    /* the VIDT page as the caller sees it */
    uint32_t used;              /* contexts handed out so far */
} pip_vidt_t;

/* Clear the slots of a VIDT page seen at view (its owner's VA is PIP_VIDT_VA). */
void Pip_VidtInit(pip_vidt_t *v, uint32_t view);

/* A context stored in the VIDT page: *ctx is where the caller writes it, the result is
 * its VA in the owner (what VIDT slots hold). 0 when the page is full. */
uint32_t Pip_AllocContext(pip_vidt_t *v, pip_context_t **ctx);

/* VIDT[vector] := ctx_va (a VA in the VIDT's owner), libpip's Pip_RegisterInterrupt. */
void Pip_RegisterInterrupt(pip_vidt_t *v, uint32_t vector, uint32_t ctx_va);

/* A handler context (Pip_InitHandlerContext, uninterruptible) whose stack is the page at
 * stack_page, stored in the VIDT and named by each of the count vectors; its VA, or 0
 * when the VIDT page has no room for another context. */
uint32_t Pip_RegisterHandler(pip_vidt_t *v, pip_handler_t handler, uint32_t stack_page,
                             const uint32_t *vectors, unsigned count);

/* The context whose owner VA is ctx_va, as the caller sees it (ctx_va in this page). */
pip_context_t *Pip_VidtContext(pip_vidt_t *v, uint32_t ctx_va);

#endif
