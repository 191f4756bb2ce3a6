/* A page allocator over a range of the caller's own VAs (alloc.h). */
#include <pip/abi.h>
#include <pip/alloc.h>
#include <pip/mem.h>

extern char __image_end[];

void pip_alloc_init(pip_alloc_t *a, uint32_t start, uint32_t end)
{
    a->next = (start + PIP_PAGE_SIZE - 1) & ~(PIP_PAGE_SIZE - 1);
    a->end = end & ~(PIP_PAGE_SIZE - 1);
    a->free = 0;
}

void pip_alloc_init_root(pip_alloc_t *a)
{
    uint32_t start = (uint32_t)(uintptr_t)__image_end;
    pip_alloc_init(a, start, start + PIP_ROOT_HEAP_PAGES * PIP_PAGE_SIZE);
}

uint32_t pip_alloc_page(pip_alloc_t *a)
{
    if (a->free) {
        uint32_t va = a->free;
        a->free = *(volatile uint32_t *)(uintptr_t)va;
        return va;
    }
    if (a->next >= a->end)
        return 0;
    uint32_t va = a->next;
    a->next += PIP_PAGE_SIZE;
    return va;
}

uint32_t pip_alloc_zeroed(pip_alloc_t *a)
{
    uint32_t va = pip_alloc_page(a);
    if (va)
        memset((void *)(uintptr_t)va, 0, PIP_PAGE_SIZE);
    return va;
}

void pip_free_page(pip_alloc_t *a, uint32_t va)
{
    *(volatile uint32_t *)(uintptr_t)va = a->free;
    a->free = va;
}
