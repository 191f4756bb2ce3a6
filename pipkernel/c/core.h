/*
 * core.h - internal helpers shared by the services: word access to simulated
 * physical memory, entry encodings (docs/kernel.md §2) and table walks.
 *
 * Memory safety: the services reach k->mem through tbl(), or at a PA that a
 * check built on tbl() accepted first (pip_translate, ctx_ok: the copies of
 * mmu.c and control.c; the machine's accesses, machine.c, likewise):
 *  - tbl() returns a pointer to a page only for 0 < page < npages, so the
 *    1024 words behind it are inside the buffer;
 *  - callers index a table with idx_of() (< table_size <= 1024) or with a PD
 *    slot / LL index (< table_size), never with a value read from memory
 *    without masking it first (LL indices are checked in ll.c);
 *  - a PA read from memory that points outside the buffer makes tbl() return
 *    NULL and sets k->corrupt: the walk stops as if the table were missing;
 *  - every loop over lists or ancestors is bounded by npages.
 */
#ifndef PIP_CORE_H
#define PIP_CORE_H
#include "pip.h"
#include "pip_abi.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the simulated machine words are little-endian; a big-endian host needs byte swaps"
#endif

#define PAGE_SHIFT 12
#define PAGE_MASK 0xFFFu

static inline uint32_t *tbl(pip_kernel *k, uint32_t page) {
    if (page == 0 || page >= k->npages) {
        if (page) k->corrupt = 1;
        return 0;
    }
    return (uint32_t *)(k->mem + ((size_t)page << PAGE_SHIFT));
}

static inline uint32_t fail(pip_kernel *k, uint32_t reason, uint32_t result) {
    k->last_error = reason;
    return result;
}

static inline uint32_t ok(pip_kernel *k, uint32_t result) {
    k->last_error = 0;
    return result;
}

/* ---- virtual addresses ---- */
static inline uint32_t idx_of(const pip_kernel *k, uint32_t va, uint32_t level) {
    return (va >> (PAGE_SHIFT + level * k->index_bits)) & (k->table_size - 1);
}
static inline uint32_t va_page(const pip_kernel *k, uint32_t va) {
    return va & k->va_mask & ~PAGE_MASK;
}
static inline int in_kernel_slot(const pip_kernel *k, uint32_t va) {
    return idx_of(k, va, k->levels - 1) == PIP_KERNEL_INDEX;
}

/* ---- entries ---- */
static inline uint32_t pe_page(uint32_t e) { return e >> PAGE_SHIFT; }
static inline int pe_present(uint32_t e) { return e & PIP_PTE_PRESENT; }
static inline int pe_accessible(uint32_t e) { return (e & PIP_PTE_ACCESSIBLE) != 0; }
static inline uint32_t ve_va(uint32_t e) { return e & ~PAGE_MASK; }
static inline int ve_pd(uint32_t e) { return e & PIP_SH1_PD_FLAG; }
static inline void ve_set_va(uint32_t *e, uint32_t va) { *e = va | (*e & PIP_SH1_PD_FLAG); }
static inline void pe_set_accessible(uint32_t *e, int on) {
    *e = on ? (*e | PIP_PTE_ACCESSIBLE) : (*e & ~(uint32_t)PIP_PTE_ACCESSIBLE);
}

/* ---- partition descriptor slots ---- */
static inline uint32_t pd_word(pip_kernel *k, uint32_t part, uint32_t slot) {
    uint32_t *pd = tbl(k, part);
    return pd ? pd[slot] : 0;
}
static inline uint32_t mmu_root(pip_kernel *k, uint32_t p) { return pe_page(pd_word(k, p, PIP_PD_MMU + 1)); }
static inline uint32_t sh1_root(pip_kernel *k, uint32_t p) { return pe_page(pd_word(k, p, PIP_PD_SH1 + 1)); }
static inline uint32_t sh2_root(pip_kernel *k, uint32_t p) { return pe_page(pd_word(k, p, PIP_PD_SH2 + 1)); }
static inline uint32_t ll_head(pip_kernel *k, uint32_t p) { return pe_page(pd_word(k, p, PIP_PD_LL + 1)); }
static inline uint32_t parent_of(pip_kernel *k, uint32_t p) { return pe_page(pd_word(k, p, PIP_PD_PARENT + 1)); }

/* getTableAddr: the table at `depth` on va's path (depth levels-1 = leaf table), 0 if missing */
static inline uint32_t table_at(pip_kernel *k, uint32_t root, uint32_t va, uint32_t depth) {
    uint32_t t = root;
    for (uint32_t d = 0; d < depth; d++) {
        uint32_t *w = tbl(k, t);
        if (!w) return 0;
        t = pe_page(w[idx_of(k, va, k->levels - 1 - d)]);
    }
    return tbl(k, t) ? t : 0;
}

