/* x86-32 contexts (docs/abi.md "Contexts"): status = EFLAGS, regs = eax ecx edx ebx
 * esp ebp esi edi, then 8 zero words. */
#include <pip/context.h>
#include <pip/mem.h>

#define EFLAGS_RESERVED 0x2u    /* bit 1 always reads 1 */
#define EFLAGS_IF 0x200u        /* children run with IF = 1 (pip-spec §5) */

enum { REG_EAX, REG_ECX, REG_EDX, REG_EBX, REG_ESP, REG_EBP, REG_ESI, REG_EDI };

extern void pip_handler_entry(void);

void Pip_InitContext(pip_context_t *ctx, uint32_t entry, uint32_t sp, uint32_t a0,
                     uint32_t a1, uint32_t a2, uint32_t a3, uint32_t pipflags)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->pc = entry;
    ctx->pipflags = pipflags;
    ctx->status = EFLAGS_RESERVED | EFLAGS_IF;
    ctx->valid = 1;
    ctx->regs[REG_EAX] = a0;
    ctx->regs[REG_ECX] = a1;
    ctx->regs[REG_EDX] = a2;
    ctx->regs[REG_EBX] = a3;
    ctx->regs[REG_ESP] = sp;
}

void Pip_InitHandlerContext(pip_context_t *ctx, pip_handler_t handler, uint32_t stack_top,
                            uint32_t pipflags)
{
    Pip_InitContext(ctx, (uint32_t)(uintptr_t)&pip_handler_entry, stack_top, 0, 0, 0, 0,
                    pipflags);
    ctx->regs[REG_ESI] = (uint32_t)(uintptr_t)handler;
}
