/* invariants.c - Pip's isolation properties and the `consistency` conjuncts
 * (pip-spec §4.2-4.3; Coq names in pipkernel/abi.py INVARIANTS) as checks over
 * the current state.  Linear in the pages used: per-page stamp arrays replace
 * the set operations of the Coq statements.  Robust to corrupted state: every
 * walk is depth- or npages-bounded and every PA is checked before use. */
#include <stdlib.h>
#include <string.h>
#include "core.h"

typedef struct { uint32_t *v; size_t n, cap; } vec;

static void vpush(vec *a, uint32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) abort();
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = x;
}

enum { MAP_ACCESSIBLE = 1u << 31, MAP_UNDERIVED = 1u << 30, MAP_PAGE = (1u << 30) - 1 };

typedef struct {
    pip_kernel *k;
    uint64_t bad;
    uint32_t n, *part, *up;         /* partitions found, and the index of the one listing each */
    uint32_t *pid;                  /* page -> partition index + 1 */
    uint32_t *cfg_owner, *stamp, *stamp2, *iso_child;
    vec cfg, map;                   /* per-partition lists, cut by cfg_off / map_off */
    size_t *cfg_off, *map_off;
    uint32_t cur;                   /* partition being walked */
} inv;

#define VIOLATED(s, prop) ((s)->bad |= (uint64_t)1 << (prop))

static int page_valid(const pip_kernel *k, uint32_t page) { return page && page < k->npages; }

/* ---- discovery of the tree: getPartitions, isChild, isParent, noDup, noCycle ---- */
static void discover(inv *s) {
    pip_kernel *k = s->k;
    uint32_t cap = k->npages, *kids = malloc(cap * sizeof *kids);
    if (!kids) abort();
    s->part[0] = k->root, s->up[0] = 0, s->pid[k->root] = 1, s->n = 1;
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t p = s->part[i], m = pip_children(k, p, kids, 0, cap);
        for (uint32_t c = 0; c < m && c < cap; c++) {
            uint32_t child = kids[c];
            if (!page_valid(k, child)) { VIOLATED(s, PIP_INV_isParent); continue; }
            if (parent_of(k, child) != p) VIOLATED(s, PIP_INV_isParent);
            if (s->pid[child]) { VIOLATED(s, PIP_INV_noDupPartitionTree); continue; }
            if (s->n == k->npages) continue;
            s->pid[child] = s->n + 1, s->part[s->n] = child, s->up[s->n++] = i;
        }
    }
    free(kids);
    if (parent_of(k, k->root) || pd_word(k, k->root, PIP_PD_PARENT + 1))
        VIOLATED(s, PIP_INV_multiplexerWithoutParent);
    if (!k->current) VIOLATED(s, PIP_INV_currentPartitionIsNotDefaultPage);
    if (!page_valid(k, k->current) || !s->pid[k->current])
        VIOLATED(s, PIP_INV_currentPartitionInPartitionsList);
    for (uint32_t i = 1; i < s->n; i++) {
        uint32_t p = s->part[i], parent = parent_of(k, p);
        if (!page_valid(k, parent) || !s->pid[parent]) VIOLATED(s, PIP_INV_parentInPartitionList);
        if (parent != s->part[s->up[i]]) VIOLATED(s, PIP_INV_isChild);
    }
    for (uint32_t i = 0; i < s->n; i++) {             /* noCycleInPartitionTree */
        uint32_t p = parent_of(k, s->part[i]);
        for (uint32_t step = 0; step <= s->n && page_valid(k, p); step++) {
            if (p == s->part[i]) { VIOLATED(s, PIP_INV_noCycleInPartitionTree); break; }
            p = parent_of(k, p);
        }
    }
}

/* ---- partitionDescriptorEntry ---- */
static void check_descriptor(inv *s, uint32_t p, int is_root) {
    pip_kernel *k = s->k;
    uint32_t *pd = tbl(k, p);
    for (uint32_t slot = 0; slot <= PIP_PD_LL; slot += 2)
        if ((pd[slot] & PAGE_MASK) || (pd[slot] & ~k->va_mask) || !page_valid(k, pe_page(pd[slot + 1])))
            VIOLATED(s, PIP_INV_partitionDescriptorEntry);
    if (!is_root && (pd[PIP_PD_PARENT] || !page_valid(k, pe_page(pd[PIP_PD_PARENT + 1]))))
        VIOLATED(s, PIP_INV_partitionDescriptorEntry);
}

