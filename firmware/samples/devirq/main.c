/* devirq: a device interrupt, end to end (tests/machine/test_device_irq.py).
 *
 * The root registers one handler context for every device vector (PIP_DEVICE_VECTOR_FIRST
 * .. LAST), then writes 1 to register 0 of the device page at device_va (patched by the
 * test) while its interrupt state is 0: the device model raises its interrupt on that
 * write, and the interrupt waits.  The root prints "masked", accepts interrupts
 * (set_int_state(1)) and waits: the handler prints the vector and the device's register
 * 4, and halts with the vector.  No interrupt within the wait: "no interrupt", exit 1. */
#include <pip/pip.h>

#define DEVICE_VECTORS (PIP_DEVICE_VECTOR_LAST - PIP_DEVICE_VECTOR_FIRST + 1)

volatile uint32_t device_va = 1;        /* patched; non-zero: kept in .data */
volatile uint32_t handled;

static pip_alloc_t heap;
static pip_vidt_t vidt;

static void handler(uint32_t vector, uint32_t child, uint32_t addr, uint32_t access)
{
    volatile uint32_t *regs = (volatile uint32_t *)device_va;
    (void)child, (void)addr, (void)access;
    handled = 1;
    pip_puts("interrupt ");
    pip_putdec(vector);
    pip_puts(", device register 4 = ");
    pip_putdec(regs[1]);
    pip_puts("\n");
    pip_halt(vector);
}

int main(void)
{
    uint32_t vectors[DEVICE_VECTORS];
    for (uint32_t i = 0; i < DEVICE_VECTORS; i++)
        vectors[i] = PIP_DEVICE_VECTOR_FIRST + i;
    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors, DEVICE_VECTORS))
        pip_fail("handler context", 0);

    *(volatile uint32_t *)device_va = 1;        /* the device raises its interrupt */
    pip_puts(handled ? "delivered while masked\n" : "masked\n");
    Pip_SetIntState(1);
    for (uint32_t spin = 0; spin < 100000u && !handled; spin++)
        ;
    pip_puts("no interrupt\n");
    return 1;
}
