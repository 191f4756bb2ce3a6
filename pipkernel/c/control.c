/* control.c - yield, the v0.2 dispatch / resume expressed on it, and the
 * interrupt state (pip-spec §2.4-2.6; docs/kernel.md §6). */
#include <string.h>
#include "core.h"

#define CTX_BYTES (PIP_CONTEXT_WORDS * 4)

static uint32_t yield_fail(pip_kernel *k, uint32_t reason) {
    k->last_error = reason;
    return pip_yield_code(reason);
}

/* the VIDT page of part if present and accessible there, else 0 */
uint32_t *vidt_page(pip_kernel *k, uint32_t part) {
    uint32_t *pte = leaf(k, mmu_root(k, part), pip_vidt_va(k));
    return pte && (*pte & PTE_USABLE) == PTE_USABLE ? tbl(k, pe_page(*pte)) : 0;
}

static int page_has(pip_kernel *k, uint32_t part, uint32_t va, uint32_t need) {
    uint32_t *pte = leaf(k, mmu_root(k, part), va);
    return pte && (*pte & need) == need && tbl(k, pe_page(*pte));
}

/* the pages of a context's first and last byte carry every PTE bit of need, no wrap-around:
 * "ctx ok" with need = PTE_USABLE, "ctx writable" with PTE_USABLE | W */
int ctx_ok(pip_kernel *k, uint32_t part, uint32_t va, uint32_t need) {
    uint64_t last = (uint64_t)va + CTX_BYTES - 1;
    return last <= k->va_mask && page_has(k, part, va, need) &&
           page_has(k, part, (uint32_t)last, need);
}

/* copy a context between cpu-format words and part's memory (after ctx_ok) */
static void ctx_copy(pip_kernel *k, uint32_t part, uint32_t va, uint32_t *words, int to_memory) {
    uint8_t *bytes = (uint8_t *)words;
    uint32_t first = (1u << PAGE_SHIFT) - (va & PAGE_MASK);
    if (first > CTX_BYTES) first = CTX_BYTES;
    for (uint32_t done = 0; done < CTX_BYTES;) {
        uint32_t at = va + done, n = done ? CTX_BYTES - done : first;
        uint32_t *pte = leaf(k, mmu_root(k, part), at);
        uint8_t *mem = k->mem + (*pte & ~PAGE_MASK) + (at & PAGE_MASK);
        if (to_memory) memcpy(mem, bytes + done, n);
        else memcpy(bytes + done, mem, n);
        done += n;
    }
}

static void set_state(pip_kernel *k, uint32_t part, uint32_t state) {
    uint32_t *pd = tbl(k, part);
    if (pd) pd[PIP_PD_INT_STATE] = state;
}

static uint32_t get_state(pip_kernel *k, uint32_t part) { return pd_word(k, part, PIP_PD_INT_STATE); }

/* the child named by va in caller, present and PD-flagged; 0 otherwise */
static uint32_t child_named(pip_kernel *k, uint32_t caller, uint32_t va) {
    uint32_t *pte = leaf(k, mmu_root(k, caller), va);
    if (!pte || !pe_present(*pte) || !check_child(k, caller, va)) return 0;
    return tbl(k, pe_page(*pte)) ? pe_page(*pte) : 0;
}

/* load ctx_va of target into the CPU and make target the current partition */
static void switch_to(pip_kernel *k, uint32_t target, uint32_t ctx_va) {
    k->current = target;
    ctx_copy(k, target, ctx_va, k->cpu, 0);
    set_state(k, target, k->cpu[PIP_CTX_PIPFLAGS]);
}

/* yield's checks and switch; *target receives the partition now running.  `interrupted`
 * (dispatch): under "hardened" a save area that is ctx ok but not writable is skipped, as
 * for the saves of interrupted partitions, instead of refusing the call (§9 a). */
