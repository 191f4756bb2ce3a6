/*
 * machine.c - glue between the kernel core and a Unicorn engine (the only C file
 * that knows Unicorn; the services never call it).
 *
 * - Translation: a native UC_HOOK_TLB_FILL walks the *current* partition's Pip
 *   tables (virtual-TLB mode); a refusal is recorded and becomes a page fault.
 * - Kernel calls: ARM `svc #0` / x86 `sysenter` are served here without Python;
 *   host calls (numbers >= PIP_HOST_CALL_BASE) go to one Python callback.
 * - Switches: registers <-> k->cpu, then a TLB flush, inside the hook.
 * - Time (docs/abi.md "Run modes"): exact mode counts blocks in a lean native block hook
 *   (the timer and the budgets at exact block counts); fast mode's block hook only looks
 *   for a stop a ticker thread (host time) or a device asked for.  The engine is stopped
 *   only where an instruction boundary is: in a hook before a block, or after a kernel call.
 * - Devices: MMIO callbacks.
 * - What differs between ARM and x86 sits in one table per CPU (arch_t, at the end),
 *   built on pip_abi.h's per-arch registers (pipkernel/abi.py ARCHES).
 * Unicorn is reached through the functions of the library the Python binding
 * already loaded (their addresses, pip_machine_bind), so the build needs only its
 * headers.  The glue opens and owns the engine (pip_machine_init / _free): the
 * binding offers no handle of its own engines, and Python needs none.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include "core.h"
#include "machine.h"

_Static_assert(sizeof(((pip_fault_record *)0)->context) == PIP_CONTEXT_WORDS * 4,
               "a fault record holds a context");

/* ---- the Unicorn functions we use ---- */
static struct {
    uc_err (*open)(uc_arch, uc_mode, uc_engine **);
    uc_err (*close)(uc_engine *);
    uc_err (*mem_map_ptr)(uc_engine *, uint64_t, uint64_t, uint32_t, void *);
    uc_err (*reg_read)(uc_engine *, int, void *);
    uc_err (*hook_add)(uc_engine *, uc_hook *, int, void *, void *, uint64_t, uint64_t, ...);
    uc_err (*hook_del)(uc_engine *, uc_hook);
    uc_err (*reg_read_batch)(uc_engine *, int *, void **, int);
    uc_err (*reg_write_batch)(uc_engine *, int *, void *const *, int);
    uc_err (*reg_write)(uc_engine *, int, const void *);
    uc_err (*emu_start)(uc_engine *, uint64_t, uint64_t, uint64_t, size_t);
    uc_err (*emu_stop)(uc_engine *);
    uc_err (*ctl)(uc_engine *, uc_control_type, ...);
    uc_err (*mmio_map)(uc_engine *, uint64_t, size_t, uc_cb_mmio_read_t, void *,
                       uc_cb_mmio_write_t, void *);
    uc_err (*context_alloc)(uc_engine *, uc_context **);
    uc_err (*context_save)(uc_engine *, uc_context *);
    uc_err (*context_restore)(uc_engine *, uc_context *);
    size_t (*context_size)(uc_engine *);
    uc_err (*context_free)(uc_context *);
} U;

/* every field of f is set (pipkernel.machine fills them all by name) */
int pip_machine_bind(const pip_unicorn *f) {
    void *const *all = (void *const *)f;
    for (size_t i = 0; i < sizeof *f / sizeof(void *); i++)
        if (!all[i]) return -1;
    *(void **)&U.open = f->uc_open;
    *(void **)&U.close = f->uc_close;
    *(void **)&U.mem_map_ptr = f->uc_mem_map_ptr;
    *(void **)&U.reg_read = f->uc_reg_read;
    *(void **)&U.hook_add = f->uc_hook_add;
    *(void **)&U.hook_del = f->uc_hook_del;
    *(void **)&U.reg_read_batch = f->uc_reg_read_batch;
    *(void **)&U.reg_write_batch = f->uc_reg_write_batch;
    *(void **)&U.reg_write = f->uc_reg_write;
    *(void **)&U.emu_start = f->uc_emu_start;
    *(void **)&U.emu_stop = f->uc_emu_stop;
    *(void **)&U.ctl = f->uc_ctl;
    *(void **)&U.mmio_map = f->uc_mmio_map;
    *(void **)&U.context_alloc = f->uc_context_alloc;
    *(void **)&U.context_save = f->uc_context_save;
    *(void **)&U.context_restore = f->uc_context_restore;
    *(void **)&U.context_size = f->uc_context_size;
    *(void **)&U.context_free = f->uc_context_free;
    return 0;
}

/* ---- per-architecture glue (seL4 / Pip style: what differs between CPUs, apart from the
 * machine logic).  The registers and conventions come from pipkernel/abi.py (ARCHES) through
 * pip_abi.h; each CPU's table below adds what only this file knows. ---- */
typedef struct arch {
    int uc_arch, uc_mode;        /* the engine Unicorn opens */
    int (*configure)(uc_engine *uc);    /* its CPU model and page size, or none */
    const int *uc;               /* Unicorn ids: pc, status, the context registers, then
                                  * registers every load clears (x86: DS ES FS GS) */
    int nread;                   /* 2 + context registers: what a save reads */
    int nwrite;                  /* what a load writes */
    int pc_last;                 /* a load writes the status first and the pc last, as the
                                  * last register (ARM: r15, whose bit 0 sets Thumb state) */
    uint32_t status_kept;        /* status bits a context may set (docs/abi.md "Privilege") */
    uint32_t user_status;        /* forced on each load */
    uint32_t thumb;              /* ARM: the CPSR's T bit (bit 0 of the pc word) */
    uint32_t pc_flag;            /* the pc word's bits that are not address (ARM: bit 0) */
    uint32_t call_number, call_args[6], call_result;    /* context register indices */
    uint32_t call_size;          /* x86: the sysenter the engine steps over by itself */
    void (*trap)(pip_machine *m, uint32_t intno);       /* an exception or svc / int n */
    void (*switch_xstate)(pip_machine *m);              /* CPU state beyond the context */
    void (*filled)(pip_machine *m);     /* after a data access's TLB fill, or none */
    int (*start)(pip_machine *m);       /* set-up after the common hooks, or none */
    /* snapshots: the CPU's state beyond the context (what switch_xstate switches) */
    void (*save_extra)(pip_machine *m, pip_snapshot *s);
    void (*load_extra)(pip_machine *m, const pip_snapshot *s);
    void (*stopped_at)(pip_machine *m, uint32_t pc);    /* a debugger's stop mid-block */
} arch_t;

static const arch_t *const ARCH[2];
static const arch_t *glue(const pip_machine *m) { return ARCH[m->arch]; }

#define MAX_UC_REGS (2 + 16 + 4)   /* pc, status, a context's 16 registers, 4 more */

/* ---- privilege (docs/abi.md "Privilege"): partitions never leave user mode ----
 * A context's status word comes from partition memory (a VIDT slot anyone of its
 * partition may write), so every load keeps only what user mode may set itself and
 * forces the rest: ARM mode USR, A I F clear, J clear, T from the pc; x86 IOPL 0,
 * IF set, no VM86 / NT / TF / AC / RF.  x86 partitions run at CPL 3 (enter_ring3)
 * with no GDT, LDT or TSS: CS and SS cannot change, and DS ES FS GS can only be
 * nulled, so every load resets them to null (base 0, as at boot). */
static uint32_t user_status(const arch_t *g, uint32_t pc, uint32_t status) {
    return (status & g->status_kept) | g->user_status | (pc & 1 ? g->thumb : 0);
}

/* the CPU's registers as a context (pc, status, r0..) */
static void read_cpu(pip_machine *m, uint32_t *cpu) {
    const arch_t *g = glue(m);
    uint32_t v[MAX_UC_REGS] = {0};
    void *ptr[MAX_UC_REGS];
    for (int i = 0; i < g->nread; i++) ptr[i] = &v[i];
    U.reg_read_batch(m->uc, (int *)g->uc, ptr, g->nread);
    cpu[PIP_CTX_PC] = v[0] | (v[1] & g->thumb ? 1 : 0);
    cpu[PIP_CTX_STATUS] = v[1];
    for (int i = 2; i < g->nread; i++) cpu[PIP_CTX_REGS + i - 2] = v[i];
}

/* CPU -> k->cpu */
static void sync_in(pip_machine *m) {
    read_cpu(m, m->k->cpu);
    m->synced_pc = m->k->cpu[PIP_CTX_PC];
    memcpy(m->synced, m->k->cpu, sizeof m->synced);
}

static int is_host(const pip_machine *m, uint32_t part) {
    for (uint32_t i = 0; i < m->host_count && i < PIP_MAX_HOSTS; i++)
        if (m->hosts[i] == part) return 1;
    return 0;
}

static void switch_xstate(pip_machine *m);

/* a context's registers -> an engine's (the status first, the pc last on ARM) */
static void write_context(pip_machine *m, uc_engine *uc, const uint32_t *cpu) {
    const arch_t *g = glue(m);
    uint32_t v[MAX_UC_REGS] = {0};                  /* registers past the context: 0 */
    void *ptr[MAX_UC_REGS];
    v[0] = cpu[PIP_CTX_PC], v[1] = cpu[PIP_CTX_STATUS];
    for (int i = 2; i < g->nread; i++) v[i] = cpu[PIP_CTX_REGS + i - 2];
    if (g->pc_last) v[g->nwrite - 1] = v[0];
    for (int i = g->pc_last; i < g->nwrite; i++) ptr[i - g->pc_last] = &v[i];
    U.reg_write_batch(uc, (int *)g->uc + g->pc_last, ptr, g->nwrite - g->pc_last);
}

/* k->cpu -> CPU; the pc's bit 0 selects Thumb state on ARM.  flush: the running
 * partition's translations changed (a switch, or its own page tables changed) */
static void sync_out(pip_machine *m, int flush) {
    if (is_host(m, m->k->current)) return;           /* Python code has no CPU state */
    switch_xstate(m);
    uint32_t *cpu = m->k->cpu;
    cpu[PIP_CTX_STATUS] = user_status(glue(m), cpu[PIP_CTX_PC], cpu[PIP_CTX_STATUS]);
    write_context(m, m->uc, cpu);
    if (flush) U.ctl(m->uc, UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0));
}

