/* partition.c - createPartition and deletePartition (Services.v; docs/kernel.md §5). */
#include "core.h"

enum { DESC, PD, SH1, SH2, LL, NARGS };

bool pip_createPartition(pip_kernel *k, uint32_t caller, uint32_t descChild,
                             uint32_t pdChild, uint32_t sh1Child, uint32_t sh2Child,
                             uint32_t llChild) {
    uint32_t va[NARGS] = {va_page(k, descChild), va_page(k, pdChild), va_page(k, sh1Child),
                          va_page(k, sh2Child), va_page(k, llChild)};
    uint32_t *pte[NARGS], *sh1[NARGS];
    uint32_t mmu = mmu_root(k, caller), s1 = sh1_root(k, caller);

    if (!va[DESC]) return fail(k, PIP_E_NULL_VADDR, 0);
    for (int i = 0; i < NARGS; i++)
        for (int j = i + 1; j < NARGS; j++)
            if (va[i] == va[j]) return fail(k, PIP_E_SAME_VADDR, 0);
    for (int i = 0; i < NARGS; i++)
        if (in_kernel_slot(k, va[i])) return fail(k, PIP_E_KERNEL_SLOT, 0);
    for (int i = PD; i < NARGS; i++)
        if (!va[i]) return fail(k, PIP_E_NULL_VADDR, 0);
    for (int i = 0; i < NARGS; i++)
        if (!(pte[i] = leaf(k, mmu, va[i]))) return fail(k, PIP_E_NOT_MAPPED, 0);
    /* Services.v tests present and accessible in this order: desc, pd, ll, sh1, sh2 */
    static const int order[NARGS] = {DESC, PD, LL, SH1, SH2};
    for (int n = 0; n < NARGS; n++) {
        uint32_t e = *pte[order[n]];
        if (!pe_present(e)) return fail(k, PIP_E_NOT_PRESENT, 0);
        if (!pe_accessible(e)) return fail(k, PIP_E_NOT_ACCESSIBLE, 0);
    }
    for (int i = 0; i < NARGS; i++)
        if (!(sh1[i] = leaf(k, s1, va[i]))) return fail(k, PIP_E_NOT_MAPPED, 0);
    for (int i = 0; i < NARGS; i++)
        if (ve_va(*sh1[i])) return fail(k, PIP_E_DERIVED, 0);
    for (int i = 0; i < NARGS; i++) {                   /* step 6b: hardened only */
        uint32_t why = hardened_kernel_page(k, *pte[i]);
        if (why) return fail(k, why, 0);
    }
    uint32_t *desc = tbl(k, pe_page(*pte[DESC]));
    if (!desc) return fail(k, PIP_E_INCONSISTENT_STATE, 0);

    /* no failure below */
    /* the five pages become kernel pages: inaccessible here and in every ancestor */
    static const int lend_order[NARGS] = {PD, SH1, SH2, LL, DESC};
    for (int n = 0; n < NARGS; n++) {
        int i = lend_order[n];
        set_accessible_rec(k, caller, pte[i], va[i], 0);
    }
    init_table(k, pe_page(*pte[PD]));      /* the kernel entry is the null entry */
    init_table(k, pe_page(*pte[SH1]));
    init_table(k, pe_page(*pte[SH2]));
    ll_init(k, pe_page(*pte[LL]));
    for (int i = 0; i < NARGS; i++) {
        desc[2 * i] = va[i];
        desc[2 * i + 1] = *pte[i] & ~PAGE_MASK;
    }
    desc[PIP_PD_PARENT] = 0;
    desc[PIP_PD_PARENT + 1] = caller << PAGE_SHIFT;
    for (int i = PD; i < NARGS; i++) ve_set_va(sh1[i], va[DESC]);
    *sh1[DESC] |= PIP_SH1_PD_FLAG;
    return ok(k, 1);
}

/* putIndirectionsBack / putShadowsBack for one kernel page of the child */
static void page_back(pip_kernel *k, uint32_t caller, uint32_t va) {
    if (va) give_back(k, caller, va_page(k, va));
}

/* putMappedPagesBack: underive, in the caller, every page the child maps */
static void mapped_pages_back(pip_kernel *k, uint32_t caller, uint32_t table, uint32_t depth,
                              uint32_t base) {
    uint32_t *t = tbl(k, table);
    if (!t) return;
    uint32_t level = k->levels - 1 - depth, s1 = sh1_root(k, caller);
    for (uint32_t i = 0; i < k->table_size; i++) {
        if (depth == 0 && i == PIP_KERNEL_INDEX) continue;
        uint32_t va = base | (i << (PAGE_SHIFT + level * k->index_bits));
        if (level > 0) {
            if (t[i]) mapped_pages_back(k, caller, pe_page(t[i]), depth + 1, va);
        } else if (t[i]) {
            uint32_t *e = leaf(k, s1, va_page(k, t[i]));
            if (e) ve_set_va(e, 0);
        }
    }
}

/* part is child or one of its descendants (parent links, bounded as every walk) */
static int in_subtree(pip_kernel *k, uint32_t part, uint32_t child) {
    for (uint32_t n = 0; n < k->npages && part && part != k->root; n++, part = parent_of(k, part))
        if (part == child) return 1;
    return 0;
}

bool pip_deletePartition(pip_kernel *k, uint32_t caller, uint32_t descChild) {
    uint32_t va = va_page(k, descChild);
    if (!check_child(k, caller, va)) return fail(k, PIP_E_NOT_CHILD, 0);
    uint32_t *pte = leaf(k, mmu_root(k, caller), va);
    if (!pte) return fail(k, PIP_E_NOT_MAPPED, 0);
    uint32_t child = pe_page(*pte);
    uint32_t *desc = tbl(k, child);
    if (!desc) return fail(k, PIP_E_INCONSISTENT_STATE, 0);
    uint32_t *sh1 = leaf(k, sh1_root(k, caller), va);   /* found: check_child read it */
    if (!sh1) return fail(k, PIP_E_INCONSISTENT_STATE, 0);

    /* no failure below */
    /* the running partition leaves the tree with the child: the caller runs (docs/kernel.md §6) */
    if (in_subtree(k, k->current, child)) k->current = caller;
    mapped_pages_back(k, caller, sh2_root(k, child), 0, 0);
    uint32_t ll_va = desc[PIP_PD_LL], ll_page = pe_page(desc[PIP_PD_LL + 1]);
    for (uint32_t n = 0; n < k->npages && ll_page; n++) {
        uint32_t *ll = tbl(k, ll_page);
        if (!ll) break;
        for (uint32_t i = 2; i <= k->table_size - 4; i += 2)
            if (ll[i]) page_back(k, caller, ll[i]);
        page_back(k, caller, ll_va);
        ll_va = ll[k->table_size - 2];
        ll_page = pe_page(ll[k->table_size - 1]);
    }
    *sh1 &= ~(uint32_t)PIP_SH1_PD_FLAG;
    static const uint32_t shadows[4] = {PIP_PD_SELF, PIP_PD_MMU, PIP_PD_SH1, PIP_PD_SH2};
    for (int i = 0; i < 4; i++) page_back(k, caller, desc[shadows[i]]);
    return ok(k, 1);
}
