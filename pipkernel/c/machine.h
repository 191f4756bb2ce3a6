/*
 * machine.h - the Unicorn glue's interface (machine.c).  As in pip.h, the part
 * between BEGIN CDEF and END CDEF is read by the cffi build as is.
 */
#ifndef PIP_MACHINE_H
#define PIP_MACHINE_H
#include "pip.h"

/* BEGIN CDEF */
#define PIP_ARCH_ARM 0
#define PIP_ARCH_X86 1
#define PIP_STOP_NONE 0
#define PIP_STOP_HALT 1
#define PIP_STOP_PANIC 2
#define PIP_STOP_BUDGET 3
#define PIP_STOP_IRQ 4
#define PIP_STOP_ERROR 5
#define PIP_STOP_HOST 6
#define PIP_STOP_SLICE 7            /* a slice ended (pip_machine_slice): the run goes on */
#define PIP_STOP_DEBUG 8            /* a debugger's stop (pip_machine_debug_*); in a slice, the
                                     * slice ends (PIP_STOP_SLICE) and debug.stopped says why */
#define PIP_MODE_EXACT 0            /* a counting block hook: block-exact time, exact counts */
#define PIP_MODE_FAST 1             /* a block hook that only looks for stops: host-time timer */
#define PIP_FAST_NS_PER_BLOCK 5     /* fast mode: a timer period's block, in host ns */
#define PIP_FAST_MIN_TICK_NS 20000  /* fast mode: the shortest timer period (host timers) */
#define PIP_EVENT_SYSCALL 1
#define PIP_EVENT_SWITCH 2
#define PIP_EVENT_FAULT 3
#define PIP_EVENT_SWI 4
#define PIP_EVENT_IRQ 5
#define PIP_EVENT_INSN 6            /* an instruction about to run (pip_machine_trace_code) */
#define PIP_CONSOLE_CAP 65536
#define PIP_CONSOLE_MARGIN 4096     /* slicing: fewer bytes left ends the slice at the next block */
#define PIP_TRACE_CAP 65536
#define PIP_TRACE_MARGIN 1024       /* slicing: fewer events left ends the slice at the next
                                     * block (a block is at most 512 instructions) */
#define PIP_MAX_HOSTS 64
#define PIP_ICOUNT_SLOTS 8192
#define PIP_STAT_SLOTS 256

typedef struct pip_event {          /* docs/debugging.md "Traces" names each field */
    uint32_t kind, partition;        /* PIP_EVENT_*; the partition it happened to */
    uint32_t number, result, pc;     /* call number / vector, its result / target, where */
    uint32_t reason;                 /* a refused kernel call: k->last_error (PIP_E_*) */
    uint32_t args[6];
    uint64_t time;                   /* exact mode: instructions; fast: host ns since start */
} pip_event;

typedef struct pip_fault_record {
    uint32_t vector, address, access, partition, pc;
    uint32_t context[20];            /* the faulting partition's context (PIP_CONTEXT_WORDS) */
} pip_fault_record;

typedef struct pip_stats {           /* per partition: pd 0 = free slot */
    uint32_t pd, pc;                 /* pc: where it last left the CPU */
    uint64_t instructions, syscalls, faults, switches_in, host_ns;
    uint32_t context[20];            /* its registers as it last left the CPU (left: 1) */
    uint32_t left;
} pip_stats;

