/* The attacker's attempts, in order. The root starts the attacker once per attempt
 * with main(index, victim_data, victim_desc, own_desc): the VAs, in the root's address
 * space, of the victim's data page, the victim's descriptor and the attacker's own
 * descriptor (none of them mapped in the attacker). Each attempt ends in a fault
 * delivered to the root, or in a report: software interrupt PIP_SERVICE_VECTOR with
 * r0 = the call's result (or ATTACK_NOT_REFUSED after a memory access that worked). */
#ifndef ATTACKS_H
#define ATTACKS_H

#define ATTACK_NOT_REFUSED 0xBAD0ACCEu

/* Fixed addresses the attacker aims at. */
#define KERNEL_SLOT_LOW 0x400000u       /* first VA of the kernel slot (index 1) */
#define KERNEL_SLOT_HIGH 0x7FFFFCu      /* last word of the kernel slot */
#define FOREIGN_VA 0x3000u              /* a VA the attacker tries to hand out/ask for */

enum attack {
    /* memory: each must fault */
    ATK_READ_VICTIM,        /* read the victim's data page (unmapped here) */
    ATK_WRITE_VICTIM,       /* write it */
    ATK_WRITE_OWN_CODE,     /* write its own code page (R X) */
    ATK_EXEC_OWN_DATA,      /* jump into its own data page (R W) */
    ATK_READ_KERNEL,        /* read the kernel slot */
    ATK_WRITE_KERNEL,       /* write the kernel slot */
    ATK_EXEC_KERNEL,        /* jump into the kernel slot */
    ATK_READ_OWN_PD,        /* read where its own descriptor is in the root */
    ATK_READ_VICTIM_PD,     /* read where the victim's descriptor is in the root */
    ATK_READ_CONSOLE,       /* read the console page it was not given */
    ATK_FORGE_TIMER,        /* raise vector 32 by software (`svc #32` / `int $32`) */
    /* system calls naming pages and partitions it does not own: each must fail */
    ATK_CREATE_FOREIGN,     /* createPartition from the victim's and the root's pages */
    ATK_ADD_VICTIM_PAGE,    /* addVAddr(victim data, victim descriptor, ...) */
    ATK_PREPARE_VICTIM,     /* prepare the victim's tables */
    ATK_COUNT_VICTIM,       /* countToMap in the victim */
    ATK_MAPPED_VICTIM,      /* mappedInChild(victim data) */
    ATK_REMOVE_VICTIM,      /* removeVAddr(victim, its data) */
    ATK_COLLECT_VICTIM,     /* collect in the victim */
    ATK_DELETE_VICTIM,      /* deletePartition(victim) */
    ATK_YIELD_SIBLING,      /* yield to the victim, a sibling */
    ATK_DISPATCH_SIBLING,   /* dispatch to it */
    ATK_RESUME_SIBLING,     /* resume it */
    ATK_INT_STATE_SIBLING,  /* get_int_state(victim) */
    /* leaving user mode (docs/abi.md "Privilege"): each must fault or come back in it */
    ATK_PRIV_REGISTER,      /* read a control register (x86 cr0, ARM SCTLR): must fault */
    ATK_PRIV_TABLE,         /* load a descriptor / translation table base (x86 lgdt, ARM
                               TTBR0): must fault */
    ATK_MODE_SWITCH,        /* x86: load a kernel segment into DS (must fault); ARM: msr to
                               SVC mode with IRQs masked (must stay in USR: reports the mode) */
    ATK_FORGED_STATUS,      /* resume itself, again and again, from contexts whose status
                               word names every ARM mode / x86 IOPL 3, VM86, NT, TF...:
                               reports how many ran outside user mode */
    /* CPU state beyond contexts: the root keeps CPU_SECRET in its x87 ST0 and SSE XMM0
     * (x86) / TPIDRURW (ARM) */
    ATK_READ_CPU_STATE,     /* read them: reports how many hold the root's secret */
    ATK_WRITE_CPU_STATE,    /* overwrite them (the root checks its own at the end) */
    ATK_COUNT
};

#define CPU_SECRET 0x5EC12E7u

/* Put v in the registers a partition may change beyond its context (docs/abi.md
 * "Privilege"); cpu_state_holding(v): how many of them hold v (of CPU_STATE_REGS). */
#if defined(__arm__)
#define CPU_STATE_REGS 1u
static inline void cpu_state_set(uint32_t v)
{
    __asm__ volatile("mcr p15, 0, %0, c13, c0, 2" : : "r"(v));
}
static inline uint32_t cpu_state_holding(uint32_t v)
{
    uint32_t tls;
    __asm__ volatile("mrc p15, 0, %0, c13, c0, 2" : "=r"(tls));
    return tls == v;
}
#else
#define CPU_STATE_REGS 2u
static inline void cpu_state_set(uint32_t v)
{
    __asm__ volatile("fninit\n\tfildl %0\n\tmovd %0, %%xmm0" : : "m"(v));
}
static inline uint32_t cpu_state_holding(uint32_t v)
{
    uint32_t x87, sse;
    __asm__ volatile("fistl %0" : "=m"(x87));
    __asm__ volatile("movd %%xmm0, %0" : "=r"(sse));
    return (x87 == v) + (sse == v);
}
#endif

#endif
