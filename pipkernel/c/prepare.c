/* prepare.c - countToMap, prepare and collect: the services that move kernel
 * tables between a parent and its child (Services.v; docs/kernel.md §5).
 * prepare and collect change one MMU level at a time and keep the upper
 * levels' changes when a lower level fails, as Pip does. */
#include "core.h"

uint32_t pip_countToMap(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild) {
    uint32_t desc = va_page(k, descChild), va = va_page(k, vaChild);
    /* not in Pip, whose kernel entry is a real table: nothing is ever needed there */
    if (in_kernel_slot(k, va)) return fail(k, PIP_E_KERNEL_SLOT, 0);
    uint32_t *pte = leaf(k, mmu_root(k, caller), desc);
    if (!pte) return fail(k, PIP_E_NOT_MAPPED, 0);
    /* not in Pip: reading a non-descriptor page as a descriptor is undefined there */
    if (!check_child(k, caller, desc)) return fail(k, PIP_E_NOT_CHILD, 0);
    uint32_t child = pe_page(*pte), table = mmu_root(k, child);
    /* reads only: a failure below (INCONSISTENT_STATE) changes nothing either */
    for (uint32_t l = k->levels - 1; l >= 1; l--) {
        uint32_t *t = tbl(k, table);
        if (!t) return fail(k, PIP_E_INCONSISTENT_STATE, 0);
        uint32_t e = t[idx_of(k, va, l)];
        if (!e) return ok(k, 3 * l + (ll_find_enough(k, ll_head(k, child)) ? 0 : 1));
        table = pe_page(e);
    }
    return ok(k, 0);
}

/* a page offered to the kernel: mapped, present and accessible in the caller */
static uint32_t offered(pip_kernel *k, uint32_t caller, uint32_t va, uint32_t **pte) {
    *pte = leaf(k, mmu_root(k, caller), va);
    if (!*pte) return PIP_E_NOT_MAPPED;
    if (!pe_accessible(**pte)) return PIP_E_NOT_ACCESSIBLE;
    if (!pe_present(**pte)) return PIP_E_NOT_PRESENT;
    return 0;
}

#define PREPARE_FAIL(reason, va) fail(k, (reason), (va))

uint32_t pip_prepare(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild,
                     uint32_t fstVA) {
    uint32_t desc = va_page(k, descChild), va = va_page(k, vaChild), fst = va_page(k, fstVA);
    if (in_kernel_slot(k, va)) return PREPARE_FAIL(PIP_E_KERNEL_SLOT, fst);   /* as countToMap */
    if (!check_child(k, caller, desc)) return PREPARE_FAIL(PIP_E_NOT_CHILD, fst);
    uint32_t *dpte = leaf(k, mmu_root(k, caller), desc);
    if (!dpte) return PREPARE_FAIL(PIP_E_NOT_MAPPED, fst);
    if (!pe_present(*dpte)) return PREPARE_FAIL(PIP_E_CHILD_NOT_PRESENT, fst);
    uint32_t child = pe_page(*dpte);
    uint32_t *cdesc = tbl(k, child);
    if (!cdesc) return PREPARE_FAIL(PIP_E_INCONSISTENT_STATE, fst);
    uint32_t mmu = mmu_root(k, child), s1 = sh1_root(k, child), s2 = sh2_root(k, child);
    uint32_t cur = ll_head(k, child), csh1 = sh1_root(k, caller), max = k->table_size - 1;

    for (uint32_t l = k->levels - 1;; l--) {                    /* prepareRec */
        if (l == 0) return ok(k, fst | 1);
        if (!fst) return PREPARE_FAIL(PIP_E_NULL_VADDR, fst);    /* before looking at the level */
        uint32_t *m = tbl(k, mmu), *a = tbl(k, s1), *b = tbl(k, s2), idx = idx_of(k, va, l);
        if (!m || !a || !b) return PREPARE_FAIL(PIP_E_INCONSISTENT_STATE, fst);
        if (m[idx]) {
            mmu = pe_page(m[idx]), s1 = pe_page(a[idx]), s2 = pe_page(b[idx]);
            continue;
        }
        uint32_t *p1, *p2, *p3, *p4, *q1, *q2, *q3, *q4, why, snd, trd, next;
        if ((why = offered(k, caller, fst, &p1))) return PREPARE_FAIL(why, fst);
        if (!(snd = fetch_va(k, *p1))) return PREPARE_FAIL(PIP_E_NULL_VADDR, fst);
        if ((why = offered(k, caller, snd, &p2)))   /* Pip returns sndVA when not present */
            return PREPARE_FAIL(why, why == PIP_E_NOT_PRESENT ? snd : fst);
        if (!(trd = fetch_va(k, *p2))) return PREPARE_FAIL(PIP_E_NULL_VADDR, fst);
        if (fst == snd || fst == trd || snd == trd) return PREPARE_FAIL(PIP_E_SAME_VADDR, fst);
        if (!(q1 = leaf(k, csh1, fst)) || !(q2 = leaf(k, csh1, snd)))
            return PREPARE_FAIL(PIP_E_NOT_MAPPED, fst);
        if ((why = offered(k, caller, trd, &p3)))
            return PREPARE_FAIL(why, why == PIP_E_NOT_PRESENT ? trd : fst);
        if (!(q3 = leaf(k, csh1, trd))) return PREPARE_FAIL(PIP_E_NOT_MAPPED, fst);
        if (ve_va(*q1) || ve_va(*q2) || ve_va(*q3)) return PREPARE_FAIL(PIP_E_DERIVED, fst);
        if ((why = hardened_kernel_page(k, *p1)) || (why = hardened_kernel_page(k, *p2)) ||
            (why = hardened_kernel_page(k, *p3)))
            return PREPARE_FAIL(why, fst);

        uint32_t ll = ll_find_enough(k, cur);
        if (!ll) {                                   /* a 4th page becomes the new LL head */
            uint32_t fth = fetch_va(k, *p3);
            if (!fth) return PREPARE_FAIL(PIP_E_NULL_VADDR, fst);
            if (fth == fst || fth == snd || fth == trd) return PREPARE_FAIL(PIP_E_SAME_VADDR, fst);
            if (!(p4 = leaf(k, mmu_root(k, caller), fth))) return PREPARE_FAIL(PIP_E_NOT_MAPPED, fst);
            if (!pe_present(*p4)) return PREPARE_FAIL(PIP_E_NOT_PRESENT, fst);
            if (!pe_accessible(*p4)) return PREPARE_FAIL(PIP_E_NOT_ACCESSIBLE, fst);
            if (!(q4 = leaf(k, csh1, fth))) return PREPARE_FAIL(PIP_E_NOT_MAPPED, fst);
            if (ve_va(*q4)) return PREPARE_FAIL(PIP_E_DERIVED, fst);
            if ((why = hardened_kernel_page(k, *p4))) return PREPARE_FAIL(why, fst);
            /* no failure below in this level (a lower level may still fail: its upper
             * levels' changes stay, as in Pip) */
            next = fetch_va(k, *p4);
            set_accessible_rec(k, caller, p4, fth, 0);
            ve_set_va(q4, fth);
            ll = pe_page(*p4);                       /* PushNewPageOntoLL */
            ll_init(k, ll);
            uint32_t *nl = tbl(k, ll);
            if (nl) {                                /* else corrupt: the words are lost */
                nl[max - 1] = cdesc[PIP_PD_LL];
                nl[max] = cdesc[PIP_PD_LL + 1];
            }
            cdesc[PIP_PD_LL] = fth;
            cdesc[PIP_PD_LL + 1] = ll << PAGE_SHIFT;
        } else {
            /* no failure below in this level (as above) */
            next = fetch_va(k, *p3);
        }
        uint32_t pa1 = *p1 & ~PAGE_MASK, pa2 = *p2 & ~PAGE_MASK, pa3 = *p3 & ~PAGE_MASK;
        set_accessible_rec(k, caller, p1, fst, 0);
        set_accessible_rec(k, caller, p2, snd, 0);
        set_accessible_rec(k, caller, p3, trd, 0);
        init_table(k, pe_page(pa1));
        init_table(k, pe_page(pa2));
        init_table(k, pe_page(pa3));
        ve_set_va(q1, fst);
        ve_set_va(q2, snd);
        ve_set_va(q3, trd);
        m[idx] = pa1 | PIP_PTE_ALL;
        a[idx] = pa2 | PIP_PTE_ALL;
        b[idx] = pa3 | PIP_PTE_ALL;
        ll_insert(k, ll, fst, pa1);
        ll_insert(k, ll, snd, pa2);
        ll_insert(k, ll, trd, pa3);
        mmu = pe_page(pa1), s1 = pe_page(pa2), s2 = pe_page(pa3);
        cur = ll;
        fst = next;
    }
}