/* ---- a debugger's stops (pipkernel.machine.gdb): breakpoints, watchpoints, steps ---- */
#define PIP_DEBUG_BREAK 1            /* debug.stopped: an instruction at a breakpoint */
#define PIP_DEBUG_STEP 2             /* ... the next instruction after a step's */
#define PIP_DEBUG_WATCH 3            /* ... the one after an access a watchpoint caught */
#define PIP_WATCH_READ 1             /* a debug point's access: 0 a breakpoint, or these */
#define PIP_WATCH_WRITE 2
#define PIP_WATCH_ACCESS 3
#define PIP_MAX_BREAKPOINTS 64
#define PIP_MAX_WATCHPOINTS 16
typedef struct pip_watchpoint { uint32_t address, size, access; } pip_watchpoint;
typedef struct pip_debug {
    uint32_t breakpoints[64], breakpoint_count;     /* VAs, in whichever partition runs them */
    pip_watchpoint watchpoints[16];  /* physical addresses (what memory hooks are handed) */
    uint32_t watchpoint_count;
    uint32_t stepping;               /* stop before the next instruction */
    uint32_t resume_pd, resume_pc, resumed;   /* where a resume starts: runs once unstopped */
    uint32_t stopped;                /* PIP_DEBUG_*: why the last slice stopped; 0: it did not */
    uint32_t watch_pending, watch_address, watch_access;   /* what a watchpoint caught */
    uint64_t code_hook, mem_hook;    /* the engine's hooks while any point or step is set */
} pip_debug;

#define PIP_XSTATE_SLOTS 1024
#define PIP_FP_BYTES 416
typedef struct pip_xstate {          /* per partition: pd 0 = never used (machine.c) */
    uint32_t pd, mmu, parent;        /* its descriptor page, MMU root and parent when saved */
    uint32_t tpidrurw, fp_saved;
    uint8_t fp[416];
} pip_xstate;

typedef struct pip_icount { uint64_t key; uint32_t icount; } pip_icount;

/* the Unicorn functions the glue calls: their addresses in the library the Python binding
 * loaded (pipkernel.machine fills every field by its name) */
typedef struct pip_unicorn {
    void *uc_open;
    void *uc_close;
    void *uc_ctl;
    void *uc_mem_map_ptr;
    void *uc_mmio_map;
    void *uc_hook_add;
    void *uc_hook_del;
    void *uc_reg_read;
    void *uc_reg_read_batch;
    void *uc_reg_write;
    void *uc_reg_write_batch;
    void *uc_emu_start;
    void *uc_emu_stop;
    void *uc_context_alloc;
    void *uc_context_save;
    void *uc_context_restore;
    void *uc_context_size;
    void *uc_context_free;
} pip_unicorn;

#define PIP_MAX_DEVICES 32
typedef struct pip_device {          /* a page of MMIO served by Python (its index) */
    struct pip_machine *m;
    uint32_t index;
} pip_device;

