/* bench: the machine's benchmark (bench/bench_machine.py). bench_mode and
 * bench_iterations are data words a runner patches before the run (non-zero
 * defaults keep them in .data: the start file clears .bss after loading):
 *   1  an empty loop of bench_iterations steps (the baseline);
 *   2  the same loop making one memory syscall (mappedInChild) per step;
 *   3  the same loop switching to a child and back (two yields) per step.
 * The root halts with 0 at the end. */
#include <pip/pip.h>

#define SAVE_SLOT 100u        /* the root's VIDT slot where its yields save it */

volatile uint32_t bench_mode = 1;
volatile uint32_t bench_iterations = 100000;

extern const struct pip_image bench_child_image;

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t child;

int main(void)
{
    uint32_t n = bench_iterations, mode = bench_mode;
    volatile uint32_t sink = 0;
    if (mode == 3) {
        pip_alloc_init_root(&heap);
        Pip_VidtInit(&vidt, PIP_VIDT_VA);
        if (Pip_SpawnChild(&heap, &child, &bench_child_image) != PIP_SPAWN_OK)
            pip_fail("spawn the child", 0);
        pip_context_t *ctx;
        uint32_t ctx_va = Pip_AllocContext(&vidt, &ctx);   /* filled by each yield */
        Pip_RegisterInterrupt(&vidt, SAVE_SLOT, ctx_va);
        Pip_ChildRestart(&child, SAVE_SLOT, 0, 0, 0, 1);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (mode == 2)
            sink += Pip_MappedInChild(PIP_CONSOLE_VA);
        else if (mode == 3)
            sink += Pip_Yield(child.desc, 0, SAVE_SLOT, 0, 0);
        else
            sink += i;
    }
    return 0;
}
