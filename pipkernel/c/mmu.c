/* mmu.c - page-table helpers shared by the services, and translation. */
#include <string.h>
#include "core.h"

/* writeAccessibleRec (Internal.v): follow the sh2 back-pointers up to the root */
void write_accessible_rec(pip_kernel *k, uint32_t va, uint32_t part, int flag) {
    for (uint32_t n = 0; n < k->npages && part != k->root; n++) {
        uint32_t *s2 = leaf(k, sh2_root(k, part), va);
        if (!s2) return;
        uint32_t va_up = va_page(k, *s2);
        if (!va_up) return;
        part = parent_of(k, part);
        uint32_t *pte = leaf(k, mmu_root(k, part), va_up);
        if (!pte) return;
        pe_set_accessible(pte, flag);
        va = va_up;
    }
}

/* writeAccessible on the caller's own entry, then in every ancestor */
void set_accessible_rec(pip_kernel *k, uint32_t part, uint32_t *pte, uint32_t va, int flag) {
    pe_set_accessible(pte, flag);
    write_accessible_rec(k, va, part, flag);
}

/* a kernel page returns to the caller: underived, accessible here and above */
void give_back(pip_kernel *k, uint32_t caller, uint32_t va) {
    uint32_t *sh1 = leaf(k, sh1_root(k, caller), va);
    if (sh1) ve_set_va(sh1, 0);
    uint32_t *pte = leaf(k, mmu_root(k, caller), va);
    if (pte) set_accessible_rec(k, caller, pte, va, 1);
}

/* initPEntryTable / initFstShadow / initSndShadow: all three encode empty as 0 */
void init_table(pip_kernel *k, uint32_t page) {
    uint32_t *t = tbl(k, page);
    if (t) memset(t, 0, k->table_size * sizeof(uint32_t));
}

/* checkChild (Internal.v): the PD flag of va in the caller's sh1 */
int check_child(pip_kernel *k, uint32_t caller, uint32_t va) {
    uint32_t *e = leaf(k, sh1_root(k, caller), va);
    return e && ve_pd(*e);
}

static const uint32_t access_bit[3] = {PIP_PTE_READ, PIP_PTE_WRITE, PIP_PTE_EXEC};

/* The MMU's view: present, accessible (user) and the right for this access.
 * access: 0 read, 1 write, 2 execute.  Returns 0 and the PA, or 1 if refused. */
int pip_translate(pip_kernel *k, uint32_t part, uint32_t va, uint32_t access, uint32_t *pa) {
    if (va & ~k->va_mask || access > 2) return 1;
    uint32_t *pte = leaf(k, mmu_root(k, part), va);
    uint32_t need = PIP_PTE_PRESENT | PIP_PTE_ACCESSIBLE | access_bit[access];
    if (!pte || (*pte & need) != need || !tbl(k, pe_page(*pte))) return 1;
    *pa = (*pte & ~PAGE_MASK) | (va & PAGE_MASK);
    return 0;
}

/* Copy n bytes between buf and part's memory at va; every page is checked before
 * any byte moves, so a refused access changes nothing. */
int pip_user_copy(pip_kernel *k, uint32_t part, uint32_t va, uint8_t *buf, uint32_t n,
                  int to_memory, uint32_t *fault_va) {
    uint32_t access = to_memory ? 1 : 0, pa;
    if (n == 0) return 0;
    uint64_t end = (uint64_t)va + n;
    for (uint64_t a = va & ~PAGE_MASK; a < end; a += 1u << PAGE_SHIFT) {
        uint32_t at = a < va ? va : (uint32_t)a;
        if (a > k->va_mask || pip_translate(k, part, at, access, &pa)) {
            *fault_va = at;
            return 1;
        }
    }
    for (uint32_t done = 0; done < n;) {
        uint32_t at = va + done, chunk = (1u << PAGE_SHIFT) - (at & PAGE_MASK);
        if (chunk > n - done) chunk = n - done;
        pip_translate(k, part, at, access, &pa);
        if (to_memory) memcpy(k->mem + pa, buf + done, chunk);
        else memcpy(buf + done, k->mem + pa, chunk);
        done += chunk;
    }
    return 0;
}
