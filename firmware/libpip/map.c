/* Pip_MapPageWrapper: countToMap, chain, prepare, addVAddr (pip-spec §2.3, §8;
 * pipkernel/wrappers.py map_page). */
#include <pip/api.h>
#include <pip/map.h>

#define WORD0(va) (*(volatile uint32_t *)(uintptr_t)(va))

/* Make the child's tables for va_child exist. */
static int prepare_tables(pip_alloc_t *a, uint32_t desc, uint32_t va_child)
{
    uint32_t needed = Pip_CountToMap(desc, va_child);
    if (needed == 0)
        return PIP_MAP_OK;

    /* A chain of `needed` free pages, word 0 = VA of the next, 0 at the end
     * (pip-spec §2.3 prepare; built back to front so word 0 of the first is set last). */
    uint32_t first = 0;
    for (uint32_t i = 0; i < needed; i++) {
        uint32_t va = pip_alloc_page(a);
        if (!va) {
            while (first) {
                uint32_t next = WORD0(first);
                pip_free_page(a, first);
                first = next;
            }
            return PIP_MAP_FAIL_ALLOC;
        }
        WORD0(va) = first;
        first = va;
    }

    /* The result is the next unused VA of the chain with the success bit in bit 0
     * (docs/abi.md "Kernel calls"); the pages from there on were not used. */
    uint32_t result = Pip_Prepare(desc, va_child, first);
    if (!(result & 1u))
        return PIP_MAP_FAIL_PREPARE;     /* the used pages are the kernel's now: lost */
    for (uint32_t va = result & ~(PIP_PAGE_SIZE - 1); va;) {
        uint32_t next = WORD0(va);
        pip_free_page(a, va);
        va = next;
    }
    return PIP_MAP_OK;
}

int Pip_MapPageWrapper(pip_alloc_t *a, uint32_t src, uint32_t desc, uint32_t va_child,
                       uint32_t rights)
{
    int status = prepare_tables(a, desc, va_child);
    if (status != PIP_MAP_OK)
        return status;
    if (!Pip_AddVAddr(src, desc, va_child, (rights & PIP_R) != 0, (rights & PIP_W) != 0,
                      (rights & PIP_X) != 0))
        return PIP_MAP_FAIL_ADDVADDR;
    return PIP_MAP_OK;
}