/* ---- per-partition CPU state beyond the context record ----
 * What user mode can change and Pip's 20-word context does not hold belongs to the
 * partition, not to the CPU: x86's x87 / MMX / SSE registers, and ARM's user thread
 * register TPIDRURW (readable and writable in USR mode).  ARM's VFP stays disabled
 * (FPEXC.EN = 0, as Unicorn boots it): its instructions are undefined in partitions.
 * TPIDRURW is switched with the partition; the x86 FP registers lazily: a partition
 * that does not own them runs with CR0.TS set, so its first FP / SSE instruction raises
 * #NM, which swaps them here and retries it.  A partition's state lives in a slot keyed
 * by its descriptor page and tagged with its MMU root and parent; a slot whose tag no
 * longer matches (the partition was deleted) is free again and its state discarded. */
static int xstate_valid(pip_kernel *k, const pip_xstate *s) {
    return s->pd && pip_is_partition(k, s->pd) && s->mmu == mmu_root(k, s->pd) &&
           s->parent == parent_of(k, s->pd);
}

/* part's slot; with alloc, a fresh one (zeroed: the state of a new partition) if none */
static pip_xstate *xstate_of(pip_machine *m, uint32_t part, int alloc) {
    pip_kernel *k = m->k;
    pip_xstate *free_slot = 0;
    for (uint32_t i = 0; i < PIP_XSTATE_SLOTS; i++) {
        pip_xstate *s = &m->xstate[(part + i) % PIP_XSTATE_SLOTS];
        if (s->pd == part && xstate_valid(k, s)) return s;
        if (!free_slot && !xstate_valid(k, s)) free_slot = s;
        if (!s->pd) break;                       /* the probe sequence ends at a never-used slot */
    }
    if (!alloc || !free_slot) return 0;
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->pd = part, free_slot->mmu = mmu_root(k, part), free_slot->parent = parent_of(k, part);
    return free_slot;
}

/* the CPU passes from m->running to k->current: switch what each keeps beyond its context */
static void switch_xstate(pip_machine *m) {
    if (m->running == m->k->current) return;
    glue(m)->switch_xstate(m);
    m->running = m->k->current;
}

static void poke(pip_machine *m);
static uint64_t now_ns(void);

/* a buffer that Python drains between slices is nearly full: end the slice at the next block */
static void nearly_full(pip_machine *m) {
    if (!m->slicing || m->slice_due) return;
    m->slice_due = 1;
    poke(m);
}

/* the next event of the ring, or 0 (it is full: the event is counted as dropped) */
static pip_event *trace(pip_machine *m, uint32_t kind, uint32_t partition, uint32_t number,
                        uint32_t result) {
    if (!m->tracing) return 0;
    if (m->trace_len >= PIP_TRACE_CAP - PIP_TRACE_MARGIN) nearly_full(m);
    if (m->trace_len >= PIP_TRACE_CAP) {
        m->trace_dropped++;
        return 0;
    }
    pip_event *e = &m->trace[m->trace_len++];
    memset(e, 0, sizeof *e);
    e->kind = kind, e->partition = partition, e->number = number, e->result = result;
    e->pc = m->synced_pc;                 /* where the partition was */
    e->time = m->mode == PIP_MODE_EXACT ? m->instructions : now_ns() - m->started_ns;
    return e;
}

static void stop(pip_machine *m, uint32_t reason) {
    m->stop_reason = reason;
    U.emu_stop(m->uc);
}

/* ---- per-partition statistics ---- */
static pip_stats *stats_of(pip_machine *m, uint32_t pd) {
    for (uint32_t i = 0; i < PIP_STAT_SLOTS; i++) {
        pip_stats *s = &m->stats[(pd + i) % PIP_STAT_SLOTS];
        if (s->pd == pd) return s;
        if (!s->pd) {
            s->pd = pd;
            return s;
        }
    }
    return &m->stats[0];            /* full: the first slot absorbs the rest */
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* per-partition accounting, at each switch rather than each block: what ran since the last
 * one (instructions, host time) goes to the partition that ran it */
static void account(pip_machine *m) {
    uint64_t now = now_ns();
    if (m->accounted_pd) {
        pip_stats *s = stats_of(m, m->accounted_pd);
        s->instructions += m->instructions - m->accounted_instructions;
        s->host_ns += now - m->accounted_ns;
        if (m->accounted_pd != m->k->current) {                      /* it left the CPU */
            s->pc = m->synced_pc, s->left = 1;
            memcpy(s->context, m->synced, sizeof s->context);
        }
    }
    m->accounted_pd = m->k->current;
    m->accounted_instructions = m->instructions, m->accounted_ns = now;
}

/* an interrupt the root accepts now (just raised, or waiting until the root's state
 * changed) stops the engine: the run loop delivers it before the next block */
static void check_irq(pip_machine *m) {
    if (m->irq_pending && pip_int_state(m->k, m->k->root)) stop(m, PIP_STOP_IRQ);
}

/* instructions in the translated block at address (cached per partition and address) */
static uint32_t block_icount(pip_machine *m, uint64_t address) {
    uint64_t key = (uint64_t)m->accounted_pd << 32 | (uint32_t)address;   /* the runner */
    pip_icount *slot = &m->icounts[(key ^ key >> 29) % PIP_ICOUNT_SLOTS];
    if (slot->key != key || !slot->icount) {
        uc_tb tb = {0};
        if (U.ctl(m->uc, UC_CTL_READ_WRITE(UC_CTL_TB_REQUEST_CACHE, 2), address, &tb)) return 0;
        slot->key = key, slot->icount = tb.icount;
    }
    return slot->icount;
}

void pip_machine_code_changed(pip_machine *m) {
    memset(m->icounts, 0, sizeof m->icounts);
    U.ctl(m->uc, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
}

/* control passed to another partition; a host partition (Python code, no CPU
 * context) takes it back from the engine: emulation stops */
static void switched(pip_machine *m) {
    m->switches++;
    account(m);
    stats_of(m, m->k->current)->switches_in++;
    if (is_host(m, m->k->current)) stop(m, PIP_STOP_HOST);
    check_irq(m);
}

/* exact mode: the instructions of the running block from the one at pc on did not run (pc
 * faulted): uncount them.  A block translated from pc ends where the running one does, so
 * its count is theirs.  A pc past the block (a trap: svc, int n, int3) uncounts nothing. */
static void uncount_from(pip_machine *m, uint32_t pc) {
    if (m->mode != PIP_MODE_EXACT) return;
    uint64_t at = pc & ~glue(m)->pc_flag;
    uc_tb tb = {0};
    if (at < m->block_pc || U.ctl(m->uc, UC_CTL_READ_WRITE(UC_CTL_TB_REQUEST_CACHE, 2),
                                  m->block_pc, &tb) || at >= m->block_pc + tb.size)
        return;
    m->instructions -= block_icount(m, at);
}

/* a fault of the running partition, with k->cpu holding its state */
static void deliver_fault(pip_machine *m, uint32_t vector, uint32_t addr, uint32_t access) {
    pip_kernel *k = m->k;
    uint32_t from = k->current;
    m->faults++;
    stats_of(m, from)->faults++;
    if (access != 3) uncount_from(m, k->cpu[PIP_CTX_PC]);   /* a refused fetch: no block ran */
    m->fault = (pip_fault_record){vector, addr, access, from, k->cpu[PIP_CTX_PC], {0}};
    memcpy(m->fault.context, k->cpu, sizeof m->fault.context);
    pip_event *e = trace(m, PIP_EVENT_FAULT, from, vector, 0);
    uint32_t to = pip_fault(k, vector, addr, access);
    if (e) e->result = to, e->args[0] = addr, e->args[1] = access;
    if (!to) {
        m->panic = 1;
        stop(m, PIP_STOP_PANIC);
        return;
    }
    switched(m);
    sync_out(m, 1);
}

/* ---- translation: the TLB-fill hook ---- */

/* the running partition's translation of the page at va for an access of type, into e;
 * false if its tables refuse it */
static bool walk(pip_machine *m, uint64_t va, uc_mem_type type, uc_tlb_entry *e) {
    pip_kernel *k = m->k;
    uint32_t need = type == UC_MEM_WRITE ? PIP_PTE_WRITE : type == UC_MEM_FETCH ? PIP_PTE_EXEC
                                                                                 : PIP_PTE_READ;
    need |= PIP_PTE_PRESENT | PIP_PTE_ACCESSIBLE;
    uint32_t *pte = va <= k->va_mask ? leaf(k, mmu_root(k, k->current), (uint32_t)va) : 0;
    if (!pte || (*pte & need) != need || pe_page(*pte) >= k->npages) return false;
    e->paddr = (*pte & ~PAGE_MASK);
    e->perms = (*pte >> 2) & 7;          /* R W X bits are laid out as UC_PROT_* */
    return true;
}

/* Unicorn hands the hook the page of the access, not its address: a refusal records the
 * page, and exact_address finds the byte */
static bool tlb_fill(uc_engine *uc, uint64_t va, uc_mem_type type, uc_tlb_entry *e, void *ud) {
    (void)uc;
    pip_machine *m = ud;
    m->tlb_fills++;
    if (!walk(m, va, type, e)) {
        m->pending_fault = 1;
        m->fault_va = (uint32_t)va;
        m->fault_access = type == UC_MEM_WRITE ? 2 : type == UC_MEM_FETCH ? 3 : 1;
        return false;
    }
    if (type != UC_MEM_FETCH && glue(m)->filled) glue(m)->filled(m);
    return true;
}

/* ---- the exact address of a refused access ----
 * The fill hook sees only the page (unicorn_vtlb.c masks the address before the call).  A
 * refused fetch is at the pc, or at the page's start when an instruction runs into it.  For
 * a refused load or store, the faulting instruction (pc precise, its context in k->cpu) runs
 * once more on a second engine, the probe, where the refused page is an MMIO page of its
 * own and every other data page another: the first access of the refused kind to it
 * reaches that page's callback with its offset in the page (a movs reading the page it may
 * not write is not taken for the store), and nothing the probe does reaches the machine's
 * memory (the probe only fetches code from it).  Loaded values never feed the address of a
 * later access of the same instruction, so the probe's zeros do not change it. */
#define PROBE_PAGES 2                   /* the refused page, every other data page */

static uint32_t probe_pa(const pip_machine *m, uint32_t which) {
    return (m->k->npages + which) << PAGE_SHIFT;
}

/* an access of the refused kind to the refused page: its offset; the probe stops */
static void probe_hit(uc_engine *uc, pip_machine *m, uint32_t access, uint64_t offset) {
    if (access != m->fault_access || m->probe_hit) return;   /* e.g. the read of a movs */
    m->probe_hit = 1, m->probe_offset = (uint32_t)offset;
    U.emu_stop(uc);                   /* the probe only: what it does afterwards is dropped */
}

static uint64_t probe_read(uc_engine *uc, uint64_t offset, unsigned size, void *ud) {
    (void)size;
    probe_hit(uc, ud, 1, offset);
    return 0;
}

static void probe_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *ud) {
    (void)size, (void)value;
    probe_hit(uc, ud, 2, offset);
}

static uint64_t probe_other_read(uc_engine *uc, uint64_t offset, unsigned size, void *ud) {
    (void)uc, (void)offset, (void)size, (void)ud;
    return 0;
}

static void probe_other_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                              void *ud) {
    (void)uc, (void)offset, (void)size, (void)value, (void)ud;
}