/* ---- per-partition walk ---- */
static void config_visit(void *ctx, uint32_t page) {
    inv *s = ctx;
    if (page >= s->k->npages) return;
    if (s->cfg_owner[page] == s->cur + 1) VIOLATED(s, PIP_INV_noDupConfigPagesList);
    else if (s->cfg_owner[page]) VIOLATED(s, PIP_INV_configTablesAreDifferent);
    else s->cfg_owner[page] = s->cur + 1;
    vpush(&s->cfg, page);
}

static int pe_ok(const pip_kernel *k, uint32_t e) {
    return e == 0 || (pe_present(e) && page_valid(k, pe_page(e)) && !(e & 0xFE0));
}

static void level_visit_fn(void *ctx, uint32_t depth, const uint32_t *tm, const uint32_t *t1,
                           const uint32_t *t2) {
    inv *s = ctx;
    pip_kernel *k = s->k;
    if (!t1) VIOLATED(s, PIP_INV_wellFormedShadows_sh1_);
    if (!t2) VIOLATED(s, PIP_INV_wellFormedShadows_sh2_);
    if (depth + 1 == k->levels) return;              /* leaf entries: leaf_visit_fn */
    for (uint32_t i = 0; i < k->table_size; i++) {
        if (depth == 0 && i == PIP_KERNEL_INDEX) continue;
        uint32_t e = tm[i];
        if (!pe_ok(k, e)) VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_MMU_);
        if (!pe_present(e) != !pe_page(e)) VIOLATED(s, PIP_INV_isPresentNotDefaultIff);
        if (t1) {
            if (!pe_ok(k, t1[i])) VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_sh1_);
            if (!e != !t1[i]) VIOLATED(s, PIP_INV_wellFormedShadows_sh1_);
            if (!e && t1[i]) VIOLATED(s, PIP_INV_wellFormedFstShadowIfNone);
        }
        if (t2) {
            if (!pe_ok(k, t2[i])) VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_sh2_);
            if (!e != !t2[i]) VIOLATED(s, PIP_INV_wellFormedShadows_sh2_);
        }
    }
}

static void leaf_visit_fn(void *ctx, uint32_t va, uint32_t e, const uint32_t *sh1,
                          const uint32_t *sh2) {
    inv *s = ctx;
    pip_kernel *k = s->k;
    uint32_t p = s->part[s->cur];
    if ((e & 0xFE0) || pe_page(e) >= k->npages) VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_MMU_);
    if (!pe_present(e) != !pe_page(e)) VIOLATED(s, PIP_INV_isPresentNotDefaultIff);
    if (sh1 && ((*sh1 & 0xFFE) || (*sh1 & ~k->va_mask)))
        VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_sh1_);
    if (sh2 && ((*sh2 & PAGE_MASK) || (*sh2 & ~k->va_mask)))
        VIOLATED(s, PIP_INV_dataStructurePdSh1Sh2asRoot_sh2_);
    if (!pe_present(e)) {
        if (sh1 && *sh1) VIOLATED(s, PIP_INV_wellFormedFstShadowIfDefaultValues);
        return;
    }
    uint32_t page = pe_page(e);
    if (!page_valid(k, page)) return;
    if (!sh1) VIOLATED(s, PIP_INV_wellFormedFstShadow);
    if (p != k->root && !(sh2 && ve_va(*sh2))) VIOLATED(s, PIP_INV_wellFormedSndShadow);
    if (s->stamp[page] == s->cur + 1) VIOLATED(s, PIP_INV_noDupMappedPagesList);
    s->stamp[page] = s->cur + 1;
    int accessible = pe_accessible(e);
    if (accessible && sh1 && ve_pd(*sh1)) VIOLATED(s, PIP_INV_accessibleVAIsNotPartitionDescriptor);
    if (accessible && p != k->root) {
        uint32_t parent = parent_of(k, p), *up = 0;
        if (sh2 && page_valid(k, parent)) up = leaf(k, mmu_root(k, parent), va_page(k, *sh2));
        uint32_t need = PIP_PTE_PRESENT | PIP_PTE_ACCESSIBLE;
        if (!up || (*up & need) != need || pe_page(*up) != page)
            VIOLATED(s, PIP_INV_accessibleChildPageIsAccessibleIntoParent);
    }
    (void)va;
    vpush(&s->map, page | (accessible ? MAP_ACCESSIBLE : 0) |
                       (sh1 && !ve_va(*sh1) ? MAP_UNDERIVED : 0));
}