typedef struct pip_machine {
    pip_kernel *k;
    void *uc;
    uint32_t arch;
    /* kernel calls numbered >= PIP_HOST_CALL_BASE, and the devices' MMIO: the Python
     * callbacks of _build.py */
    uint32_t (*host_call)(struct pip_machine *m, uint32_t number, uint32_t *args);
    uint32_t (*device_read)(struct pip_machine *m, uint32_t device, uint32_t offset,
                            uint32_t size);
    void (*device_write)(struct pip_machine *m, uint32_t device, uint32_t offset, uint32_t size,
                         uint32_t value);
    pip_device devices[32];
    uint32_t device_count;
    /* run state */
    uint32_t stop_reason, halt_requested, panic, exit_code, error;
    uint32_t hosts[64], host_count;  /* partitions run by Python: switching to one stops */
    uint32_t pending_fault, fault_va, fault_access;
    pip_fault_record fault;          /* the last fault */
    uint32_t irq_pending;            /* bit i: vector 32 + i */
    uint32_t mode;                   /* PIP_MODE_*: pip_machine_set_mode */
    uint64_t block_hook;             /* the block hook's handle (exact mode), 0: none */
    uint64_t blocks, block_budget;   /* exact mode: blocks run; at most block_budget (0: none) */
    uint64_t instruction_limit;      /* exact mode: at most this many instructions in all */
    uint64_t next_check;             /* exact mode: the block count at which the block hook
                                      * looks at the timer and the budgets again */
    uint64_t block_pc;               /* exact mode: where the running block starts */
    uint32_t timer_period;           /* blocks between timer interrupts (0: off) */
    uint64_t timer_due;              /* exact mode: the block count of the next one */
    /* counters (instructions and blocks: exact mode only) */
    uint64_t instructions, syscalls, switches, faults, swis, irqs, irqs_dropped, tlb_fills;
    uint64_t child_raised_events;    /* a child's yield / dispatch into a parent's event vector */
    pip_stats stats[256];
    /* per-partition accounting at each switch: who runs since when */
    uint32_t accounted_pd;
    uint64_t accounted_instructions, accounted_ns, started_ns;
    /* the ticker thread (fast mode's timer, any mode's time limit) and what it raised; poke:
     * the block hook stops the engine before the next block (set from outside the hooks) */
    void *ticker;
    uint32_t ticked, deadline_hit, poke;
    /* slices (pip_machine_slice): whether one runs, and that it should end at the next block */
    uint32_t slicing, slice_due;
    uint64_t deadline_ns;            /* the run's end in host time (0: none) */
    uint32_t synced_pc;              /* the pc the last CPU -> context sync read */
    void *probe;                     /* the engine that finds a refused access's address */
    uint32_t probe_hit, probe_offset;
    uint64_t code_hook;              /* pip_machine_trace_code's hook, 0: none */
    uint32_t code_pd;                /* ... for this partition only (0: any) */
    pip_icount icounts[8192];        /* (partition, block address) -> instructions */
    /* devices */
    uint8_t out[65536];
    uint32_t out_len;
    uint64_t console_dropped;        /* bytes that found the console buffer full */
    /* trace */
    uint32_t tracing, trace_len;
    uint64_t trace_dropped;          /* events that found the ring full */
    pip_event trace[65536];
    /* CPU state beyond contexts: whose registers the CPU holds, who owns the x86 FP
     * registers, whether CR0.TS is set (machine.c "per-partition CPU state") */
    uint32_t running, fp_owner, fp_owner_mmu, fp_owner_parent, fp_trapping;
    pip_xstate xstate[1024];
    /* x86: the CPU context blob and where QEMU's old_exception lies in it (machine.c) */
    void *cpu_blob;
    uint32_t old_exception_at;
    uint32_t synced[20];             /* the context the last CPU -> context sync read */
    pip_debug debug;                 /* a debugger's points and stops (pip_machine_debug_*) */
} pip_machine;

/* Snapshots (docs/debugging.md "Snapshots and replay"): everything of a machine stopped
 * between runs but its memory and what Python keeps, as one record; pip_machine_save writes
 * it followed by out_len console bytes and trace_len events (pip_event) not yet taken */
#define PIP_SNAPSHOT_VERSION 1
#define PIP_SNAP_E_SIZE 1           /* pip_machine_restore's refusals: the record's size */
#define PIP_SNAP_E_VERSION 2        /* ... its layout (PIP_SNAPSHOT_VERSION) */
#define PIP_SNAP_E_ARCH 3
#define PIP_SNAP_E_GEOMETRY 4       /* pages, table size, levels */
#define PIP_SNAP_E_POLICY 5
#define PIP_SNAP_E_DEVICES 6        /* how many devices written in Python */
#define PIP_SNAP_E_VALUE 7          /* a field out of its range */
#define PIP_SNAP_E_MEMORY 8         /* the memory's size */
#define PIP_SNAP_E_ENGINE 9         /* the engine or the host could not (a hook, memory) */
typedef struct pip_snapshot {
    uint32_t version, arch, npages, table_size, levels, policy, device_count, mode;
    /* the core (pip_kernel) beside its memory */
    uint32_t root, current, last_error, corrupt, cli_index, sti_index;
    uint32_t cpu[20];                /* the running partition's context, read from the CPU */
    uint8_t cpu_extra[416];          /* the CPU's state beyond it (arch: ARM TPIDRURW, x86 FP) */
    /* the machine */
    uint32_t panic, exit_code, irq_pending, timer_period;
    uint32_t hosts[64], host_count;
    uint32_t running, fp_owner, fp_owner_mmu, fp_owner_parent, fp_trapping;
    uint32_t accounted_pd, synced_pc, tracing;
    uint32_t out_len, trace_len;     /* what follows the record */
    uint64_t timer_due, blocks, elapsed_ns, accounted_instructions;
    uint64_t instructions, syscalls, switches, faults, swis, irqs, irqs_dropped, tlb_fills;
    uint64_t child_raised_events, console_dropped, trace_dropped;
    pip_fault_record fault;
    pip_stats stats[256];
    pip_xstate xstate[1024];
} pip_snapshot;

