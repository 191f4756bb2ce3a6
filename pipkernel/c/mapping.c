/* mapping.c - addVAddr, removeVAddr, mappedInChild (Services.v; docs/kernel.md §5). */
#include "core.h"

/* the child's descriptor page, after checkChild; 0 with the reason set otherwise */
static uint32_t child_desc(pip_kernel *k, uint32_t caller, uint32_t desc_va) {
    uint32_t *pte = leaf(k, mmu_root(k, caller), desc_va);
    if (!pte) return fail(k, PIP_E_NOT_MAPPED, 0);
    if (!pe_present(*pte)) return fail(k, PIP_E_CHILD_NOT_PRESENT, 0);
    return tbl(k, pe_page(*pte)) ? pe_page(*pte) : fail(k, PIP_E_INCONSISTENT_STATE, 0);
}

bool pip_addVAddr(pip_kernel *k, uint32_t caller, uint32_t vaParent, uint32_t descChild,
                      uint32_t vaChild, uint32_t r, uint32_t w, uint32_t e) {
    uint32_t vp = va_page(k, vaParent), desc = va_page(k, descChild), vc = va_page(k, vaChild);
    if (!vp || !desc) return fail(k, PIP_E_NULL_VADDR, 0);
    if (in_kernel_slot(k, vp) || in_kernel_slot(k, vc)) return fail(k, PIP_E_KERNEL_SLOT, 0);
    if (!r) return fail(k, PIP_E_BAD_RIGHTS, 0);   /* checkRights: see docs/kernel.md */
    if (!check_child(k, caller, desc)) return fail(k, PIP_E_NOT_CHILD, 0);
    uint32_t *sh1 = leaf(k, sh1_root(k, caller), vp);
    if (!sh1) return fail(k, PIP_E_NOT_MAPPED, 0);
    uint32_t *pte = leaf(k, mmu_root(k, caller), vp);
    if (!pte) return fail(k, PIP_E_NOT_MAPPED, 0);
    uint32_t child = child_desc(k, caller, desc);
    if (!child) return 0;
    uint32_t *cpte = leaf(k, mmu_root(k, child), vc);
    if (!cpte) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
    if (ve_va(*sh1)) return fail(k, PIP_E_DERIVED, 0);
    if (!pe_accessible(*pte)) return fail(k, PIP_E_NOT_ACCESSIBLE, 0);
    if (!pe_present(*pte)) return fail(k, PIP_E_NOT_PRESENT, 0);
    uint32_t why = hardened_rights(k, *pte, w, e);
    if (why) return fail(k, why, 0);
    if (pe_present(*cpte)) return fail(k, PIP_E_CHILD_VADDR_PRESENT, 0);
    uint32_t *csh2 = leaf(k, sh2_root(k, child), vc);
    if (!csh2) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);

    /* no failure below */
    *csh2 = vp;
    ve_set_va(sh1, desc);
    *cpte = (*pte & ~PAGE_MASK) | PIP_PTE_PRESENT | PIP_PTE_ACCESSIBLE | PIP_PTE_READ |
            (w ? PIP_PTE_WRITE : 0) | (e ? PIP_PTE_EXEC : 0);
    return ok(k, 1);
}

uint32_t pip_mappedInChild(pip_kernel *k, uint32_t caller, uint32_t vaParent) {
    uint32_t va = va_page(k, vaParent);
    uint32_t *pte = leaf(k, mmu_root(k, caller), va);
    if (!pte) return fail(k, PIP_E_NOT_MAPPED, 0);
    if (!pe_present(*pte)) return fail(k, PIP_E_NOT_PRESENT, 0);
    if (!pe_accessible(*pte)) return fail(k, PIP_E_NOT_ACCESSIBLE, 0);
    uint32_t *sh1 = leaf(k, sh1_root(k, caller), va);
    if (!sh1) return fail(k, PIP_E_NOT_MAPPED, 0);
    /* no failure below */
    return ok(k, ve_va(*sh1));                  /* reads only */
}

bool pip_removeVAddr(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild) {
    uint32_t desc = va_page(k, descChild), vc = va_page(k, vaChild);
    if (in_kernel_slot(k, vc)) return fail(k, PIP_E_KERNEL_SLOT, 0);
    if (!check_child(k, caller, desc)) return fail(k, PIP_E_NOT_CHILD, 0);
    uint32_t child = child_desc(k, caller, desc);
    if (!child) return 0;
    uint32_t *cpte = leaf(k, mmu_root(k, child), vc);
    if (!cpte) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
    uint32_t *csh1 = leaf(k, sh1_root(k, child), vc);
    if (!csh1) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
    if (!pe_present(*cpte)) return fail(k, PIP_E_CHILD_PAGE_NOT_PRESENT, 0);
    if (!pe_accessible(*cpte)) return fail(k, PIP_E_CHILD_PAGE_NOT_ACCESSIBLE, 0);
    if (ve_va(*csh1)) return fail(k, PIP_E_CHILD_PAGE_DERIVED, 0);
    uint32_t *csh2 = leaf(k, sh2_root(k, child), vc);
    if (!csh2) return fail(k, PIP_E_CHILD_TABLE_MISSING, 0);
    uint32_t *sh1 = leaf(k, sh1_root(k, caller), va_page(k, *csh2));
    if (!sh1) return fail(k, PIP_E_INCONSISTENT_STATE, 0);

    /* no failure below */
    *cpte = 0;
    *csh2 = 0;
    ve_set_va(sh1, 0);
    return ok(k, 1);
}
