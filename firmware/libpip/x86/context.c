/* x86-32 contexts (docs/abi.md "Contexts"): status = EFLAGS, regs = eax ecx edx ebx
 * esp ebp esi edi (PIP_REG_*: abi.h), then 8 zero words. Children run with IF = 1
 * (pip-spec §5). */
#include <pip/context.h>
#include <pip/mem.h>

extern void pip_handler_entry(void);

void Pip_InitContext(pip_context_t *ctx, uint32_t entry, uint32_t sp, uint32_t a0,
                     uint32_t a1, uint32_t a2, uint32_t a3, uint32_t pipflags)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->pc = entry;
    ctx->pipflags = pipflags;
    ctx->status = PIP_STATUS_USER;
    ctx->valid = 1;
    ctx->regs[PIP_REG_ARG0] = a0;
    ctx->regs[PIP_REG_ARG1] = a1;
    ctx->regs[PIP_REG_ARG2] = a2;
    ctx->regs[PIP_REG_ARG3] = a3;
    ctx->regs[PIP_REG_SP] = sp;
}

void Pip_InitHandlerContext(pip_context_t *ctx, pip_handler_t handler, uint32_t stack_top,
                            uint32_t pipflags)
{
    Pip_InitContext(ctx, (uint32_t)(uintptr_t)&pip_handler_entry, stack_top, 0, 0, 0, 0,
                    pipflags);
    ctx->regs[PIP_REG_ESI] = (uint32_t)(uintptr_t)handler;   /* handler.S calls esi */
}