int pip_machine_bind(const pip_unicorn *functions);   /* once per process, before init */
/* opens the engine (freed by pip_machine_free); mark the device pages in k first */
int pip_machine_init(pip_machine *m, pip_kernel *k, uint32_t arch, uint32_t console_pa,
                     uint32_t system_pa);
int pip_machine_map_device(pip_machine *m, uint32_t pa);  /* its index, -1 if none left */
uint32_t pip_machine_register(pip_machine *m, int uc_register);   /* an engine register */
uint32_t pip_machine_pc(pip_machine *m);   /* the running partition's pc (ARM: bit 0 Thumb) */
/* run until a halt, a panic, a host partition or a budget: max_blocks / max_instructions
 * (exact mode only; 0: none), max_ns of host time (0: none) */
uint32_t pip_machine_run(pip_machine *m, uint64_t max_blocks, uint64_t max_instructions,
                         uint64_t max_ns);
/* the same run in slices: begin sets its budgets (-1: fast mode given counts), each slice
 * runs it for at most slice_ns of host time (or until the console buffer or the trace ring
 * is nearly full) and returns PIP_STOP_SLICE if the run goes on */
int pip_machine_begin(pip_machine *m, uint64_t max_blocks, uint64_t max_instructions,
                      uint64_t max_ns);
uint32_t pip_machine_slice(pip_machine *m, uint64_t slice_ns);
/* exact mode: trace each instruction in [begin, end] (of partition pd; 0: any); begin > end:
 * none.  0, or -1 if the engine refused the hook */
int pip_machine_trace_code(pip_machine *m, uint32_t begin, uint32_t end, uint32_t pd);
int pip_machine_set_mode(pip_machine *m, uint32_t mode);   /* between runs; -1 if unknown */
void pip_machine_set_timer(pip_machine *m, uint32_t period);   /* blocks; 0: off */
void pip_machine_raise_irq(pip_machine *m, uint32_t vector);   /* 32..63 */
void pip_machine_load_cpu(pip_machine *m);   /* k->cpu -> the engine's registers */
void pip_machine_code_changed(pip_machine *m); /* after host writes to code pages */
void pip_machine_free(pip_machine *m);      /* what init allocated, the engine with it */
/* between runs: the record and what follows it into out; the bytes it needs (nothing
 * written if cap is smaller) */
size_t pip_machine_save(pip_machine *m, uint8_t *out, size_t cap);
/* a record and the memory (npages * 4096 bytes) back into m, its translated code and TLB
 * flushed: 0, or a PIP_SNAP_E_* naming what does not fit m (then nothing changed) */
int pip_machine_restore(pip_machine *m, const uint8_t *record, size_t size,
                        const uint8_t *memory, size_t memory_size);
/* a debugger's view, between runs or slices: partition pd's context (the running one's from
 * the CPU, another's as it last left the CPU): 0, or -1 if none is known */
int pip_machine_context(pip_machine *m, uint32_t pd, uint32_t *context);
void pip_machine_set_context(pip_machine *m, const uint32_t *context);   /* the running one's */
/* set (on) or clear a breakpoint (access 0) or watchpoint (PIP_WATCH_*) at a VA: 0; -1 the
 * table is full; -2 no such point to clear; -3 the engine refused a hook */
int pip_machine_debug_point(pip_machine *m, uint32_t access, uint32_t address, uint32_t size,
                            int on);
/* before a run or slice: run on (step 0) or stop before the next instruction (step 1); the
 * instruction the running partition resumes at runs once without stopping.  0, or -3 */
int pip_machine_debug_resume(pip_machine *m, int step);
/* END CDEF */

#endif
