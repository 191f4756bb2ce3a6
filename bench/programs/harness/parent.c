/* The root that runs a benchmark program as its child with preemption on: it spawns the
 * embedded child image BENCH_CHILD_IMAGE (harness/child.c) with a0 = bench_reps, sets the
 * timer to bench_timer blocks, and on every tick yields straight back to the child
 * (slot 0: its main context, saved by the interrupt), as a scheduler with one child
 * does.  The child's result (a software interrupt PIP_SERVICE_VECTOR, a0 = result,
 * a1 = ~result) becomes the halt code; a fault or a malformed result halts with
 * BENCH_FAULT | vector. */
#include <pip/pip.h>

#define BENCH_FAULT 0xFA000000u

/* runners patch these words, so they are kept in .data (the start file clears .bss) */
__attribute__((section(".data"))) volatile uint32_t bench_reps = 0;    /* 0: the default */
volatile uint32_t bench_timer = 20000;  /* blocks between ticks: samples/scheduler's period */

extern const struct pip_image BENCH_CHILD_IMAGE;

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t child;

static __attribute__((noreturn)) void resume(void)
{
    /* flagsOnYield = 1: the root's interrupt state while the child runs, so ticks come */
    pip_fail("yield to the child", Pip_Yield(child.desc, 0, PIP_SLOT_NONE, 1, 0));
}

static void handler(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    (void)addr, (void)access;
    if (vector == PIP_VECTOR_TIMER)
        resume();               /* also a tick that lands on the root before the first yield */
    if (vector == PIP_SERVICE_VECTOR && desc == child.desc) {
        const uint32_t *regs = child.ctx->regs;   /* its registers at the interrupt */
        pip_set_timer(0);
        pip_halt(regs[1] == ~regs[0] ? regs[0] : BENCH_FAULT | vector);
    }
    pip_halt(BENCH_FAULT | vector);
}

int main(void)
{
    static const uint32_t vectors[] = {
        PIP_VECTOR_TIMER, PIP_SERVICE_VECTOR, PIP_VECTOR_DIVIDE_ERROR,
        PIP_VECTOR_BREAKPOINT, PIP_VECTOR_INVALID_OPCODE, PIP_VECTOR_DOUBLE_FAULT,
        PIP_VECTOR_GENERAL_PROTECTION, PIP_VECTOR_PAGE_FAULT,
    };

    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    int status = Pip_SpawnChild(&heap, &child, &BENCH_CHILD_IMAGE);
    if (status != PIP_SPAWN_OK)
        pip_fail("spawn the child", (uint32_t)status);
    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors,
                                       sizeof vectors / sizeof vectors[0]))
        pip_fail("handler context", 0);
    Pip_ChildRestart(&child, bench_reps, 0, 0, 0, 1);
    pip_set_timer(bench_timer);
    Pip_SetIntState(1);
    resume();
}
