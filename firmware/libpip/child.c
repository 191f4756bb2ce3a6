/* Pip_CreateChild: five fresh pages, the descriptor cleared first (docs/kernel.md §2:
 * createPartition leaves PD words 12-13 as the page held them). */
#include <pip/api.h>
#include <pip/map.h>
#include <pip/mem.h>

uint32_t Pip_CreateChild(pip_alloc_t *a)
{
    uint32_t pages[5];
    for (int i = 0; i < 5; i++) {
        pages[i] = pip_alloc_page(a);
        if (!pages[i]) {
            while (i--)
                pip_free_page(a, pages[i]);
            return 0;
        }
    }
    memset((void *)(uintptr_t)pages[0], 0, PIP_PAGE_SIZE);
    if (!Pip_CreatePartition(pages[0], pages[1], pages[2], pages[3], pages[4])) {
        for (int i = 0; i < 5; i++)
            pip_free_page(a, pages[i]);
        return 0;
    }
    return pages[0];
}