static bool probe_fill(uc_engine *uc, uint64_t va, uc_mem_type type, uc_tlb_entry *e, void *ud) {
    (void)uc;
    pip_machine *m = ud;
    if (type == UC_MEM_FETCH) {          /* execute only: data comes through here too */
        bool mapped = walk(m, va, type, e);
        e->perms = UC_PROT_EXEC;
        return mapped;
    }
    e->paddr = probe_pa(m, (uint32_t)va == m->fault_va ? 0 : 1);
    e->perms = UC_PROT_READ | UC_PROT_WRITE;
    return true;
}

static int open_engine(pip_machine *m, uc_engine **out);

/* the probe, opened on first use; 0 if it cannot be (the page's address is reported) */
static uc_engine *probe_of(pip_machine *m) {
    if (m->probe) return m->probe;
    uc_engine *uc = 0;
    uc_hook h;
    if ((uint64_t)m->k->npages + PROBE_PAGES > (1u << (32 - PAGE_SHIFT)) ||
        open_engine(m, &uc) ||
        U.hook_add(uc, &h, UC_HOOK_TLB_FILL, (void *)probe_fill, m, 1, 0) ||
        U.mmio_map(uc, probe_pa(m, 0), 1u << PAGE_SHIFT, probe_read, m, probe_write, m) ||
        U.mmio_map(uc, probe_pa(m, 1), 1u << PAGE_SHIFT, probe_other_read, m,
                   probe_other_write, m)) {
        if (uc) U.close(uc);
        return 0;
    }
    return m->probe = uc;
}

/* the address of the refused access whose page the fill hook recorded (k->cpu: the
 * faulting instruction's context) */
static uint32_t exact_address(pip_machine *m) {
    uint32_t pc = m->k->cpu[PIP_CTX_PC] & ~glue(m)->pc_flag;
    if (m->fault_access == 3)
        return (pc & ~PAGE_MASK) == m->fault_va ? pc : m->fault_va;
    uc_engine *probe = probe_of(m);
    if (!probe) return m->fault_va;
    m->probe_hit = 0;
    U.ctl(probe, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));       /* code may have changed */
    U.ctl(probe, UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0));      /* another partition's tables */
    write_context(m, probe, m->k->cpu);
    U.emu_start(probe, m->k->cpu[PIP_CTX_PC], 0, 0, 1);
    return m->probe_hit ? m->fault_va | m->probe_offset : m->fault_va;
}

/* ---- kernel calls ---- */
static uint32_t *result_reg(pip_machine *m) {
    return &m->k->cpu[PIP_CTX_REGS + glue(m)->call_result];
}

/* call number and arguments from k->cpu (docs/abi.md "Kernel calls") */
static void call_args(pip_machine *m, uint32_t *nr, uint32_t a[6]) {
    const arch_t *g = glue(m);
    uint32_t *r = &m->k->cpu[PIP_CTX_REGS];
    *nr = r[g->call_number];
    for (int i = 0; i < 6; i++) a[i] = r[g->call_args[i]];
}

/* a kernel call of the running partition, with k->cpu holding its state */
static void kernel_call(pip_machine *m) {
    pip_kernel *k = m->k;
    const arch_t *g = glue(m);
    uint32_t nr, a[6], caller = k->current, result, switches = 0;
    k->cpu[PIP_CTX_PC] += g->call_size;         /* resume after the call (x86: sysenter) */
    call_args(m, &nr, a);
    m->syscalls++;
    k->last_error = 0;                          /* a call that is no service: no reason */
    switch (nr) {
    case PIP_SYS_createPartition: result = pip_createPartition(k, caller, a[0], a[1], a[2], a[3], a[4]); break;
    case PIP_SYS_deletePartition: result = pip_deletePartition(k, caller, a[0]); break;
    case PIP_SYS_addVAddr: result = pip_addVAddr(k, caller, a[0], a[1], a[2], a[3], a[4], a[5]); break;
    case PIP_SYS_removeVAddr: result = pip_removeVAddr(k, caller, a[0], a[1]); break;
    case PIP_SYS_prepare: result = pip_prepare(k, caller, a[0], a[1], a[2]); break;
    case PIP_SYS_collect: result = pip_collect(k, caller, a[0], a[1]); break;
    case PIP_SYS_countToMap: result = pip_countToMap(k, caller, a[0], a[1]); break;
    case PIP_SYS_mappedInChild: result = pip_mappedInChild(k, caller, a[0]); break;
    case PIP_SYS_get_int_state: result = pip_get_int_state(k, caller, a[0]); break;
    case PIP_SYS_set_int_state: pip_set_int_state(k, caller, a[0]); result = 0; break;
    case PIP_SYS_yield:
    case PIP_SYS_dispatch:
    case PIP_SYS_resume:
        *result_reg(m) = 0;          /* what the caller sees when it is resumed */
        result = nr == PIP_SYS_yield ? pip_yield(k, caller, a[0], a[1], a[2], a[3], a[4])
               : nr == PIP_SYS_dispatch ? pip_dispatch(k, caller, a[0], a[1], a[2], a[3], a[4])
                                        : pip_resume(k, caller, a[0], a[1]);
        switches = result == 0;
        break;
    default:
        if (nr >= PIP_HOST_CALL_BASE && m->host_call) {
            result = m->host_call(m, nr, a);
        } else {
            result = 0xFFFFFFFFu;
        }
    }
    pip_event *e = trace(m, PIP_EVENT_SYSCALL, caller, nr, result);
    if (e) memcpy(e->args, a, sizeof e->args), e->reason = k->last_error;
    stats_of(m, caller)->syscalls++;
    /* Pip lets a child yield or dispatch into one of its parent's event vectors (below the
     * save slots): the parent's handler cannot tell it from the kernel's delivery
     * (docs/kernel.md §9 (d)); hardened refuses it, and the machine counts what gets through */
    if (switches && (nr == PIP_SYS_yield || nr == PIP_SYS_dispatch) && a[1] < k->cli_index &&
        caller != k->root && k->current == parent_of(k, caller))
        m->child_raised_events++;
    if (switches) {
        switched(m);
        trace(m, PIP_EVENT_SWITCH, caller, nr, k->current);
        k->cpu[PIP_CTX_PC] -= g->call_size;     /* the engine steps over sysenter */
        sync_out(m, 1);
    } else {                 /* the caller goes on: only its result register changes */
        *result_reg(m) = result;
        U.reg_write(m->uc, g->uc[2 + g->call_result], &result);
        /* these services change accessible bits of the caller's own pages */
        if (nr == PIP_SYS_createPartition || nr == PIP_SYS_deletePartition ||
            nr == PIP_SYS_prepare || nr == PIP_SYS_collect)
            U.ctl(m->uc, UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0));
        check_irq(m);            /* set_int_state may let a waiting interrupt in */
    }
    if (m->halt_requested) stop(m, PIP_STOP_HALT);
}

static void software_interrupt(pip_machine *m, uint32_t vector) {
    pip_kernel *k = m->k;
    m->swis++;
    uint32_t from = k->current, to = pip_software_interrupt(k, vector);
    trace(m, PIP_EVENT_SWI, from, vector, to);
    if (to) switched(m);
    else *result_reg(m) = PIP_SWI_ERROR;
    sync_out(m, to != 0);
}

static void on_interrupt(uc_engine *uc, uint32_t intno, void *ud) {
    (void)uc;
    pip_machine *m = ud;
    glue(m)->trap(m, intno);
}

/* ---- time (docs/abi.md "Run modes") ----
 * Exact mode: executed blocks drive the timer (deterministic virtual time).  The block hook
 * runs before its block and does the least it can: count the block and its instructions,
 * and look further only at the block count of the next event (next_check) or past the
 * instruction limit.  A stop it asks for comes before the block runs (Unicorn checks for
 * exit requests after the block hook, unicorn-notes), so that block is uncounted: it
 * counts when it runs.  Per-partition counts are kept at switches (account). */
static void block_events(pip_machine *m, uint32_t n);

static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    uint32_t n = block_icount(m, address);
    m->block_pc = address;
    m->instructions += n;
    if (++m->blocks >= m->next_check || m->instructions > m->instruction_limit)
        block_events(m, n);
}

/* the block count at which something is next due: the timer, the block budget */
static uint64_t next_event(const pip_machine *m) {
    uint64_t next = UINT64_MAX;
    if (m->timer_period) next = m->timer_due;
    if (m->block_budget && m->block_budget + 1 < next) next = m->block_budget + 1;
    return next;
}

static void block_events(pip_machine *m, uint32_t n) {
    uint32_t reason = PIP_STOP_NONE;
    if (__atomic_exchange_n(&m->poke, 0, __ATOMIC_ACQ_REL)) {
        if (__atomic_load_n(&m->deadline_hit, __ATOMIC_ACQUIRE)) reason = PIP_STOP_BUDGET;
        else if (m->slicing && __atomic_load_n(&m->slice_due, __ATOMIC_ACQUIRE))
            reason = PIP_STOP_SLICE;
    }
    if (m->timer_period && m->blocks >= m->timer_due) {
        m->timer_due = m->blocks + m->timer_period;
        m->irq_pending |= 1u << (PIP_VECTOR_TIMER - 32);
    }
    if (m->instructions > m->instruction_limit ||
        (m->block_budget && m->blocks > m->block_budget))
        reason = PIP_STOP_BUDGET;
    else if (!reason && m->irq_pending && pip_int_state(m->k, m->k->root))
        reason = PIP_STOP_IRQ;
    if (reason) {                        /* before the block runs: it does not count */
        m->blocks--, m->instructions -= n;
        stop(m, reason);
    }
    m->next_check = next_event(m);
}