static uint32_t do_yield(pip_kernel *k, uint32_t caller, uint32_t callee, uint32_t tint,
                         uint32_t save_idx, uint32_t on_yield, uint32_t on_wake,
                         int interrupted, uint32_t *target) {
    if (tint >= k->table_size - 1) return yield_fail(k, PIP_E_INVALID_INT_LEVEL);
    if (save_idx >= k->table_size - 1) return yield_fail(k, PIP_E_INVALID_CTX_SAVE_INDEX);
    callee = va_page(k, callee);
    if (!callee) {
        if (caller == k->root) return yield_fail(k, PIP_E_ROOT_CALLER);
        *target = parent_of(k, caller);
    } else if (!(*target = child_named(k, caller, callee))) {
        return yield_fail(k, PIP_E_INVALID_CHILD);
    }
    uint32_t why = hardened_vector(k, caller, *target, tint);      /* step 3b */
    if (why) return yield_fail(k, why);
    uint32_t *caller_vidt = vidt_page(k, caller), *target_vidt;
    if (!caller_vidt) return yield_fail(k, PIP_E_UNAVAILABLE_CALLER_VIDT);
    if (!(target_vidt = vidt_page(k, *target)))
        return yield_fail(k, PIP_E_UNAVAILABLE_TARGET_VIDT);
    uint32_t ctx = target_vidt[tint] & k->va_mask;
    if (!ctx_ok(k, *target, ctx, PTE_USABLE)) return yield_fail(k, PIP_E_UNAVAILABLE_TARGET_CTX);
    uint32_t save = caller_vidt[save_idx] & k->va_mask;
    if (save && !ctx_ok(k, caller, save, save_rights(k))) {   /* one walk under pip */
        if (!interrupted || !ctx_ok(k, caller, save, PTE_USABLE))
            return yield_fail(k, PIP_E_CALLER_CONTEXT_SAVE);
        save = 0;                       /* hardened dispatch: not writable, the save skipped */
    }
    /* no failure below */
    if (save) {
        k->cpu[PIP_CTX_PIPFLAGS] = on_wake;
        k->cpu[PIP_CTX_VALID] = 1;
        ctx_copy(k, caller, save, k->cpu, 1);
    }
    set_state(k, caller, on_yield);
    switch_to(k, *target, ctx);
    return ok(k, 0);
}

uint32_t pip_yield(pip_kernel *k, uint32_t caller, uint32_t calleeDesc, uint32_t targetInterrupt,
                   uint32_t callerCtxSaveIndex, uint32_t flagsOnYield, uint32_t flagsOnWake) {
    uint32_t target;
    return do_yield(k, caller, calleeDesc, targetInterrupt, callerCtxSaveIndex, flagsOnYield,
                    flagsOnWake, 0, &target);
}

static uint32_t save_index(pip_kernel *k, uint32_t part) {
    return get_state(k, part) == 0 ? k->cli_index : k->sti_index;
}

/* source's identity for target: its PD VA in target when target is its parent, else 0 */
static uint32_t identity(pip_kernel *k, uint32_t source, uint32_t target) {
    return source != target && parent_of(k, source) == target ? pd_word(k, source, PIP_PD_SELF)
                                                              : 0;
}

/* r0-r3 of a handler the kernel enters (docs/abi.md): vector, source, then two words */
static void event_registers(pip_kernel *k, uint32_t vector, uint32_t source, uint32_t a,
                            uint32_t b) {
    k->cpu[PIP_CTX_REGS + 0] = vector;
    k->cpu[PIP_CTX_REGS + 1] = source;
    k->cpu[PIP_CTX_REGS + 2] = a;
    k->cpu[PIP_CTX_REGS + 3] = b;
}

uint32_t pip_dispatch(pip_kernel *k, uint32_t caller, uint32_t descriptor, uint32_t vint,
                      uint32_t notify, uint32_t data1, uint32_t data2) {
    (void)notify;   /* chose a v0.2 VIDT buffer; the current layout has slots 48/49 */
    uint32_t target, state = get_state(k, caller);
    uint32_t code = do_yield(k, caller, descriptor, vint, save_index(k, caller), state, state,
                             1, &target);
    if (code) return code;
    /* no failure below (none in do_yield after its switch either) */
    uint32_t from = identity(k, caller, target);
    if (hardened(k)) {                   /* as the kernel's own deliveries (docs/kernel.md §9 d) */
        event_registers(k, vint, from, data1, data2);
    } else {
        k->cpu[PIP_CTX_REGS + 0] = data1;
        k->cpu[PIP_CTX_REGS + 1] = data2;
        k->cpu[PIP_CTX_REGS + 2] = from;
    }
    set_state(k, target, 0);
    return 0;
}