/* the leaf entry for va in the tree rooted at root, NULL if the leaf table is missing */
static inline uint32_t *leaf(pip_kernel *k, uint32_t root, uint32_t va) {
    uint32_t t = table_at(k, root, va, k->levels - 1);
    return t ? &tbl(k, t)[idx_of(k, va, 0)] : 0;
}

/* word 0 of the page a caller VA maps (the free-page chain, pip-spec §2.3 idxStoreFetch) */
static inline uint32_t fetch_va(pip_kernel *k, uint32_t pte) {
    uint32_t *w = tbl(k, pe_page(pte));
    return w ? va_page(k, w[0]) : 0;
}

/* shared helpers (mmu.c) */
void write_accessible_rec(pip_kernel *k, uint32_t va, uint32_t part, int flag);
void set_accessible_rec(pip_kernel *k, uint32_t part, uint32_t *pte, uint32_t va, int flag);
void give_back(pip_kernel *k, uint32_t caller, uint32_t va);
void init_table(pip_kernel *k, uint32_t page);
int check_child(pip_kernel *k, uint32_t caller, uint32_t va);

/* control.c: contexts and VIDTs (docs/kernel.md §6) */
#define PTE_USABLE (PIP_PTE_PRESENT | PIP_PTE_ACCESSIBLE)
uint32_t *vidt_page(pip_kernel *k, uint32_t part);
int ctx_ok(pip_kernel *k, uint32_t part, uint32_t va, uint32_t need);

/* the checks "hardened" adds (docs/kernel.md §9), inline: under "pip" each is one compare on
 * the hot paths (yield, every interrupt's save, addVAddr, prepare).  hardened_* return a
 * PIP_E_* reason or 0 when the call may go on; policy.c keeps the device pages. */
static inline int hardened(const pip_kernel *k) { return k->policy == PIP_POLICY_HARDENED; }
static inline int is_device(const pip_kernel *k, uint32_t page) {
    return page < k->npages && k->device[page];
}
/* (a) the PTE bits both pages of a context save area need */
static inline uint32_t save_rights(const pip_kernel *k) {
    return PTE_USABLE | (hardened(k) ? PIP_PTE_WRITE : 0);
}
/* (b) addVAddr's rights w, e against the caller's own PTE for the page */
static inline uint32_t hardened_rights(const pip_kernel *k, uint32_t pte, uint32_t w, uint32_t e) {
    return hardened(k) && ((w && !(pte & PIP_PTE_WRITE)) || (e && !(pte & PIP_PTE_EXEC)))
               ? PIP_E_RIGHTS_AMPLIFIED : 0;
}
/* (c) a caller page (its PTE) about to become a kernel structure */
static inline uint32_t hardened_kernel_page(const pip_kernel *k, uint32_t pte) {
    if (!hardened(k)) return 0;
    if (!(pte & PIP_PTE_WRITE)) return PIP_E_NOT_WRITABLE;
    return is_device(k, pe_page(pte)) ? PIP_E_DEVICE_PAGE : 0;
}
/* (d) yield / dispatch to the caller's parent: vectors below the save slots are the kernel's */
static inline uint32_t hardened_vector(pip_kernel *k, uint32_t caller, uint32_t target,
                                       uint32_t vector) {
    return hardened(k) && target == parent_of(k, caller) && vector < k->cli_index
               ? PIP_E_RESERVED_VECTOR : 0;
}

/* ll.c: the configuration-pages linked list (docs/kernel.md §2) */
void ll_init(pip_kernel *k, uint32_t page);
uint32_t ll_find_enough(pip_kernel *k, uint32_t page);
void ll_insert(pip_kernel *k, uint32_t page, uint32_t va, uint32_t pa);
uint32_t ll_find_pa(pip_kernel *k, uint32_t head, uint32_t pa, uint32_t *ll_page);
void ll_remove(pip_kernel *k, uint32_t page, uint32_t index);

#endif

/* introspect.c: walks over a partition's structures (depth-bounded) */
typedef void (*table_visit)(void *ctx, uint32_t page);
typedef void (*leaf_visit)(void *ctx, uint32_t va, uint32_t mmu, const uint32_t *sh1,
                           const uint32_t *sh2);
typedef void (*level_visit)(void *ctx, uint32_t depth, const uint32_t *mmu, const uint32_t *sh1,
                            const uint32_t *sh2);
void walk_tables(pip_kernel *k, uint32_t root, table_visit fn, void *ctx);
void walk_leaves(pip_kernel *k, uint32_t part, level_visit on_table, leaf_visit on_leaf, void *ctx);
void walk_config(pip_kernel *k, uint32_t part, table_visit fn, void *ctx);
