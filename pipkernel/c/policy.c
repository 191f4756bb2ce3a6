/* policy.c - the kernel policies (docs/kernel.md §9): device pages, and the
 * checks that "hardened" adds to Pip's.  Each check is called by its service at
 * the place §9 gives it in Pip's order of checks; under "pip" none refuses. */
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

/* (a) the PTE bits both pages of a context save area need */
uint32_t save_rights(const pip_kernel *k) {
    return PTE_USABLE | (hardened(k) ? PIP_PTE_WRITE : 0);
}

/* (c) a caller page (its PTE) about to become a kernel structure */
uint32_t hardened_kernel_page(const pip_kernel *k, uint32_t pte) {
    if (!hardened(k)) return 0;
    if (!(pte & PIP_PTE_WRITE)) return PIP_E_NOT_WRITABLE;
    if (is_device(k, pe_page(pte))) return PIP_E_DEVICE_PAGE;
    return 0;
}

/* (b) addVAddr's rights w, e against the caller's own PTE for the page */
uint32_t hardened_rights(const pip_kernel *k, uint32_t pte, uint32_t w, uint32_t e) {
    if (hardened(k) && ((w && !(pte & PIP_PTE_WRITE)) || (e && !(pte & PIP_PTE_EXEC))))
        return PIP_E_RIGHTS_AMPLIFIED;
    return 0;
}

/* (d) yield / dispatch to the caller's parent: vectors below the save slots are the kernel's */
uint32_t hardened_vector(pip_kernel *k, uint32_t caller, uint32_t target, uint32_t vector) {
    if (hardened(k) && target == parent_of(k, caller) && vector < k->cli_index)
        return PIP_E_RESERVED_VECTOR;
    return 0;
}
