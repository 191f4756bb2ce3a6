/* properties.c - the properties beyond Pip's (docs/kernel.md §10; names in
 * pipkernel/abi.py EXTRA_PROPERTIES) as checks over the current state.  Linear in
 * the pages used, as invariants.c: the partitions are found breadth first during
 * one walk of each one's leaves, which also stamps the pages it maps writable;
 * its children's configuration pages are then checked against those stamps. */
#include <stdlib.h>
#include "core.h"

typedef struct {
    pip_kernel *k;
    uint64_t bad;
    uint32_t n, *part, *up;     /* partitions found, breadth first, and their parents */
    uint8_t *seen;              /* page -> found as a partition */
    uint32_t *writable;         /* page -> stamp of a partition mapping it with W */
    uint32_t stamp;             /* index + 1 of the partition walked (0: none yet) */
} xprop;

#define VIOLATED(s, prop) ((s)->bad |= (uint64_t)1 << (prop))

/* one leaf entry of part[stamp - 1]: children, W stamps, rightsMonotonicity */
static void leaf_fn(void *ctx, uint32_t va, uint32_t e, const uint32_t *sh1, const uint32_t *sh2) {
    xprop *s = ctx;
    pip_kernel *k = s->k;
    uint32_t page = pe_page(e), parent = s->up[s->stamp - 1];
    (void)va;
    if (!pe_present(e) || page >= k->npages) return;
    if (e & PIP_PTE_WRITE) s->writable[page] = s->stamp;
    if (sh1 && ve_pd(*sh1) && page && !s->seen[page] && s->n < k->npages) {
        s->seen[page] = 1;
        s->part[s->n] = page, s->up[s->n++] = s->part[s->stamp - 1];
    }
    if (!parent || !sh2) return;
    uint32_t *above = leaf(k, mmu_root(k, parent), va_page(k, *sh2));
    if (above && pe_present(*above) && (e & ~*above & (PIP_PTE_WRITE | PIP_PTE_EXEC)))
        VIOLATED(s, PIP_XPROP_rightsMonotonicity);
}

/* one configuration page of a child of part[stamp - 1] (of the root when stamp is 0) */
static void config_fn(void *ctx, uint32_t page) {
    xprop *s = ctx;
    if (is_device(s->k, page)) VIOLATED(s, PIP_XPROP_noDeviceConfigPages);
    if (s->stamp && s->writable[page] != s->stamp)
        VIOLATED(s, PIP_XPROP_configPagesWritableInParent);
}

/* saveSlotsWritable: the CLI / STI save slots of part's own VIDT */
static void save_slots(xprop *s, uint32_t part) {
    pip_kernel *k = s->k;
    uint32_t *vidt = vidt_page(k, part), slot[2] = {k->cli_index, k->sti_index};
    for (int i = 0; vidt && i < 2; i++) {
        uint32_t va = vidt[slot[i]] & k->va_mask;
        if (va && !ctx_ok(k, part, va, PTE_USABLE | PIP_PTE_WRITE))
            VIOLATED(s, PIP_XPROP_saveSlotsWritable);
    }
}

uint64_t pip_check_extra_properties(pip_kernel *k) {
    xprop s = {.k = k};
    size_t np = k->npages;
    s.part = calloc(np, sizeof *s.part), s.up = calloc(np, sizeof *s.up);
    s.seen = calloc(np, 1), s.writable = calloc(np, sizeof *s.writable);
    if (!s.part || !s.up || !s.seen || !s.writable) abort();

    s.part[0] = k->root, s.seen[k->root] = 1, s.n = 1;
    walk_config(k, k->root, config_fn, &s);
    for (uint32_t i = 0; i < s.n; i++) {
        uint32_t first_child = s.n;
        s.stamp = i + 1;
        walk_leaves(k, s.part[i], 0, leaf_fn, &s);
        save_slots(&s, s.part[i]);
        for (uint32_t c = first_child; c < s.n; c++) walk_config(k, s.part[c], config_fn, &s);
    }
    free(s.part), free(s.up), free(s.seen), free(s.writable);
    return s.bad;
}