/* Ask the block hook to stop the engine before the next block.  Never uc_emu_stop from
 * outside a hook: Unicorn checks for exit requests after every memory access too, and an
 * emulation stopped there restarts the instruction it stopped in, whose store already
 * happened (an x86 `add [mem], reg` would add twice).  From the ticker thread, exact
 * mode's next_check = 0 may be overwritten by the hook's own update: the ticker pokes
 * again every period (or ms), so the request is seen at the latest then. */
static void poke(pip_machine *m) {
    __atomic_store_n(&m->poke, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&m->next_check, 0, __ATOMIC_RELAXED);
}

/* fast mode's block hook: nothing but a stop someone asked for */
static void on_block_fast(uc_engine *uc, uint64_t address, uint32_t size, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    m->block_pc = address;               /* a debugger's stop mid-block (arm_it_state) */
    if (__atomic_load_n(&m->poke, __ATOMIC_RELAXED)) {
        m->poke = 0;
        stop(m, PIP_STOP_IRQ);           /* the run loop looks at what is due */
    }
}

/* Fast mode, and any mode's time limit: a thread that sleeps until the next timer period
 * or the deadline (host time) and then asks the block hook to stop the engine; the run
 * loop raises the timer interrupt it asked for.  Fast mode's time is the host's, not
 * deterministic. */
typedef struct ticker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int quit, armed;
    uint64_t period_ns, next_tick, deadline;    /* CLOCK_MONOTONIC ns; 0: none */
    uint64_t slice_end;                         /* the running slice's end; 0: none */
} ticker_t;

static void *ticker_main(void *arg) {
    pip_machine *m = arg;
    ticker_t *t = m->ticker;
    pthread_mutex_lock(&t->lock);
    while (!t->quit) {
        uint64_t wake = 0;
        if (t->armed && t->period_ns) wake = t->next_tick;
        if (t->armed && t->deadline && (!wake || t->deadline < wake)) wake = t->deadline;
        if (t->armed && t->slice_end && (!wake || t->slice_end < wake)) wake = t->slice_end;
        if (!wake) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        struct timespec until = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        if (pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT || !t->armed)
            continue;                               /* told something: look again */
        uint64_t now = now_ns();
        int fire = 0;
        if (t->period_ns && now >= t->next_tick) {
            __atomic_store_n(&m->ticked, 1, __ATOMIC_RELEASE);
            t->next_tick = now + t->period_ns, fire = 1;
        }
        if (t->deadline && now >= t->deadline) {
            __atomic_store_n(&m->deadline_hit, 1, __ATOMIC_RELEASE);
            t->deadline = now + 1000000u, fire = 1;  /* again each ms until the run ends */
        }
        if (t->slice_end && now >= t->slice_end) {
            __atomic_store_n(&m->slice_due, 1, __ATOMIC_RELEASE);
            t->slice_end = now + 1000000u, fire = 1;     /* again each ms until it ends */
        }
        if (fire) poke(m);
    }
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* the ticker, started on first use; 0 if it cannot be */
static ticker_t *ticker_of(pip_machine *m) {
    if (m->ticker) return m->ticker;
    ticker_t *t = calloc(1, sizeof *t);
    pthread_condattr_t attr;
    if (!t) return 0;
    pthread_mutex_init(&t->lock, 0);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    m->ticker = t;
    if (pthread_create(&t->thread, 0, ticker_main, m)) {
        free(t);
        return m->ticker = 0;
    }
    return t;
}

/* what the ticker does now: the fast mode's timer period, a deadline and a slice's end
 * (0: none), armed or not (disarmed, it stops nothing: once this returns, no stop of it is
 * still coming) */
static void ticker_set(pip_machine *m, int armed, uint64_t deadline, uint64_t slice_end) {
    ticker_t *t = armed || m->ticker ? ticker_of(m) : 0;
    if (!t) return;
    uint64_t period = m->mode == PIP_MODE_FAST && m->timer_period
                          ? (uint64_t)m->timer_period * PIP_FAST_NS_PER_BLOCK : 0;
    if (period && period < PIP_FAST_MIN_TICK_NS) period = PIP_FAST_MIN_TICK_NS;
    pthread_mutex_lock(&t->lock);
    if (period != t->period_ns || (armed && !t->armed)) t->next_tick = now_ns() + period;
    t->period_ns = period, t->armed = armed, t->deadline = deadline, t->slice_end = slice_end;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
}

static void ticker_free(pip_machine *m) {
    ticker_t *t = m->ticker;
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->quit = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, 0);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
    m->ticker = 0;
}

/* the timer's virtual time in blocks: exact mode's count, or fast mode's host time */
static uint64_t virtual_blocks(const pip_machine *m) {
    if (m->mode == PIP_MODE_EXACT) return m->blocks;
    return (now_ns() - m->started_ns) / PIP_FAST_NS_PER_BLOCK;
}

void pip_machine_set_timer(pip_machine *m, uint32_t period) {
    m->timer_period = period;
    m->timer_due = m->blocks + period;
    m->next_check = 0;                           /* exact: the block hook looks again */
    if (m->ticker) {                             /* fast, mid-run: the new period */
        ticker_t *t = m->ticker;
        pthread_mutex_lock(&t->lock);
        int armed = t->armed;
        uint64_t deadline = t->deadline, slice_end = t->slice_end;
        pthread_mutex_unlock(&t->lock);
        ticker_set(m, armed, deadline, slice_end);
    }
}

/* called from a device's MMIO callback too (mid-instruction): the block hook stops */
void pip_machine_raise_irq(pip_machine *m, uint32_t vector) {
    if (vector < 32 || vector > 63) return;
    m->irq_pending |= 1u << (vector - 32);
    poke(m);
}

int pip_machine_set_mode(pip_machine *m, uint32_t mode) {
    if (mode != PIP_MODE_EXACT && mode != PIP_MODE_FAST) return -1;
    if (mode == m->mode && m->block_hook) return 0;
    if (m->block_hook) U.hook_del(m->uc, (uc_hook)m->block_hook);
    m->block_hook = 0;
    uc_hook h;
    if (U.hook_add(m->uc, &h, UC_HOOK_BLOCK,
                   mode == PIP_MODE_EXACT ? (void *)on_block : (void *)on_block_fast, m, 1, 0))
        return -2;
    m->block_hook = h;
    m->mode = mode;
    pip_machine_code_changed(m);    /* translated blocks call the new block hook */
    pip_machine_set_timer(m, m->timer_period);
    return 0;
}

/* ---- devices (docs/abi.md "Memory map") ---- */
static uint64_t console_read(uc_engine *uc, uint64_t offset, unsigned size, void *ud) {
    (void)uc, (void)size, (void)ud;
    return offset == PIP_CONSOLE_STATUS ? 1 : 0;      /* always ready to send */
}

static void console_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    if (offset != PIP_CONSOLE_TX) return;
    if (m->out_len >= PIP_CONSOLE_CAP - PIP_CONSOLE_MARGIN) nearly_full(m);
    if (m->out_len < PIP_CONSOLE_CAP) m->out[m->out_len++] = (uint8_t)value;
    else m->console_dropped++;
}

static uint64_t system_read(uc_engine *uc, uint64_t offset, unsigned size, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    if (offset == PIP_SYSTEM_TIMER_PERIOD) return m->timer_period;
    if (offset == PIP_SYSTEM_BLOCKS) return (uint32_t)virtual_blocks(m);
    if (offset == PIP_SYSTEM_PAGES) return m->k->npages;
    return 0;
}

static void system_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    if (offset == PIP_SYSTEM_TIMER_PERIOD) {
        pip_machine_set_timer(m, (uint32_t)value);
    } else if (offset == PIP_SYSTEM_HALT) {
        m->exit_code = (uint32_t)value;
        m->halt_requested = 1;
        stop(m, PIP_STOP_HALT);
    }
}

/* ---- ARMv7-A: traps (svc, bkpt, undefined), TPIDRURW, its table ---- */
#define ARM_CPSR_USER 0xFE0FFE00u   /* N Z C V Q, IT[1:0], GE, IT[7:2], E */
#define ARM_CPSR_IT 0x0600FC00u     /* IT[1:0], IT[7:2] */
#define ARM_EXCP_SWI 2u             /* QEMU's exception numbers */
#define ARM_EXCP_BKPT 7u

/* TPIDRURW as the CPU holds it */
static uc_arm_cp_reg arm_tls(pip_machine *m) {
    uc_arm_cp_reg tls = {15, 0, 0, 13, 0, 0, 2, 0};
    void *ptr = &tls;
    int reg = UC_ARM_REG_CP_REG;
    U.reg_read_batch(m->uc, &reg, &ptr, 1);
    return tls;
}

/* TPIDRURW, the user thread register, is the partition's */
static void arm_switch_tls(pip_machine *m) {
    pip_kernel *k = m->k;
    uc_arm_cp_reg tls = arm_tls(m);
    pip_xstate *out = xstate_of(m, m->running, tls.val != 0), *in = xstate_of(m, k->current, 0);
    if (out) out->tpidrurw = (uint32_t)tls.val;
    uint64_t next = in ? in->tpidrurw : 0;
    if (next != tls.val) tls.val = next, U.reg_write(m->uc, UC_ARM_REG_CP_REG, &tls);
}

static void arm_save_tls(pip_machine *m, pip_snapshot *s) {
    uint32_t value = (uint32_t)arm_tls(m).val;
    memcpy(s->cpu_extra, &value, sizeof value);
}

static void arm_load_tls(pip_machine *m, const pip_snapshot *s) {
    uc_arm_cp_reg tls = arm_tls(m);
    uint32_t value;
    memcpy(&value, s->cpu_extra, sizeof value);
    tls.val = value;
    U.reg_write(m->uc, UC_ARM_REG_CP_REG, &tls);
}

/* Unicorn's virtual-TLB fill first restores the CPU state of the accessing instruction
 * (cpu_restore_state in unicorn_vtlb.c), then lets its block go on.  On ARM that writes
 * the instruction's IT state into the CPSR, which QEMU's translated code keeps at 0
 * inside a block and rewrites only as it leaves one: a Thumb-2 load or store inside an
 * IT block that missed the TLB left a stale IT state, and the next block looked up from
 * the CPU state ran as conditional code (dijkstra failed its own check when preempted).
 * Put back the 0 the block expects; a refused fill exits, and keeps the restored state. */
static void arm_filled(pip_machine *m) {
    uint32_t cpsr = pip_machine_register(m, UC_ARM_REG_CPSR);
    if (!(cpsr & ARM_CPSR_IT)) return;
    cpsr &= ~ARM_CPSR_IT;
    U.reg_write(m->uc, UC_ARM_REG_CPSR, &cpsr);
}

