/* VIDT pages and the contexts stored in them (vidt.h; docs/abi.md "Delivery"). */
#include <pip/vidt.h>

void Pip_VidtInit(pip_vidt_t *v, uint32_t view)
{
    v->view = (volatile uint32_t *)(uintptr_t)view;
    v->used = 0;
    for (uint32_t i = 0; i < PIP_VIDT_SLOTS; i++)
        v->view[i] = 0;
}

uint32_t Pip_AllocContext(pip_vidt_t *v, pip_context_t **ctx)
{
    if (v->used >= PIP_VIDT_MAX_CTX)
        return 0;
    uint32_t offset = PIP_VIDT_CTX_OFFSET + v->used++ * (uint32_t)sizeof(pip_context_t);
    *ctx = (pip_context_t *)((uintptr_t)v->view + offset);
    return PIP_VIDT_VA + offset;
}

void Pip_RegisterInterrupt(pip_vidt_t *v, uint32_t vector, uint32_t ctx_va)
{
    v->view[vector] = ctx_va;
}

uint32_t Pip_RegisterHandler(pip_vidt_t *v, pip_handler_t handler, uint32_t stack_page,
                             const uint32_t *vectors, unsigned count)
{
    pip_context_t *ctx;
    uint32_t ctx_va = Pip_AllocContext(v, &ctx);
    if (!ctx_va)
        return 0;
    Pip_InitHandlerContext(ctx, handler, stack_page + PIP_PAGE_SIZE, 0);
    for (unsigned i = 0; i < count; i++)
        Pip_RegisterInterrupt(v, vectors[i], ctx_va);
    return ctx_va;
}

pip_context_t *Pip_VidtContext(pip_vidt_t *v, uint32_t ctx_va)
{
    return (pip_context_t *)((uintptr_t)v->view + (ctx_va - PIP_VIDT_VA));
}
