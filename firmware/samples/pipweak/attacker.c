/* pipweak, the attacker: runs attempt `index` (weak.h) with what the root lent it and
 * reports. Each start is a fresh context from the root (.bss cleared by the start file). */
#include <pip/pip.h>
#include "weak.h"

extern char __text_end[];              /* end of its code segment (ld/image.ld) */

#define GRANDCHILD_STACK_VA 0x200000u  /* the grandchild's stack page, in its space; (c) also
                                          prepares the grandchild's tables for this VA */
#define GRANDCHILD_WORD 0x0BAD0BADu    /* what the grandchild writes */
#define WORD0(va) (*(volatile uint32_t *)(uintptr_t)(va))

/* Where WEAK_SAVE_CODE asks the kernel to save its context: read-only data in its code
 * segment (R X), never run and never read by itself. */
static const uint32_t code_save_area[PIP_CONTEXT_WORDS] __attribute__((aligned(128))) = {
    [0 ... PIP_CONTEXT_WORDS - 1] = 0xC0DEC0DEu,
};

static pip_alloc_t pool;

static __attribute__((noreturn)) void report(uint32_t what, uint32_t result)
{
    (void)PIP_SOFTINT4(PIP_SERVICE_VECTOR, what, result, 0, 0);
    for (;;)
        ;       /* the root restarts us; reaching here means it did not */
}

static void name_save_area(uint32_t va)
{
    volatile uint32_t *slots = (volatile uint32_t *)(uintptr_t)PIP_VIDT_VA;
    slots[PIP_CLI_SAVE_INDEX] = slots[PIP_STI_SAVE_INDEX] = va;
}

/* The grandchild's code (in the attacker's code pages, lent to it at the same VAs): write
 * the page it was given at WEAK_READ_ONLY_VA, then yield back to the attacker's context
 * saved in the attacker's VIDT slot 48. */
static __attribute__((noreturn)) void grandchild_main(void)
{
    WORD0(WEAK_READ_ONLY_VA) = GRANDCHILD_WORD;
    (void)Pip_Yield(0, PIP_CLI_SAVE_INDEX, PIP_SLOT_NONE, 1, 1);
    for (;;)
        ;
}

/* Give the grandchild the attacker's code pages (R X), a stack and a VIDT whose slot 0
 * starts grandchild_main. 1 on success. */
static int equip_grandchild(void)
{
    for (uint32_t va = PIP_VA(__image_start); va < PIP_VA(__text_end); va += PIP_PAGE_SIZE)
        if (Pip_MapPageWrapper(&pool, va, WEAK_GRANDCHILD, va, PIP_RX) != PIP_MAP_OK)
            return 0;
    uint32_t stack = pip_alloc_page(&pool), vidt_page = pip_alloc_page(&pool);
    if (!stack || !vidt_page
        || Pip_MapPageWrapper(&pool, stack, WEAK_GRANDCHILD, GRANDCHILD_STACK_VA, PIP_RW)
        || Pip_MapPageWrapper(&pool, vidt_page, WEAK_GRANDCHILD, PIP_VIDT_VA, PIP_RW))
        return 0;
    pip_vidt_t vidt;
    pip_context_t *ctx;
    Pip_VidtInit(&vidt, vidt_page);
    uint32_t ctx_va = Pip_AllocContext(&vidt, &ctx);
    Pip_RegisterInterrupt(&vidt, 0, ctx_va);
    Pip_InitContext(ctx, PIP_VA(grandchild_main), GRANDCHILD_STACK_VA + PIP_PAGE_SIZE,
                    0, 0, 0, 0, 1);
    return 1;
}

/* (b) re-lend the read-only page writable; the grandchild writes it. Reports what the
 * attacker then reads in the page. */
static __attribute__((noreturn)) void relend_writable(void)
{
    if (Pip_CreateChild(&pool) != WEAK_GRANDCHILD || !equip_grandchild())
        report(WEAK_SETUP_FAILED, 1);
    if (!Pip_AddVAddr(WEAK_READ_ONLY_VA, WEAK_GRANDCHILD, WEAK_READ_ONLY_VA, 1, 1, 0))
        report(WEAK_REFUSED, 0);
    /* saved in slot 48, resumed there by the grandchild's yield */
    uint32_t code = Pip_Yield(WEAK_GRANDCHILD, 0, PIP_CLI_SAVE_INDEX, 1, 1);
    if (code != PIP_YIELD_OK)
        report(WEAK_SETUP_FAILED, 2);
    report(WEAK_DONE, WORD0(WEAK_READ_ONLY_VA));
}

/* (c) the read-only page as the page directory of a new grandchild */
static __attribute__((noreturn)) void read_only_table(void)
{
    uint32_t desc = pip_alloc_page(&pool), sh1 = pip_alloc_page(&pool);
    uint32_t sh2 = pip_alloc_page(&pool), ll = pip_alloc_page(&pool);
    uint32_t ok = Pip_CreatePartition(desc, WEAK_READ_ONLY_VA, sh1, sh2, ll);
    report(ok ? WEAK_DONE : WEAK_REFUSED, ok);
}

/* (c) the device page as the third page of prepare's chain (it becomes the grandchild's
 * sh2 table). It is the third because the kernel reads the chain's links from RAM, and
 * behind a device page the machine keeps RAM the device never sees: a link written by the
 * attacker into the device page would not be read. */
static __attribute__((noreturn)) void device_table(void)
{
    if (Pip_CreateChild(&pool) != WEAK_GRANDCHILD)
        report(WEAK_SETUP_FAILED, 1);
    uint32_t fst = pip_alloc_page(&pool), snd = pip_alloc_page(&pool);
    WORD0(fst) = snd;
    WORD0(snd) = WEAK_DEVICE_VA;
    uint32_t ok = Pip_Prepare(WEAK_GRANDCHILD, GRANDCHILD_STACK_VA, fst) & 1u;
    report(ok ? WEAK_DONE : WEAK_REFUSED, ok);
}

static void attempt(uint32_t index, uint32_t victim_desc)
{
    switch (index) {
    case WEAK_SAVE_READ_ONLY:
        name_save_area(WEAK_READ_ONLY_VA);
        report(WEAK_DONE, 0);           /* the software interrupt saves the context */
    case WEAK_SAVE_CODE:
        name_save_area(PIP_VA(code_save_area));
        WORD0(__image_start) = 0;       /* the page fault saves the context */
        report(WEAK_SETUP_FAILED, 0);   /* the write did not fault */
    case WEAK_RELEND_WRITABLE:
        relend_writable();
    case WEAK_READ_ONLY_TABLE:
        read_only_table();
    case WEAK_DEVICE_TABLE:
        device_table();
    case WEAK_FORGED_DISPATCH:
        report(WEAK_REFUSED, Pip_Dispatch(0, PIP_VECTOR_PAGE_FAULT, 0, PIP_VECTOR_PAGE_FAULT,
                                          victim_desc));
    case WEAK_FORGED_YIELD:
        report(WEAK_REFUSED, Pip_Yield(0, PIP_VECTOR_PAGE_FAULT, PIP_CLI_SAVE_INDEX, 1, 1));
    case WEAK_CLEANUP:
        report(WEAK_DONE, Pip_DeletePartition(WEAK_GRANDCHILD));
    }
}

int main(uint32_t index, uint32_t victim_desc)
{
    pip_alloc_init(&pool, WEAK_POOL_VA, WEAK_POOL_VA + WEAK_POOL_PAGES * PIP_PAGE_SIZE);
    attempt(index, victim_desc);
    report(WEAK_SETUP_FAILED, index);   /* an index it does not know */
}
