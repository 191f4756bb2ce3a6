/* introspect.c - the observable state: children, mappings, configuration
 * pages (pip-spec §4.1 getChildren, getMappedPages, getConfigPages). */
#include "core.h"

static void tables_rec(pip_kernel *k, uint32_t page, uint32_t depth, table_visit fn, void *ctx) {
    uint32_t *t = tbl(k, page);
    if (!t) return;
    fn(ctx, page);
    if (depth + 1 == k->levels) return;
    for (uint32_t i = 0; i < k->table_size; i++)
        if (t[i] && !(depth == 0 && i == PIP_KERNEL_INDEX))
            tables_rec(k, pe_page(t[i]), depth + 1, fn, ctx);
}

/* getIndirections: the root and every table below it (the kernel slot skipped) */
void walk_tables(pip_kernel *k, uint32_t root, table_visit fn, void *ctx) {
    tables_rec(k, root, 0, fn, ctx);
}

/* getConfigPages: PD, the three trees, the LL pages */
void walk_config(pip_kernel *k, uint32_t part, table_visit fn, void *ctx) {
    if (!tbl(k, part)) return;
    fn(ctx, part);
    walk_tables(k, mmu_root(k, part), fn, ctx);
    walk_tables(k, sh1_root(k, part), fn, ctx);
    walk_tables(k, sh2_root(k, part), fn, ctx);
    uint32_t page = ll_head(k, part);
    for (uint32_t n = 0; n < k->npages && tbl(k, page); n++) {
        fn(ctx, page);
        page = pe_page(tbl(k, page)[k->table_size - 1]);
    }
}

static void leaves_rec(pip_kernel *k, uint32_t m, uint32_t s1, uint32_t s2, uint32_t depth,
                       uint32_t base, level_visit on_table, leaf_visit on_leaf, void *ctx) {
    const uint32_t *tm = tbl(k, m), *t1 = tbl(k, s1), *t2 = tbl(k, s2);
    if (!tm) return;
    if (on_table) on_table(ctx, depth, tm, t1, t2);
    uint32_t level = k->levels - 1 - depth;
    for (uint32_t i = 0; i < k->table_size; i++) {
        if (depth == 0 && i == PIP_KERNEL_INDEX) continue;
        uint32_t va = base | i << (PAGE_SHIFT + level * k->index_bits);
        if (level == 0)
            on_leaf(ctx, va, tm[i], t1 ? &t1[i] : 0, t2 ? &t2[i] : 0);
        else if (tm[i])
            leaves_rec(k, pe_page(tm[i]), t1 ? pe_page(t1[i]) : 0, t2 ? pe_page(t2[i]) : 0,
                       depth + 1, va, on_table, on_leaf, ctx);
    }
}

/* every leaf entry of the MMU tree, with the sh1 / sh2 entries at the same VA */
void walk_leaves(pip_kernel *k, uint32_t part, level_visit on_table, leaf_visit on_leaf,
                 void *ctx) {
    leaves_rec(k, mmu_root(k, part), sh1_root(k, part), sh2_root(k, part), 0, 0, on_table,
               on_leaf, ctx);
}

typedef struct { uint32_t *a, *b, n, cap; } pairs;

static void push(pairs *p, uint32_t a, uint32_t b) {
    if (p->n < p->cap) {
        p->a[p->n] = a;
        if (p->b) p->b[p->n] = b;
    }
    p->n++;
}

static void child_leaf(void *ctx, uint32_t va, uint32_t mmu, const uint32_t *sh1,
                       const uint32_t *sh2) {
    (void)sh2;
    if (sh1 && ve_pd(*sh1) && pe_present(mmu)) push(ctx, pe_page(mmu), va);
}

uint32_t pip_children(pip_kernel *k, uint32_t part, uint32_t *pds, uint32_t *vas, uint32_t cap) {
    pairs p = {pds, vas, 0, cap};
    walk_leaves(k, part, 0, child_leaf, &p);
    return p.n;
}

uint32_t pip_parent(pip_kernel *k, uint32_t part) { return parent_of(k, part); }

static void mapping_leaf(void *ctx, uint32_t va, uint32_t mmu, const uint32_t *sh1,
                         const uint32_t *sh2) {
    (void)sh1, (void)sh2;
    if (pe_present(mmu)) push(ctx, va, mmu);
}

uint32_t pip_mappings(pip_kernel *k, uint32_t part, uint32_t *vas, uint32_t *ptes, uint32_t cap) {
    pairs p = {vas, ptes, 0, cap};
    walk_leaves(k, part, 0, mapping_leaf, &p);
    return p.n;
}

static void config_page(void *ctx, uint32_t page) { push(ctx, page, 0); }

uint32_t pip_config_pages(pip_kernel *k, uint32_t part, uint32_t *pages, uint32_t cap) {
    pairs p = {pages, 0, 0, cap};
    walk_config(k, part, config_page, &p);
    return p.n;
}

/* part is reachable from the root: each step up, the parent maps part's PD at
 * the VA recorded in PD slot 0 and flags it as a child (bounded by npages) */
int pip_is_partition(pip_kernel *k, uint32_t part) {
    for (uint32_t n = 0; n < k->npages; n++) {
        if (part == k->root) return 1;
        if (!tbl(k, part)) return 0;
        uint32_t parent = parent_of(k, part), va = pd_word(k, part, PIP_PD_SELF);
        uint32_t *pte = leaf(k, mmu_root(k, parent), va);
        if (!tbl(k, parent) || !pte || pe_page(*pte) != part || !check_child(k, parent, va))
            return 0;
        part = parent;
    }
    return 0;
}
