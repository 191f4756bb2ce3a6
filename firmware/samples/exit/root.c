/* exit: a child's main returns and its parent gets the code (docs/sdk.md).
 * The root spawns exit_child and starts it with main(0): it returns 42, libpip's start
 * file raises PIP_CHILD_EXIT_VECTOR, and the root's handler reads the code with
 * Pip_ChildExitCode. Then it restarts the child with main(1), which recurses until its
 * stack reaches the guard page: a page fault, reported with the faulting page. The root
 * halts with the code the child returned. */
#include <pip/pip.h>

extern const struct pip_image exit_child_image;

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t child;
static uint32_t returned;

static __attribute__((noreturn)) void start(uint32_t mode)
{
    Pip_ChildRestart(&child, mode, 0, 0, 0, 1);
    pip_fail("yield to the child", Pip_Yield(child.desc, 0, PIP_SLOT_NONE, 0, 0));
}

static void handler(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    if (desc == child.desc && vector == PIP_CHILD_EXIT_VECTOR && !returned
        && Pip_ChildExitCode(&child, &returned)) {
        pip_puts("exit: the child's main returned ");
        pip_putdec(returned);
        pip_puts("\n");
        start(1);
    }
    if (desc == child.desc && vector == PIP_VECTOR_PAGE_FAULT && returned) {
        pip_puts("exit: the recursing child faulted: ");
        pip_puts(access == PIP_ACCESS_WRITE ? "write" : "read");
        pip_puts(" at page ");
        pip_puthex(addr & ~(PIP_PAGE_SIZE - 1));
        pip_puts("\n");
        pip_halt(returned);
    }
    pip_puts("exit: UNEXPECTED vector ");
    pip_putdec(vector);
    pip_puts(" at ");
    pip_puthex(addr);
    pip_puts("\n");
    pip_halt(2);
}

int main(void)
{
    static const uint32_t vectors[] = {
        PIP_CHILD_EXIT_VECTOR, PIP_VECTOR_DIVIDE_ERROR, PIP_VECTOR_BREAKPOINT,
        PIP_VECTOR_INVALID_OPCODE, PIP_VECTOR_DOUBLE_FAULT, PIP_VECTOR_GENERAL_PROTECTION,
        PIP_VECTOR_PAGE_FAULT,
    };
    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    int status = Pip_SpawnChild(&heap, &child, &exit_child_image);
    if (status != PIP_SPAWN_OK)
        pip_fail("spawn", (uint32_t)status);
    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors,
                                       sizeof vectors / sizeof vectors[0]))
        pip_fail("handler context", 0);
    start(0);
}
