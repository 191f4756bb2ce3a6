/* compute: the root runs a SHA-256 workload in a child (child.c) and halts with 0 when
 * the child yields back to its VIDT slot PIP_SERVICE_VECTOR. The child gets its image
 * (code R X, data R W), the console page (R W, at PIP_CONSOLE_VA) and a VIDT.
 * compute_rounds and compute_kib are the child's main() arguments: data words of this
 * image a runner may patch before the run (ELF symbols), with compile-time defaults. */
#include <pip/pip.h>

#ifndef COMPUTE_ROUNDS
#define COMPUTE_ROUNDS 48u
#endif
#ifndef COMPUTE_KIB
#define COMPUTE_KIB 64u
#endif

volatile uint32_t compute_rounds = COMPUTE_ROUNDS;
volatile uint32_t compute_kib = COMPUTE_KIB;

extern const struct pip_image compute_child_image;

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t child;

static void done(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    (void)vector, (void)desc, (void)addr, (void)access;   /* a yield sets no registers */
    pip_puts("compute: done\n");
    pip_halt(0);
}

static void fault(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    pip_puts("compute: the child faulted: vector ");
    pip_putdec(vector);
    pip_puts(desc == child.desc ? "" : " (not from the child)");
    pip_puts(" at ");
    pip_puthex(addr);
    pip_puts(" access ");
    pip_putdec(access);
    pip_putc('\n');
    pip_halt(2);
}

static void handler(pip_handler_t h, uint32_t stack, const uint32_t *vectors, int n)
{
    pip_context_t *ctx;
    uint32_t ctx_va = Pip_AllocContext(&vidt, &ctx);
    if (!ctx_va)
        pip_fail("handler context", 0);
    Pip_InitHandlerContext(ctx, h, stack, 0);
    for (int i = 0; i < n; i++)
        Pip_RegisterInterrupt(&vidt, vectors[i], ctx_va);
}

int main(void)
{
    static const uint32_t done_vectors[] = {PIP_SERVICE_VECTOR};
    static const uint32_t fault_vectors[] = {
        PIP_VECTOR_DIVIDE_ERROR, PIP_VECTOR_BREAKPOINT, PIP_VECTOR_INVALID_OPCODE,
        PIP_VECTOR_DOUBLE_FAULT, PIP_VECTOR_GENERAL_PROTECTION, PIP_VECTOR_PAGE_FAULT,
    };

    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    int status = Pip_SpawnChild(&heap, &child, &compute_child_image);
    if (status != PIP_SPAWN_OK)
        pip_fail("spawn the child", (uint32_t)status);
    status = Pip_MapPageWrapper(&heap, PIP_CONSOLE_VA, child.desc, PIP_CONSOLE_VA, PIP_RW);
    if (status != PIP_MAP_OK)
        pip_fail("give the console", (uint32_t)status);

    /* Both handlers end in a halt, so they can share one stack page. */
    uint32_t stack = pip_alloc_page(&heap);
    if (!stack)
        pip_fail("handler stack", 0);
    handler(done, stack + PIP_PAGE_SIZE, done_vectors, 1);
    handler(fault, stack + PIP_PAGE_SIZE, fault_vectors, 6);

    uint32_t rounds = compute_rounds, kib = compute_kib;
    pip_puts("compute: ");
    pip_putdec(rounds);
    pip_puts(" rounds of sha256 over ");
    pip_putdec(kib);
    pip_puts(" KiB in a child\n");
    Pip_ChildRestart(&child, rounds, kib, 0, 0, 1);
    pip_fail("yield to the child", Pip_Yield(child.desc, 0, PIP_SLOT_NONE, 0, 0));
}