/* A debugger's stop before an instruction inside a Thumb-2 IT block: QEMU keeps the IT state
 * in its translator and writes it to the CPSR only as a block ends, so that instruction would
 * resume as unconditional code.  The state is found again by decoding the running block from
 * its start (whose IT state the CPSR holds) up to pc, and written to the CPSR. */
static void arm_it_state(pip_machine *m, uint32_t pc) {
    uint32_t cpsr = pip_machine_register(m, UC_ARM_REG_CPSR);
    if (!(cpsr & PIP_ARM_THUMB)) return;
    uint32_t it = ((cpsr >> 25) & 3) | ((cpsr >> 8) & 0xFC);      /* IT[1:0], IT[7:2] */
    for (uint32_t at = (uint32_t)m->block_pc, n = 0; at < pc && n < 512; n++) {
        uint32_t pa;
        uint16_t half;
        if (pip_translate(m->k, m->k->current, at, 2, &pa)) return;
        memcpy(&half, m->k->mem + pa, sizeof half);
        if ((half & 0xFF00) == 0xBF00 && (half & 0xF)) it = half & 0xFF;   /* IT */
        else if (it & 0xF) it = (it & 7) ? (it & 0xE0) | ((it << 1) & 0x1F) : 0;  /* advance */
        at += (half >> 11) >= 0x1D ? 4 : 2;          /* a 32-bit Thumb-2 instruction */
    }
    uint32_t now = (cpsr & ~ARM_CPSR_IT) | (it & 3) << 25 | (it & 0xFC) << 8;
    if (now != cpsr) U.reg_write(m->uc, UC_ARM_REG_CPSR, &now);
}

/* the svc immediate of the instruction just executed (ARM / Thumb) */
static uint32_t svc_number(pip_machine *m) {
    pip_kernel *k = m->k;
    uint32_t pc = k->cpu[PIP_CTX_PC], thumb = pc & 1, pa;
    uint32_t at = (pc & ~1u) - (thumb ? 2 : 4);
    if (pip_translate(k, k->current, at, 2, &pa)) return 0xFFFFFFFFu;
    if (thumb) return k->mem[pa];                       /* svc #imm8: 0xDFxx */
    uint32_t insn;
    memcpy(&insn, k->mem + pa, 4);
    return insn & 0xFFFFFF;
}

static void arm_trap(pip_machine *m, uint32_t intno) {
    sync_in(m);
    if (intno == ARM_EXCP_SWI) {
        uint32_t n = svc_number(m);
        if (n == 0) kernel_call(m);
        else if (n >= PIP_SWI_FIRST && n <= 255) software_interrupt(m, n);
        else deliver_fault(m, PIP_VECTOR_INVALID_OPCODE, 0, 0);
    } else if (intno == ARM_EXCP_BKPT) {
        deliver_fault(m, PIP_VECTOR_BREAKPOINT, 0, 0);
    } else {                                        /* undefined instruction and others */
        deliver_fault(m, PIP_VECTOR_INVALID_OPCODE, 0, 0);
    }
}

/* Cortex-A7, 4 KiB pages (the engine's default TARGET_PAGE is 1 KiB) */
static int arm_configure(uc_engine *uc) {
    return U.ctl(uc, UC_CTL_WRITE(UC_CTL_CPU_MODEL, 1), UC_CPU_ARM_CORTEX_A7) ||
           U.ctl(uc, UC_CTL_WRITE(UC_CTL_UC_PAGE_SIZE, 1), 1u << PAGE_SHIFT);
}

static const int arm_uc[] = {PIP_ARM_UC_CONTEXT};
static const arch_t arm_glue = {
    .uc_arch = UC_ARCH_ARM, .uc_mode = UC_MODE_ARM, .configure = arm_configure, .uc = arm_uc, .nread = 2 + PIP_ARM_CONTEXT_REGS, .nwrite = 2 + PIP_ARM_CONTEXT_REGS,
    .pc_last = 1, .status_kept = ARM_CPSR_USER, .user_status = PIP_ARM_USER_STATUS,
    .thumb = PIP_ARM_THUMB, .pc_flag = 1, .call_number = PIP_ARM_CALL_NUMBER,
    .call_args = {PIP_ARM_CALL_ARGS}, .call_result = PIP_ARM_CALL_RESULT,
    .call_size = 0, .trap = arm_trap, .switch_xstate = arm_switch_tls, .filled = arm_filled,
    .start = 0, .save_extra = arm_save_tls, .load_extra = arm_load_tls,
    .stopped_at = arm_it_state};

/* ---- x86-32: lazy FP registers, traps, sysenter, ring 3, its table ---- */
typedef struct {                        /* x86: what FNSAVE + the SSE registers hold */
    uint16_t cw, sw, tag, fcs, fds, fop;
    uint32_t mxcsr;
    uint64_t fip, fdp;
    uint8_t st[8][16];                  /* FP0..7: 10 bytes each */
    uint64_t ymm[8][4];
} x86_fp;
_Static_assert(sizeof(x86_fp) <= PIP_FP_BYTES, "pip_xstate.fp holds the x86 FP registers");
_Static_assert(sizeof(x86_fp) <= sizeof(((pip_snapshot *)0)->cpu_extra),
               "a snapshot holds the x86 FP registers");
#define X86_FP_REGS 25
static const int x86_fp_regs[X86_FP_REGS] = {
    UC_X86_REG_FPCW, UC_X86_REG_FPSW, UC_X86_REG_FPTAG, UC_X86_REG_FCS, UC_X86_REG_FDS,
    UC_X86_REG_FOP, UC_X86_REG_MXCSR, UC_X86_REG_FIP, UC_X86_REG_FDP,
    UC_X86_REG_FP0, UC_X86_REG_FP1, UC_X86_REG_FP2, UC_X86_REG_FP3, UC_X86_REG_FP4,
    UC_X86_REG_FP5, UC_X86_REG_FP6, UC_X86_REG_FP7, UC_X86_REG_YMM0, UC_X86_REG_YMM1,
    UC_X86_REG_YMM2, UC_X86_REG_YMM3, UC_X86_REG_YMM4, UC_X86_REG_YMM5, UC_X86_REG_YMM6,
    UC_X86_REG_YMM7};
#define X86_CR0_TS 0x8u
#define X86_EXCP_NM 7u                  /* device not available */

static void x86_fp_pointers(x86_fp *f, void **ptr) {
    void *fixed[9] = {&f->cw, &f->sw, &f->tag, &f->fcs, &f->fds, &f->fop, &f->mxcsr, &f->fip,
                      &f->fdp};
    memcpy(ptr, fixed, sizeof fixed);
    for (int i = 0; i < 8; i++) ptr[9 + i] = f->st[i], ptr[17 + i] = f->ymm[i];
}

/* part holds the x86 FP registers (the same partition that took them, not a new one at
 * the same descriptor page) */
static int owns_fp(pip_machine *m, uint32_t part) {
    return m->fp_owner == part && m->fp_owner_mmu == mmu_root(m->k, part) &&
           m->fp_owner_parent == parent_of(m->k, part);
}

static void write_cr0_ts(pip_machine *m, int on) {
    uint32_t cr0 = 0;
    void *ptr = &cr0;
    int reg = UC_X86_REG_CR0;
    U.reg_read_batch(m->uc, &reg, &ptr, 1);
    cr0 = on ? cr0 | X86_CR0_TS : cr0 & ~X86_CR0_TS;
    U.reg_write(m->uc, UC_X86_REG_CR0, &cr0);
    m->fp_trapping = (uint32_t)on;
}

static void set_cr0_ts(pip_machine *m, int on) {
    if (m->fp_trapping == (uint32_t)on) return;
    write_cr0_ts(m, on);
}

/* x86 #NM: hand the FP registers to the running partition; 0 if it cannot have them */
static int fp_take(pip_machine *m) {
    pip_kernel *k = m->k;
    if (!m->fp_trapping) return 0;               /* not a lazy-switch trap */
    pip_xstate *in = xstate_of(m, k->current, 1), *out;
    if (!in) return 0;                           /* no slot left: #NM goes to the parent */
    x86_fp fp;
    void *ptr[X86_FP_REGS];
    x86_fp_pointers(&fp, ptr);
    pip_xstate owner = {.pd = m->fp_owner, .mmu = m->fp_owner_mmu, .parent = m->fp_owner_parent};
    if (xstate_valid(k, &owner) && (out = xstate_of(m, m->fp_owner, 1))) {   /* still alive */
        U.reg_read_batch(m->uc, (int *)x86_fp_regs, ptr, X86_FP_REGS);
        memcpy(out->fp, &fp, sizeof fp);
        out->fp_saved = 1;
    }
    if (in->fp_saved) memcpy(&fp, in->fp, sizeof fp);
    else memset(&fp, 0, sizeof fp), fp.cw = 0x037F, fp.tag = 0xFFFF, fp.mxcsr = 0x1F80;  /* FNINIT */
    U.reg_write_batch(m->uc, (int *)x86_fp_regs, ptr, X86_FP_REGS);
    m->fp_owner = k->current, m->fp_owner_mmu = in->mmu, m->fp_owner_parent = in->parent;
    set_cr0_ts(m, 0);
    return 1;
}

/* the FP registers the CPU holds (fp_owner's) and CR0.TS */
static void x86_save_fp(pip_machine *m, pip_snapshot *s) {
    x86_fp fp;
    void *ptr[X86_FP_REGS];
    x86_fp_pointers(&fp, ptr);
    U.reg_read_batch(m->uc, (int *)x86_fp_regs, ptr, X86_FP_REGS);
    memcpy(s->cpu_extra, &fp, sizeof fp);
}

static void x86_load_fp(pip_machine *m, const pip_snapshot *s) {
    x86_fp fp;
    void *ptr[X86_FP_REGS];
    x86_fp_pointers(&fp, ptr);
    memcpy(&fp, s->cpu_extra, sizeof fp);
    U.reg_write_batch(m->uc, (int *)x86_fp_regs, ptr, X86_FP_REGS);
    write_cr0_ts(m, s->fp_trapping != 0);
}

/* the x86 FP registers, lazily: CR0.TS set unless the partition owns them */
static void x86_switch_fp(pip_machine *m) {
    set_cr0_ts(m, !owns_fp(m, m->k->current));
}

