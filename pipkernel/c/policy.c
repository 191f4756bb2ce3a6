/* policy.c - the device pages the "hardened" policy reads (docs/kernel.md §9); its
 * checks are inline in core.h, each called by its service at the place §9 gives it. */
#include "core.h"

int pip_mark_device(pip_kernel *k, uint32_t page) {
    if (page == 0 || page >= k->npages) return -1;
    k->device[page] = 1;
    return 0;
}

uint32_t pip_device_pages(pip_kernel *k, uint32_t *pages, uint32_t cap) {
    uint32_t n = 0;
    for (uint32_t page = 1; page < k->npages; page++)
        if (k->device[page]) {
            if (n < cap) pages[n] = page;
            n++;
        }
    return n;
}
