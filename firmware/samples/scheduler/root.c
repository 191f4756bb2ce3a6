/* scheduler: the root round-robins two children on timer interrupts (pip-spec §5
 * "[ours] Scheduling is a user-level pattern").
 *
 * Setup: spawn children A and B (spawn.h: image pages, a VIDT, a main context named by
 * their VIDT slots 0, 48, 49), one handler context in the root's VIDT for the timer
 * (vector 32), the children's print service (vector 64) and every fault, the timer
 * period on the system page, set_int_state(1), then yield to A.
 * Timer tick: the kernel saved the interrupted child's context in its slot 48/49 (=
 * its main context) and entered the handler with r1 = that child's descriptor; the
 * handler yields to the other child's slot 0, which continues it where it was.
 * Every yield uses flagsOnYield = 1: the root's interrupt state must be 1 while children
 * run, or the timer would never reach it (docs/abi.md "Delivery", last line); the
 * handler itself runs with state 0 (its context's pipflags) and is never interrupted.
 * After SCHED_TICKS ticks the root prints a summary and halts with 0. */
#include <pip/pip.h>
#include "line.h"

#ifndef SCHED_TICKS
#define SCHED_TICKS 12u
#endif
#ifndef SCHED_PERIOD
#define SCHED_PERIOD 20000u     /* basic blocks between timer interrupts */
#endif

extern const struct pip_image sched_a_image, sched_b_image;

static pip_alloc_t heap;
static pip_vidt_t vidt;                 /* the root's own VIDT */
static pip_child_t children[2];
static const char names[2] = {'A', 'B'};
static uint32_t ticks, slices[2];
static int running = -1;                /* the child last yielded to */

static __attribute__((noreturn)) void run(int i)
{
    running = i;
    /* Slot 0 = its main context. PIP_SLOT_NONE: the handler's context is not saved,
     * the next interrupt starts the handler afresh. */
    pip_fail("yield to a child", Pip_Yield(children[i].desc, 0, PIP_SLOT_NONE, 1, 0));
}

static int child_index(uint32_t desc)
{
    for (int i = 0; i < 2; i++)
        if (desc != 0 && children[i].desc == desc)
            return i;
    return -1;
}

static __attribute__((noreturn)) void on_timer(uint32_t desc)
{
    int i = child_index(desc);
    ticks++;
    if (i >= 0)
        slices[i]++;
    if (ticks >= SCHED_TICKS) {
        pip_set_timer(0);
        pip_puts("scheduler: ");
        pip_putdec(ticks);
        pip_puts(" ticks, A ran ");
        pip_putdec(slices[0]);
        pip_puts(" slices, B ran ");
        pip_putdec(slices[1]);
        pip_puts(" slices\n");
        pip_halt(0);
    }
    /* A tick that lands on the root itself (desc 0, before the first yield) starts A. */
    run(i >= 0 ? 1 - i : (running < 0 ? 0 : 1 - running));
}

static __attribute__((noreturn)) void on_print(uint32_t desc)
{
    int i = child_index(desc);
    if (i < 0)
        pip_fail("print request from an unknown partition", desc);
    /* The child's registers at its `svc`/`int` are in its saved context: its main
     * context (slots 48/49), words 4..7. */
    const uint32_t *words = children[i].ctx->regs;
    for (int c = 0; c < LINE_MAX && line_char(words, c); c++)
        pip_putc(line_char(words, c));
    run(i);
}

static void handler(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    if (vector == PIP_VECTOR_TIMER)
        on_timer(desc);
    if (vector == PIP_SERVICE_VECTOR)
        on_print(desc);
    int i = child_index(desc);
    pip_puts("scheduler: unexpected vector ");
    pip_putdec(vector);
    pip_puts(" from ");
    pip_putc(i >= 0 ? names[i] : '?');
    pip_puts(" at ");
    pip_puthex(addr);
    pip_puts(" access ");
    pip_putdec(access);
    pip_puts("\n");
    pip_halt(2);
}

int main(void)
{
    static const struct pip_image *const images[2] = {&sched_a_image, &sched_b_image};
    static const uint32_t vectors[] = {
        PIP_VECTOR_TIMER, PIP_SERVICE_VECTOR, PIP_VECTOR_DIVIDE_ERROR,
        PIP_VECTOR_BREAKPOINT, PIP_VECTOR_INVALID_OPCODE, PIP_VECTOR_DOUBLE_FAULT,
        PIP_VECTOR_GENERAL_PROTECTION, PIP_VECTOR_PAGE_FAULT,
    };

    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    for (int i = 0; i < 2; i++) {
        int status = Pip_SpawnChild(&heap, &children[i], images[i]);
        if (status != PIP_SPAWN_OK)
            pip_fail(i ? "spawn B" : "spawn A", (uint32_t)status);
    }

    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors,
                                       sizeof vectors / sizeof vectors[0]))
        pip_fail("handler context", 0);

    pip_puts("scheduler: children A and B, timer every ");
    pip_putdec(SCHED_PERIOD);
    pip_puts(" blocks, ");
    pip_putdec(SCHED_TICKS);
    pip_puts(" ticks\n");
    pip_set_timer(SCHED_PERIOD);
    Pip_SetIntState(1);
    run(0);
}