static int table_empty(pip_kernel *k, uint32_t page) {
    uint32_t *t = tbl(k, page);
    for (uint32_t i = 0; i < k->table_size; i++)
        if (t[i]) return 0;
    return 1;
}

bool pip_collect(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaToCollect) {
    uint32_t desc = va_page(k, descChild), va = va_page(k, vaToCollect);
    if (in_kernel_slot(k, va)) return fail(k, PIP_E_KERNEL_SLOT, 0);
    if (!check_child(k, caller, desc)) return fail(k, PIP_E_NOT_CHILD, 0);
    uint32_t *dpte = leaf(k, mmu_root(k, caller), desc);
    if (!dpte) return fail(k, PIP_E_NOT_MAPPED, 0);
    uint32_t child = pe_page(*dpte);
    if (!tbl(k, child)) return fail(k, PIP_E_INCONSISTENT_STATE, 0);
    uint32_t roots[3] = {mmu_root(k, child), sh1_root(k, child), sh2_root(k, child)};

    for (uint32_t d = k->levels - 1; d >= 1; d--) {
        uint32_t t[3], up[3], ll[3], at[3], vas[3];
        if (!(t[0] = table_at(k, roots[0], va, d))) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
        if (!table_empty(k, t[0])) return ok(k, 1);
        for (int i = 1; i < 3; i++)
            if (!(t[i] = table_at(k, roots[i], va, d))) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
        for (int i = 0; i < 3; i++) {
            up[i] = table_at(k, roots[i], va, d - 1);
            at[i] = ll_find_pa(k, ll_head(k, child), t[i] << PAGE_SHIFT, &ll[i]);
            if (!up[i] || !at[i]) return fail(k, PIP_E_INCONSISTENT_STATE, 0);
            vas[i] = va_page(k, tbl(k, ll[i])[at[i]]);
        }
        /* no failure below at this depth (an upper depth may still fail: the tables
         * collected below it stay collected, as in Pip) */
        for (int i = 0; i < 3; i++) {
            ll_remove(k, ll[i], at[i]);
            tbl(k, up[i])[idx_of(k, va, k->levels - d)] = 0;
        }
        for (int i = 0; i < 3; i++) give_back(k, caller, vas[i]);
    }
    return ok(k, 1);
}