/* x86: QEMU counts exceptions "in flight" (env->old_exception) to turn a second
 * contributory fault into a double fault and a third into a triple-fault reset; only
 * its IDT delivery clears it, which Unicorn's hooks bypass.  Left alone, a partition's
 * second #GP or #DE would arrive as vector 8 and its third would restart the faulting
 * instruction forever without reaching this hook.  The field is not exposed: its place
 * in the CPU context blob is found once (enter_ring3) and cleared after each exception,
 * the way the IDT delivery would. */
static void clear_old_exception(pip_machine *m) {
    if (!m->cpu_blob) return;
    U.context_save(m->uc, m->cpu_blob);
    int32_t none = -1;
    memcpy((uint8_t *)m->cpu_blob + m->old_exception_at, &none, sizeof none);
    U.context_restore(m->uc, m->cpu_blob);
}

static void x86_trap(pip_machine *m, uint32_t intno) {
    if (intno < PIP_SWI_FIRST) clear_old_exception(m);
    sync_in(m);
    if (intno >= PIP_SWI_FIRST) {
        software_interrupt(m, intno);
    } else if (intno == X86_EXCP_NM && fp_take(m)) {
        return;                                   /* the FP instruction runs again */
    } else if (intno == PIP_VECTOR_DIVIDE_ERROR || intno == PIP_VECTOR_BREAKPOINT ||
               intno == PIP_VECTOR_INVALID_OPCODE) {
        deliver_fault(m, intno, 0, 0);
    } else {
        deliver_fault(m, PIP_VECTOR_GENERAL_PROTECTION, 0, 0);
    }
}

static void on_sysenter(uc_engine *uc, void *ud) {
    (void)uc;
    sync_in(ud);
    kernel_call(ud);
}


/* x86: leave ring 0 for good.  Unicorn boots the CPU at CPL 0 with flat segments and
 * no GDT; writing CS or SS through the API checks them against a GDT, so the CPU is
 * sent to CPL 3 the way a kernel does it: one `sysexit` (which loads flat ring-3 CS
 * and SS without reading any descriptor), run from the root's VIDT page before
 * anything is loaded there.  Unicorn never takes an interrupt through the IDT (its
 * hooks do), so nothing brings the CPU back to CPL 0; GDTR keeps limit 0, so any
 * selector load but a null one faults (#GP) and privileged instructions fault too. */
static int enter_ring3(pip_machine *m) {
    pip_kernel *k = m->k;
    uint32_t va = pip_vidt_va(k), pa, cs = 0, zero = 0, eip = va + 2;
    if (pip_translate(k, k->root, va, 2, &pa)) return -1;
    /* sysexit, then at CPL 3: xor %ecx,%ecx; div %ecx (a #DE: where old_exception lies) */
    uint8_t saved[6], code[6] = {0x0F, 0x35, 0x31, 0xC9, 0xF7, 0xF1};
    memcpy(saved, k->mem + pa, sizeof code);
    memcpy(k->mem + pa, code, sizeof code);
    uc_x86_msr sysenter_cs = {0x174, 0x08};          /* IA32_SYSENTER_CS: CS 0x1B, SS 0x23 */
    U.reg_write(m->uc, UC_X86_REG_MSR, &sysenter_cs);
    U.reg_write(m->uc, UC_X86_REG_ECX, &zero);      /* esp */
    U.reg_write(m->uc, UC_X86_REG_EDX, &eip);
    size_t size = U.context_size(m->uc);
    uc_context *before = 0, *after = 0;
    int bad = U.context_alloc(m->uc, &before) || U.context_alloc(m->uc, &after);
    if (!bad) U.context_save(m->uc, before);        /* old_exception = -1 (reset) */
    U.emu_start(m->uc, va, 0, 0, 0);                 /* stops at the #DE: a root fault */
    if (!bad) U.context_save(m->uc, after);          /* old_exception = 0 */
    memcpy(k->mem + pa, saved, sizeof code);
    void *ptr = &cs;
    int reg = UC_X86_REG_CS;
    U.reg_read_batch(m->uc, &reg, &ptr, 1);
    int found = 0;
    for (size_t at = 0; !bad && at + 4 <= size; at += 4) {
        int32_t was, now;
        memcpy(&was, (uint8_t *)before + at, 4);
        memcpy(&now, (uint8_t *)after + at, 4);
        if (was == -1 && now == 0) found++, m->old_exception_at = (uint32_t)at;
    }
    if (before) U.context_free(before);
    m->cpu_blob = after;                             /* freed by pip_machine_free */
    if (found != 1) return -2;
    clear_old_exception(m);
    pip_machine_code_changed(m);
    /* those instructions were not a partition's: forget them */
    m->blocks = m->instructions = m->faults = m->tlb_fills = 0;
    m->pending_fault = m->panic = m->stop_reason = 0;
    memset(&m->fault, 0, sizeof m->fault);
    memset(m->stats, 0, sizeof m->stats);
    return (cs & 3) != 3;
}

static int x86_start(pip_machine *m) {
    uc_hook h;
    if (U.hook_add(m->uc, &h, UC_HOOK_INSN, (void *)on_sysenter, m, 1, 0, UC_X86_INS_SYSENTER))
        return -4;
    return enter_ring3(m) ? -7 : 0;
}

#define X86_EFLAGS_USER 0x0CD5u     /* CF PF AF ZF SF DF OF */
static const int x86_uc[] = {PIP_X86_UC_CONTEXT, UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS,
                             UC_X86_REG_GS};
static const arch_t x86_glue = {
    .uc_arch = UC_ARCH_X86, .uc_mode = UC_MODE_32, .configure = 0, .uc = x86_uc, .nread = 2 + PIP_X86_CONTEXT_REGS, .nwrite = 2 + PIP_X86_CONTEXT_REGS + 4,
    .pc_last = 0, .status_kept = X86_EFLAGS_USER, .user_status = PIP_X86_USER_STATUS,
    .thumb = PIP_X86_THUMB, .pc_flag = 0, .call_number = PIP_X86_CALL_NUMBER,
    .call_args = {PIP_X86_CALL_ARGS}, .call_result = PIP_X86_CALL_RESULT,
    .call_size = 2, .trap = x86_trap, .switch_xstate = x86_switch_fp, .start = x86_start,
    .save_extra = x86_save_fp, .load_extra = x86_load_fp};

static const arch_t *const ARCH[2] = {[PIP_ARCH_ARM] = &arm_glue, [PIP_ARCH_X86] = &x86_glue};

/* ---- set-up and the run loop ---- */

/* the engine of one machine (its CPU's table says which and how); a 64 MiB code buffer;
 * virtual-TLB mode (tlb_fill translates); run until something stops it (exits on, none
 * set); the RAM (every page but the device pages marked in k) mapped zero-copy from the
 * kernel's memory */
static int open_engine(pip_machine *m, uc_engine **out) {
    pip_kernel *k = m->k;
    const arch_t *a = glue(m);
    uc_engine *uc;
    if (U.open(a->uc_arch, a->uc_mode, &uc)) return -1;
    *out = uc;
    if (a->configure && a->configure(uc)) return -1;
    if (U.ctl(uc, UC_CTL_WRITE(UC_CTL_TCG_BUFFER_SIZE, 1), (uint32_t)(64u << 20)) ||
        U.ctl(uc, UC_CTL_WRITE(UC_CTL_TLB_TYPE, 1), UC_TLB_VIRTUAL) ||
        U.ctl(uc, UC_CTL_WRITE(UC_CTL_UC_USE_EXITS, 1), 1) ||
        U.ctl(uc, UC_CTL_WRITE(UC_CTL_UC_EXITS, 2), (uint64_t *)0, (size_t)0))
        return -1;
    for (uint32_t start = 0, page = 0; page <= k->npages; page++) {
        if (page < k->npages && !is_device(k, page)) continue;
        if (page > start && U.mem_map_ptr(uc, (uint64_t)start << PAGE_SHIFT,
                                          (uint64_t)(page - start) << PAGE_SHIFT, UC_PROT_ALL,
                                          k->mem + ((size_t)start << PAGE_SHIFT)))
            return -1;
        start = page + 1;
    }
    return 0;
}

int pip_machine_init(pip_machine *m, pip_kernel *k, uint32_t arch, uint32_t console_pa,
                     uint32_t system_pa) {
    memset(m, 0, sizeof *m);
    if (arch > PIP_ARCH_X86) return -8;
    m->k = k, m->arch = arch;
    m->instruction_limit = UINT64_MAX;
    if (open_engine(m, (uc_engine **)&m->uc)) return -8;
    uc_engine *uc = m->uc;
    uc_hook h;
    if (U.hook_add(uc, &h, UC_HOOK_TLB_FILL, (void *)tlb_fill, m, 1, 0)) return -1;
    if (U.hook_add(uc, &h, UC_HOOK_INTR, (void *)on_interrupt, m, 1, 0)) return -2;
    if (U.mmio_map(uc, console_pa, 1u << PAGE_SHIFT, console_read, m, console_write, m)) return -5;
    if (U.mmio_map(uc, system_pa, 1u << PAGE_SHIFT, system_read, m, system_write, m)) return -6;
    if (pip_machine_set_mode(m, PIP_MODE_EXACT)) return -3;
    int started = glue(m)->start ? glue(m)->start(m) : 0;      /* x86: sysenter, ring 3 */
    if (started) return started;
    m->started_ns = now_ns();
    m->running = m->fp_owner = k->current;            /* the root holds the CPU's registers */
    m->fp_owner_mmu = mmu_root(k, k->current), m->fp_owner_parent = parent_of(k, k->current);
    return 0;
}

/* deliver the pending hardware interrupts the root accepts now */
static void deliver_irqs(pip_machine *m) {
    pip_kernel *k = m->k;
    while (m->irq_pending && pip_int_state(k, k->root)) {
        uint32_t bit = __builtin_ctz(m->irq_pending);
        m->irq_pending &= ~(1u << bit);
        uint32_t from = k->current;
        sync_in(m);
        if (pip_hardware_interrupt(k, 32 + bit)) {
            m->irqs++;
            switched(m);
            trace(m, PIP_EVENT_IRQ, from, 32 + bit, k->root);
            sync_out(m, 1);
        } else {
            m->irqs_dropped++;
        }
    }
}

void pip_machine_free(pip_machine *m) {
    ticker_free(m);                  /* before the engine goes: it stops the engine */
    if (m->cpu_blob) U.context_free(m->cpu_blob);
    if (m->uc) U.close(m->uc);
    if (m->probe) U.close(m->probe);
    m->cpu_blob = m->uc = m->probe = 0;
}

