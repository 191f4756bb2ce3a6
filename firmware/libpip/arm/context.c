/* ARM contexts (docs/abi.md "Contexts"): word 0 pc with bit 0 set in Thumb state,
 * status = CPSR, regs = r0..r15 (PIP_REG_*: abi.h). Partitions run in user mode. */
#include <pip/context.h>
#include <pip/mem.h>

extern void pip_handler_entry(void);

void Pip_InitContext(pip_context_t *ctx, uint32_t entry, uint32_t sp, uint32_t a0,
                     uint32_t a1, uint32_t a2, uint32_t a3, uint32_t pipflags)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->pc = entry;
    ctx->pipflags = pipflags;
    ctx->status = PIP_STATUS_USER | ((entry & 1u) ? PIP_STATUS_THUMB : 0);
    ctx->valid = 1;
    ctx->regs[PIP_REG_ARG0] = a0;
    ctx->regs[PIP_REG_ARG1] = a1;
    ctx->regs[PIP_REG_ARG2] = a2;
    ctx->regs[PIP_REG_ARG3] = a3;
    ctx->regs[PIP_REG_SP] = sp;
    ctx->regs[PIP_REG_PC] = entry & ~1u;    /* r15 itself never holds the Thumb bit */
}

void Pip_InitHandlerContext(pip_context_t *ctx, pip_handler_t handler, uint32_t stack_top,
                            uint32_t pipflags)
{
    Pip_InitContext(ctx, (uint32_t)(uintptr_t)&pip_handler_entry, stack_top, 0, 0, 0, 0,
                    pipflags);
    ctx->regs[PIP_REG_R4] = (uint32_t)(uintptr_t)handler;    /* handler.S calls r4 */
}