uint32_t pip_resume(pip_kernel *k, uint32_t caller, uint32_t descriptor, uint32_t pipflags) {
    uint32_t target, *target_vidt;
    if (descriptor == PIP_RESUME_SELF) target = caller;
    else if (!va_page(k, descriptor)) target = caller == k->root ? caller : parent_of(k, caller);
    else if (!(target = child_named(k, caller, va_page(k, descriptor))))
        return yield_fail(k, PIP_E_INVALID_CHILD);
    if (!(target_vidt = vidt_page(k, target))) return yield_fail(k, PIP_E_UNAVAILABLE_TARGET_VIDT);
    uint32_t ctx = target_vidt[save_index(k, target)] & k->va_mask;
    if (!ctx_ok(k, target, ctx, PTE_USABLE)) return yield_fail(k, PIP_E_UNAVAILABLE_TARGET_CTX);
    /* no failure below */
    switch_to(k, target, ctx);
    set_state(k, target, pipflags);
    return ok(k, 0);
}

uint32_t pip_get_int_state(pip_kernel *k, uint32_t caller, uint32_t descChild) {
    uint32_t child = child_named(k, caller, va_page(k, descChild));
    if (!child) return fail(k, PIP_E_NOT_CHILD, PIP_GET_INT_STATE_ERROR);
    /* no failure below */
    return ok(k, get_state(k, child));          /* reads only */
}

void pip_set_int_state(pip_kernel *k, uint32_t caller, uint32_t state) {
    /* no failure below: it cannot fail */
    set_state(k, caller, state);
    k->last_error = 0;
}

/* ---- Pip's interrupt model (pip-spec §5; docs/abi.md "Delivery") ---- */

/* save the running partition's context in its VIDT slot 48/49 (skipped if unusable;
 * under "hardened", also if not writable) */
static void save_interrupted(pip_kernel *k) {
    uint32_t p = k->current, *v = vidt_page(k, p);
    if (!v) return;
    uint32_t save = v[save_index(k, p)] & k->va_mask;
    if (!save || !ctx_ok(k, p, save, save_rights(k))) return;
    k->cpu[PIP_CTX_PIPFLAGS] = get_state(k, p);
    k->cpu[PIP_CTX_VALID] = 1;
    ctx_copy(k, p, save, k->cpu, 1);
}

/* load target's handler for vector; r0-r3 := vector, source, address, access */
static int load_handler(pip_kernel *k, uint32_t target, uint32_t vector, uint32_t source,
                        uint32_t addr, uint32_t access) {
    uint32_t *v = vidt_page(k, target);
    if (!v || vector >= k->table_size) return 0;
    uint32_t ctx = v[vector] & k->va_mask;
    if (!ctx || !ctx_ok(k, target, ctx, PTE_USABLE)) return 0;
    uint32_t from = identity(k, source, target);
    switch_to(k, target, ctx);
    event_registers(k, vector, from, addr, access);
    return 1;
}

uint32_t pip_fault(pip_kernel *k, uint32_t vector, uint32_t addr, uint32_t access) {
    uint32_t source = k->current, target = source;
    save_interrupted(k);
    for (uint32_t n = 0; n < k->npages; n++) {
        if (target == k->root) return 0;              /* a root fault is a kernel panic */
        target = parent_of(k, target);
        if (!tbl(k, target)) return 0;
        if (load_handler(k, target, vector, source, addr, access)) return target;
        vector = PIP_VECTOR_DOUBLE_FAULT, addr = access = 0;
    }
    return 0;
}

uint32_t pip_software_interrupt(pip_kernel *k, uint32_t vector) {
    uint32_t source = k->current;
    if (source == k->root) return 0;
    uint32_t saved[PIP_CONTEXT_WORDS];
    memcpy(saved, k->cpu, sizeof saved);
    save_interrupted(k);
    if (load_handler(k, parent_of(k, source), vector, source, 0, 0)) return parent_of(k, source);
    memcpy(k->cpu, saved, sizeof saved);               /* the caller goes on */
    return 0;
}

uint32_t pip_hardware_interrupt(pip_kernel *k, uint32_t vector) {
    uint32_t source = k->current, saved[PIP_CONTEXT_WORDS];
    memcpy(saved, k->cpu, sizeof saved);
    save_interrupted(k);
    if (load_handler(k, k->root, vector, source, 0, 0)) return k->root;
    memcpy(k->cpu, saved, sizeof saved);
    return 0;
}

uint32_t pip_int_state(pip_kernel *k, uint32_t part) { return get_state(k, part); }