/* ---- devices run by Python (pipkernel.machine.devices) ---- */
static uint64_t device_read(uc_engine *uc, uint64_t offset, unsigned size, void *ud) {
    (void)uc;
    pip_device *d = ud;
    return d->m->device_read(d->m, d->index, (uint32_t)offset, size);
}

static void device_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *ud) {
    (void)uc;
    pip_device *d = ud;
    d->m->device_write(d->m, d->index, (uint32_t)offset, size, (uint32_t)value);
}

int pip_machine_map_device(pip_machine *m, uint32_t pa) {
    if (m->device_count >= PIP_MAX_DEVICES || !m->device_read || !m->device_write) return -1;
    pip_device *d = &m->devices[m->device_count];
    d->m = m, d->index = m->device_count;
    if (U.mmio_map(m->uc, pa, 1u << PAGE_SHIFT, device_read, d, device_write, d)) return -1;
    return (int)m->device_count++;
}

uint32_t pip_machine_register(pip_machine *m, int uc_register) {
    uint64_t value = 0;            /* wide enough for any register we read (32-bit ones) */
    U.reg_read(m->uc, uc_register, &value);
    return (uint32_t)value;
}

uint32_t pip_machine_pc(pip_machine *m) {       /* as a context's pc word: ARM's Thumb bit */
    const arch_t *g = glue(m);
    return pip_machine_register(m, g->uc[0]) |
           (pip_machine_register(m, g->uc[1]) & g->thumb ? 1 : 0);
}

void pip_machine_load_cpu(pip_machine *m) {
    account(m);                      /* a Python partition passed control on: its time */
    sync_out(m, 1);
    m->next_check = 0;
}

static void debug_stopped(pip_machine *m);

/* one emulation from the running partition's pc, and what stopped it handled: a fault
 * delivered, the ticker's timer interrupt raised; the reason to return, or NONE */
static uint32_t emulate(pip_machine *m) {
    pip_kernel *k = m->k;
    m->stop_reason = PIP_STOP_NONE;
    m->pending_fault = 0;
    sync_in(m);                              /* the pc to start from (with Thumb state) */
    uc_err err = U.emu_start(m->uc, k->cpu[PIP_CTX_PC], 0, 0, 0);
    if (__atomic_exchange_n(&m->ticked, 0, __ATOMIC_ACQ_REL))
        m->irq_pending |= 1u << (PIP_VECTOR_TIMER - 32);
    if (err == UC_ERR_EXCEPTION && m->pending_fault) {
        sync_in(m);                                      /* precise pc of the access */
        deliver_fault(m, PIP_VECTOR_PAGE_FAULT, exact_address(m), m->fault_access);
    } else if (err == UC_ERR_INSN_INVALID || err == UC_ERR_EXCEPTION) {
        sync_in(m);
        deliver_fault(m, PIP_VECTOR_INVALID_OPCODE, 0, 0);
    } else if (err) {
        m->error = err;
        return PIP_STOP_ERROR;
    }
    if (m->panic) return PIP_STOP_PANIC;
    if (m->stop_reason == PIP_STOP_HALT || m->halt_requested) return PIP_STOP_HALT;
    if (m->stop_reason == PIP_STOP_BUDGET || m->stop_reason == PIP_STOP_HOST)
        return m->stop_reason;
    if (m->stop_reason == PIP_STOP_DEBUG) {
        debug_stopped(m);
        return m->slicing ? PIP_STOP_SLICE : PIP_STOP_DEBUG;
    }
    if (__atomic_load_n(&m->deadline_hit, __ATOMIC_ACQUIRE)) return PIP_STOP_BUDGET;
    if (m->slicing && __atomic_exchange_n(&m->slice_due, 0, __ATOMIC_ACQ_REL))
        return PIP_STOP_SLICE;
    return PIP_STOP_NONE;
}

int pip_machine_begin(pip_machine *m, uint64_t max_blocks, uint64_t max_instructions,
                      uint64_t max_ns) {
    if (m->mode == PIP_MODE_FAST && (max_blocks || max_instructions)) {
        m->error = UC_ERR_ARG;               /* fast mode counts neither */
        return -1;
    }
    m->block_budget = max_blocks ? m->blocks + max_blocks : 0;
    m->instruction_limit = max_instructions ? m->instructions + max_instructions : UINT64_MAX;
    m->deadline_ns = max_ns ? now_ns() + max_ns : 0;
    m->halt_requested = m->deadline_hit = 0;
    return 0;
}

/* A slice ends only where the run could stop anyway: in the block hook before a block, as
 * the ticker or a nearly full buffer asked (no uc_emu_stop from outside: docs/abi.md "The
 * engine's own bugs") */
uint32_t pip_machine_slice(pip_machine *m, uint64_t slice_ns) {
    m->next_check = 0;
    m->slicing = slice_ns != 0;
    m->slice_due = 0;
    account(m);
    int ticking = m->mode == PIP_MODE_FAST || m->deadline_ns || slice_ns;
    if (ticking) ticker_set(m, 1, m->deadline_ns, slice_ns ? now_ns() + slice_ns : 0);
    uint32_t reason;
    do {
        deliver_irqs(m);
        /* an interrupt taken by a Python root: control is Python's */
        reason = is_host(m, m->k->current) ? PIP_STOP_HOST : emulate(m);
    } while (reason == PIP_STOP_NONE);
    if (ticking) ticker_set(m, 0, 0, 0);
    if (__atomic_exchange_n(&m->ticked, 0, __ATOMIC_ACQ_REL))    /* came as the slice ended */
        m->irq_pending |= 1u << (PIP_VECTOR_TIMER - 32);
    m->slicing = 0;
    account(m);
    return reason;
}

uint32_t pip_machine_run(pip_machine *m, uint64_t max_blocks, uint64_t max_instructions,
                         uint64_t max_ns) {
    if (pip_machine_begin(m, max_blocks, max_instructions, max_ns)) return PIP_STOP_ERROR;
    return pip_machine_slice(m, 0);
}

/* ---- instruction trace (exact mode) ---- */
static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    if (m->code_pd && m->k->current != m->code_pd) return;
    pip_event *e = trace(m, PIP_EVENT_INSN, m->k->current, 0, 0);
    const arch_t *g = glue(m);
    if (e) e->pc = (uint32_t)address | (g->thumb && pip_machine_register(m, g->uc[1]) & g->thumb);
}

int pip_machine_trace_code(pip_machine *m, uint32_t begin, uint32_t end, uint32_t pd) {
    if (m->code_hook) U.hook_del(m->uc, (uc_hook)m->code_hook);
    m->code_hook = 0, m->code_pd = pd;
    uc_hook h;
    if (begin <= end && U.hook_add(m->uc, &h, UC_HOOK_CODE, (void *)on_code, m, begin, end))
        return -1;
    if (begin <= end) m->code_hook = h;
    pip_machine_code_changed(m);          /* translated blocks call the hook, or no longer */
    return 0;
}

/* ---- snapshots (docs/debugging.md "Snapshots and replay") ----
 * The record holds what a machine stopped between runs needs to go on as if it had never
 * stopped: the core's fields beside its memory, the CPU (the running partition's context and
 * what the CPU holds beyond it), the timer, the counters, the per-partition state and the
 * console bytes and trace events not yet taken.  Not in it: what a run sets up (its budgets,
 * the ticker, a slice), what the engine rebuilds (translated code, block counts, the TLB, the
 * probe) and the instruction-trace hook (the restoring run's choice). */
#define SNAP_SCALARS(X) X(panic) X(exit_code) X(irq_pending) X(timer_period) X(host_count)   \
    X(running) X(fp_owner) X(fp_owner_mmu) X(fp_owner_parent) X(fp_trapping) X(accounted_pd) \
    X(synced_pc) X(tracing) X(out_len) X(trace_len) X(timer_due) X(blocks)                   \
    X(accounted_instructions) X(instructions) X(syscalls) X(switches) X(faults) X(swis)      \
    X(irqs) X(irqs_dropped) X(tlb_fills) X(child_raised_events) X(console_dropped)           \
    X(trace_dropped) X(fault)
#define SNAP_ARRAYS(X) X(hosts) X(stats) X(xstate)
#define SNAP_CORE(X) X(current) X(last_error) X(corrupt)
#define SAVE_FIELD(f) s->f = m->f;
#define SAVE_ARRAY(f) _Static_assert(sizeof s->f == sizeof m->f, #f); memcpy(s->f, m->f, sizeof s->f);
#define SAVE_CORE(f) s->f = k->f;
#define LOAD_FIELD(f) m->f = s->f;
#define LOAD_ARRAY(f) memcpy(m->f, s->f, sizeof m->f);
#define LOAD_CORE(f) k->f = s->f;

static size_t snapshot_tail(uint32_t out_len, uint32_t trace_len) {
    return (size_t)out_len + (size_t)trace_len * sizeof(pip_event);
}

size_t pip_machine_save(pip_machine *m, uint8_t *out, size_t cap) {
    pip_kernel *k = m->k;
    size_t need = sizeof(pip_snapshot) + snapshot_tail(m->out_len, m->trace_len);
    if (cap < need) return need;
    pip_snapshot *s = calloc(1, sizeof *s);          /* zeroed padding: equal states, equal bytes */
    if (!s) return 0;
    s->version = PIP_SNAPSHOT_VERSION, s->arch = m->arch, s->npages = k->npages;
    s->table_size = k->table_size, s->levels = k->levels, s->policy = k->policy;
    s->device_count = m->device_count, s->mode = m->mode, s->root = k->root;
    s->cli_index = k->cli_index, s->sti_index = k->sti_index;
    SNAP_CORE(SAVE_CORE)
    if (is_host(m, k->current)) memcpy(s->cpu, k->cpu, sizeof s->cpu);
    else read_cpu(m, s->cpu);                /* k->cpu is stale: the CPU holds the registers */
    glue(m)->save_extra(m, s);
    s->elapsed_ns = now_ns() - m->started_ns;
    SNAP_SCALARS(SAVE_FIELD)
    SNAP_ARRAYS(SAVE_ARRAY)
    memcpy(out, s, sizeof *s);
    memcpy(out + sizeof *s, m->out, m->out_len);
    memcpy(out + sizeof *s + m->out_len, m->trace, (size_t)m->trace_len * sizeof(pip_event));
    free(s);
    return need;
}