/* ---- the three security properties over the per-partition lists ---- */
static void check_family(inv *s, uint32_t i, const uint32_t *first, const uint32_t *next) {
    /* stamp: pages mapped in P; stamp2: mapped and not derived in P */
    for (size_t m = s->map_off[i]; m < s->map_off[i + 1]; m++) {
        uint32_t page = s->map.v[m] & MAP_PAGE;
        s->stamp[page] = i + 1;
        s->stamp2[page] = s->map.v[m] & MAP_UNDERIVED ? i + 1 : 0;
    }
    for (uint32_t j = first[i]; j; j = next[j - 1]) {
        uint32_t c = j - 1;
        for (int list = 0; list < 2; list++) {
            vec *v = list ? &s->map : &s->cfg;
            size_t *off = list ? s->map_off : s->cfg_off;
            for (size_t m = off[c]; m < off[c + 1]; m++) {
                uint32_t page = v->v[m] & (list ? MAP_PAGE : 0xFFFFFFFFu);
                if (s->stamp[page] != i + 1) VIOLATED(s, PIP_INV_verticalSharing);
                if (list && s->stamp2[page] == i + 1) VIOLATED(s, PIP_INV_physicalPageNotDerived);
                uint32_t owner = s->iso_child[page];
                if (owner && owner != j && s->up[owner - 1] == i)
                    VIOLATED(s, PIP_INV_partitionsIsolation);
                s->iso_child[page] = j;
            }
        }
    }
}

uint64_t pip_check_invariants(pip_kernel *k) {
    inv s;
    memset(&s, 0, sizeof s);
    s.k = k;
    size_t np = k->npages;
    s.part = calloc(np, sizeof *s.part), s.up = calloc(np, sizeof *s.up);
    s.pid = calloc(np, sizeof *s.pid), s.cfg_owner = calloc(np, sizeof *s.cfg_owner);
    s.stamp = calloc(np, sizeof *s.stamp), s.stamp2 = calloc(np, sizeof *s.stamp2);
    s.iso_child = calloc(np, sizeof *s.iso_child);
    s.cfg_off = calloc(np + 1, sizeof *s.cfg_off), s.map_off = calloc(np + 1, sizeof *s.map_off);
    uint32_t *first = calloc(np, sizeof *first), *next = calloc(np, sizeof *next);
    if (!s.part || !s.up || !s.pid || !s.cfg_owner || !s.stamp || !s.stamp2 || !s.iso_child ||
        !s.cfg_off || !s.map_off || !first || !next)
        abort();

    discover(&s);
    for (s.cur = 0; s.cur < s.n; s.cur++) {
        uint32_t p = s.part[s.cur];
        check_descriptor(&s, p, p == k->root);
        s.cfg_off[s.cur] = s.cfg.n, s.map_off[s.cur] = s.map.n;
        walk_config(k, p, config_visit, &s);
        walk_leaves(k, p, level_visit_fn, leaf_visit_fn, &s);
    }
    s.cfg_off[s.n] = s.cfg.n, s.map_off[s.n] = s.map.n;

    for (size_t m = 0; m < s.map.n; m++)              /* kernelDataIsolation */
        if ((s.map.v[m] & MAP_ACCESSIBLE) && s.cfg_owner[s.map.v[m] & MAP_PAGE])
            VIOLATED(&s, PIP_INV_kernelDataIsolation);
    for (uint32_t j = s.n; j-- > 1;) {                /* children lists, in discovery order */
        next[j] = first[s.up[j]];
        first[s.up[j]] = j + 1;
    }
    memset(s.stamp, 0, np * sizeof *s.stamp);
    for (uint32_t i = 0; i < s.n; i++) check_family(&s, i, first, next);

    free(s.part), free(s.up), free(s.pid), free(s.cfg_owner), free(s.stamp), free(s.stamp2);
    free(s.iso_child), free(s.cfg_off), free(s.map_off), free(first), free(next);
    free(s.cfg.v), free(s.map.v);
    return s.bad;
}