/* 0 if the record s (size bytes with what follows it) and memory_size fit m, else why not */
static int snapshot_fits(const pip_machine *m, const pip_snapshot *s, size_t size,
                         size_t memory_size) {
    const pip_kernel *k = m->k;
    if (s->version != PIP_SNAPSHOT_VERSION) return PIP_SNAP_E_VERSION;
    if (s->arch != m->arch) return PIP_SNAP_E_ARCH;
    if (s->npages != k->npages || s->table_size != k->table_size || s->levels != k->levels ||
        s->root != k->root || s->cli_index != k->cli_index || s->sti_index != k->sti_index)
        return PIP_SNAP_E_GEOMETRY;
    if (s->policy != k->policy) return PIP_SNAP_E_POLICY;
    if (s->device_count != m->device_count) return PIP_SNAP_E_DEVICES;
    if (s->out_len > PIP_CONSOLE_CAP || s->trace_len > PIP_TRACE_CAP ||
        size != sizeof *s + snapshot_tail(s->out_len, s->trace_len))
        return PIP_SNAP_E_SIZE;
    if (memory_size != (size_t)k->npages << PAGE_SHIFT) return PIP_SNAP_E_MEMORY;
    int bad = s->mode > PIP_MODE_FAST || s->host_count > PIP_MAX_HOSTS || !s->current ||
              s->current >= k->npages || s->running >= k->npages || s->fp_owner >= k->npages ||
              s->accounted_pd >= k->npages;
    for (uint32_t i = 0; i < s->host_count && !bad; i++) bad = s->hosts[i] >= k->npages;
    for (uint32_t i = 0; i < PIP_XSTATE_SLOTS && !bad; i++) bad = s->xstate[i].pd >= k->npages;
    return bad ? PIP_SNAP_E_VALUE : 0;
}

/* s into m, whose mode is s's already: memory, fields, then the CPU */
static void snapshot_load(pip_machine *m, const pip_snapshot *s, const uint8_t *tail,
                          const uint8_t *memory) {
    pip_kernel *k = m->k;
    memcpy(k->mem, memory, (size_t)k->npages << PAGE_SHIFT);
    SNAP_CORE(LOAD_CORE)
    memcpy(k->cpu, s->cpu, sizeof k->cpu);
    SNAP_SCALARS(LOAD_FIELD)
    SNAP_ARRAYS(LOAD_ARRAY)
    memcpy(m->out, tail, s->out_len);
    memcpy(m->trace, tail + s->out_len, (size_t)s->trace_len * sizeof(pip_event));
    uint64_t now = now_ns();
    m->started_ns = now - s->elapsed_ns, m->accounted_ns = now;
    /* no run is under way: no budget, no stop asked for */
    m->block_budget = 0, m->instruction_limit = UINT64_MAX, m->deadline_ns = 0;
    m->stop_reason = m->halt_requested = m->pending_fault = m->error = 0;
    m->ticked = m->deadline_hit = m->poke = m->slice_due = 0;
    m->next_check = 0;
    pip_machine_code_changed(m);    /* translated from the old memory, block counts with it */
    glue(m)->load_extra(m, s);
    sync_out(m, 1);                 /* the running partition's registers (unless Python's) */
    U.ctl(m->uc, UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0));
}

int pip_machine_restore(pip_machine *m, const uint8_t *record, size_t size,
                        const uint8_t *memory, size_t memory_size) {
    if (size < sizeof(pip_snapshot)) return PIP_SNAP_E_SIZE;
    pip_snapshot *s = malloc(sizeof *s);             /* aligned, whatever record's address */
    if (!s) return PIP_SNAP_E_ENGINE;
    memcpy(s, record, sizeof *s);
    uint32_t mode = m->mode;
    int refused = snapshot_fits(m, s, size, memory_size);
    if (!refused && pip_machine_set_mode(m, s->mode)) {
        pip_machine_set_mode(m, mode);
        refused = PIP_SNAP_E_ENGINE;
    }
    if (!refused) snapshot_load(m, s, record + sizeof *s, memory);
    free(s);
    return refused;
}

/* ---- a debugger's stops (pipkernel.machine.gdb) ----
 * While a breakpoint, a watchpoint or a step is set, a code hook over every address looks
 * before each instruction.  A stop there comes before the instruction runs (the engine syncs
 * the pc for a code hook and looks for a stop request right after it); exact mode uncounts
 * the rest of the block and the block itself, which count again when the rest runs: the
 * timer (block counts) and the counts come out as in a run without stops.  A watchpoint's memory hook only
 * notes the access: the stop comes before the next instruction, so the accessing one is
 * whole (an engine stopped inside an access would run it again: docs/abi.md "The engine's
 * own bugs").  Breakpoints are VAs, in whichever partition runs them (a debugger filters by
 * thread: gdb's `break ... thread N`); watchpoints are physical addresses, as virtual-TLB
 * mode hands them to memory hooks.  Without points or step, no hook: full speed. */
/* the engine stopped as on_debug_code asked: where it really did (an ARM instruction of an IT
 * block whose condition fails calls the code hook, yet the engine stops only before the next
 * one that runs) */
static void debug_stopped(pip_machine *m) {
    const arch_t *g = glue(m);
    uint32_t pc = pip_machine_pc(m) & ~g->pc_flag;
    uncount_from(m, pc);
    if (m->mode == PIP_MODE_EXACT) m->blocks--;    /* the rest counts as the same block */
    if (g->stopped_at) g->stopped_at(m, pc);
}

static void on_debug_code(uc_engine *uc, uint64_t address, uint32_t size, void *ud) {
    (void)uc, (void)size;
    pip_machine *m = ud;
    pip_debug *d = &m->debug;
    uint32_t pc = (uint32_t)address, why = 0;
    if (m->stop_reason == PIP_STOP_DEBUG) return;       /* asked already */
    if (!d->resumed) {                   /* the instruction a resume starts at runs once */
        d->resumed = 1;
        if (m->k->current == d->resume_pd && pc == d->resume_pc) return;
    }
    if (d->watch_pending) why = PIP_DEBUG_WATCH;
    else if (d->stepping) why = PIP_DEBUG_STEP;
    for (uint32_t i = 0; !why && i < d->breakpoint_count; i++)
        if (d->breakpoints[i] == pc) why = PIP_DEBUG_BREAK;
    if (why) {
        d->stopped = why, d->watch_pending = 0;
        stop(m, PIP_STOP_DEBUG);
    }
}

static void on_debug_memory(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                            int64_t value, void *ud) {
    (void)uc, (void)value;
    pip_machine *m = ud;
    pip_debug *d = &m->debug;
    uint32_t access = type == UC_MEM_WRITE ? PIP_WATCH_WRITE : PIP_WATCH_READ;
    for (uint32_t i = 0; !d->watch_pending && i < d->watchpoint_count; i++) {
        pip_watchpoint *w = &d->watchpoints[i];
        if ((w->access & access) && address < (uint64_t)w->address + w->size &&
            address + (uint64_t)size > w->address)
            d->watch_pending = 1, d->watch_address = w->address, d->watch_access = w->access;
    }
}

/* the hooks the points and the step need, added or removed (translated code is dropped when
 * they change: hooks are compiled into it) */
static int debug_hooks(pip_machine *m) {
    pip_debug *d = &m->debug;
    int code = d->breakpoint_count || d->watchpoint_count || d->stepping;
    int memory = d->watchpoint_count != 0, changed = 0;
    uc_hook h;
    if (code != (d->code_hook != 0)) {
        if (d->code_hook) U.hook_del(m->uc, (uc_hook)d->code_hook), d->code_hook = 0;
        else if (U.hook_add(m->uc, &h, UC_HOOK_CODE, (void *)on_debug_code, m, 1, 0)) return -3;
        else d->code_hook = h;
        changed = 1;
    }
    if (memory != (d->mem_hook != 0)) {
        if (d->mem_hook) U.hook_del(m->uc, (uc_hook)d->mem_hook), d->mem_hook = 0;
        else if (U.hook_add(m->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                            (void *)on_debug_memory, m, 1, 0)) return -3;
        else d->mem_hook = h;
        changed = 1;
    }
    if (changed) pip_machine_code_changed(m);
    return 0;
}

/* set (on) or clear an item in a table of *n items of size bytes (at most cap): 0; -1 the
 * table is full; -2 no such item to clear */
static int table_set(void *table, uint32_t *n, uint32_t cap, size_t size, const void *item,
                     int on) {
    uint8_t *t = table;
    uint32_t i = 0;
    while (i < *n && memcmp(t + i * size, item, size)) i++;
    if (on && i == *n) {
        if (i >= cap) return -1;
        memcpy(t + (size_t)(*n)++ * size, item, size);
    } else if (!on) {
        if (i == *n) return -2;
        memcpy(t + i * size, t + (size_t)--(*n) * size, size);    /* the last one fills it */
    }
    return 0;
}

int pip_machine_debug_point(pip_machine *m, uint32_t access, uint32_t address, uint32_t size,
                            int on) {
    pip_debug *d = &m->debug;
    pip_watchpoint w = {address, size, access};
    if (access > PIP_WATCH_ACCESS) return -2;
    int set = access ? table_set(d->watchpoints, &d->watchpoint_count, PIP_MAX_WATCHPOINTS,
                                 sizeof w, &w, on)
                     : table_set(d->breakpoints, &d->breakpoint_count, PIP_MAX_BREAKPOINTS,
                                 sizeof address, &address, on);
    return set ? set : debug_hooks(m);
}

int pip_machine_debug_resume(pip_machine *m, int step) {
    pip_debug *d = &m->debug;
    d->stepping = step != 0, d->stopped = 0, d->resumed = 0, d->watch_pending = 0;
    d->resume_pd = m->k->current;
    d->resume_pc = pip_machine_pc(m) & ~glue(m)->pc_flag;
    return debug_hooks(m);
}

int pip_machine_context(pip_machine *m, uint32_t pd, uint32_t *context) {
    if (pd == m->k->current && !is_host(m, pd)) {
        sync_in(m);
        memcpy(context, m->k->cpu, sizeof m->synced);
        return 0;
    }
    for (uint32_t i = 0; i < PIP_STAT_SLOTS; i++) {
        pip_stats *s = &m->stats[(pd + i) % PIP_STAT_SLOTS];
        if (s->pd == pd && s->left) {
            memcpy(context, s->context, sizeof s->context);
            return 0;
        }
        if (!s->pd) break;
    }
    return -1;
}

void pip_machine_set_context(pip_machine *m, const uint32_t *context) {
    memcpy(m->k->cpu, context, sizeof m->synced);
    sync_out(m, 0);
}
