/* attacker sample, the attacker: runs attempt `index` (attacks.h) and reports. Each
 * start is a fresh context from the root (main(index, victim_data, victim_desc,
 * own_desc)); an attempt that faults never comes back here. */
#include <pip/pip.h>
#include "attacks.h"

/* Its data page starts with breakpoints, so executing it, if ever allowed, would
 * show up as vector 3 instead of the page fault the root expects. */
#if defined(__arm__)
#define TRAP_WORD 0xBE00BE00u       /* Thumb `bkpt #0` twice */
#else
#define TRAP_WORD 0xCCCCCCCCu       /* x86 `int3` */
#endif
volatile uint32_t own_data[1024] __attribute__((aligned(4096))) = {
    [0 ... 1023] = TRAP_WORD,
};

extern char __image_start[];

static __attribute__((noreturn)) void report(uint32_t value)
{
    (void)PIP_SOFTINT(PIP_SERVICE_VECTOR, value);
    for (;;)
        ;       /* the root restarts us; reaching here means it did not */
}

static void jump(uint32_t va)
{
#if defined(__arm__)
    va |= 1u;   /* stay in Thumb state: the fault is the fetch, not a state change */
#endif
    ((void (*)(void))(uintptr_t)va)();
}

/* ---- leaving user mode ---- */

/* 1 if the CPU runs this code outside user mode (ARM: mode not USR or A/I/F masked;
 * x86: CPL not 3, or IOPL not 0) */
static uint32_t privileged(void)
{
#if defined(__arm__)
    uint32_t cpsr;
    __asm__ volatile("mrs %0, cpsr" : "=r"(cpsr));
    return (cpsr & 0x1Fu) != 0x10u || (cpsr & 0x1C0u) != 0;
#else
    uint32_t cs, flags;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    __asm__ volatile("pushf\n\tpop %0" : "=r"(flags));
    return (cs & 3u) != 3u || (flags & 0x3000u) != 0;
#endif
}

/* The status words a forged context tries (word 2 of pip_context_t). */
#if defined(__arm__)
#define FORGED_COUNT 32u
static uint32_t forged_status(uint32_t i) { return i | 0x010001C0u; }  /* mode i, J A I F */
#else
static const uint32_t forged[] = {
    0xFFFFFFFFu, 0x00003202u /* IOPL 3 */, 0x00020202u /* VM86 */, 0x00004202u /* NT */,
    0x00000302u /* TF */, 0x00040202u /* AC */, 0x00000002u /* IF clear */,
};
#define FORGED_COUNT (sizeof forged / sizeof forged[0])
static uint32_t forged_status(uint32_t i) { return forged[i]; }
#endif

/* The last context of its own VIDT page (vidt.h's layout): where the forged ones go. */
#define FORGED_CTX_VA (PIP_VIDT_VA + PIP_VIDT_CTX_OFFSET \
                       + (PIP_VIDT_MAX_CTX - 1) * sizeof(pip_context_t))
static volatile uint32_t forged_round, forged_escapes;
static uint32_t probe_stack[256] __attribute__((aligned(8)));

static __attribute__((noreturn)) void probe(void);

/* write a context that runs probe() with this status, name it in both save slots and
 * resume it (the kernel loads a resumed partition's context from its save slot) */
static __attribute__((noreturn)) void resume_forged(uint32_t status)
{
    volatile uint32_t *slots = (volatile uint32_t *)(uintptr_t)PIP_VIDT_VA;
    pip_context_t *ctx = (pip_context_t *)(uintptr_t)FORGED_CTX_VA;
    Pip_InitContext(ctx, (uint32_t)(uintptr_t)probe, (uint32_t)(uintptr_t)(probe_stack + 256),
                    0, 0, 0, 0, 0);
    ctx->status = status;
    slots[PIP_CLI_SAVE_INDEX] = slots[PIP_STI_SAVE_INDEX] = FORGED_CTX_VA;
    report(Pip_Resume(PIP_RESUME_SELF, 0));    /* reached only if the resume failed */
}

static __attribute__((noreturn)) void probe(void)
{
    forged_escapes += privileged();
    volatile uint32_t *slots = (volatile uint32_t *)(uintptr_t)PIP_VIDT_VA;
    if (++forged_round < FORGED_COUNT)
        resume_forged(forged_status(forged_round));
    slots[PIP_CLI_SAVE_INDEX] = slots[PIP_STI_SAVE_INDEX] = slots[0];  /* the root reads the
                                                                        report there */
    report(forged_escapes);
}

static void privileged_register(void)
{
#if defined(__arm__)
    uint32_t sctlr;
    __asm__ volatile("mrc p15, 0, %0, c1, c0, 0" : "=r"(sctlr));
#else
    uint32_t cr0;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
#endif
}

static void privileged_table(void)
{
#if defined(__arm__)
    __asm__ volatile("mcr p15, 0, %0, c2, c0, 0" : : "r"(PIP_VA(own_data)));
#else
    __asm__ volatile("lgdt %0" : : "m"(own_data[0]));
#endif
}

/* ARM: the mode it runs in afterwards; x86: faults */
static uint32_t mode_switch(void)
{
#if defined(__arm__)
    uint32_t cpsr;
    __asm__ volatile("mov r0, #0xD3\n\tmsr cpsr_c, r0\n\tmrs %0, cpsr" : "=r"(cpsr) : : "r0");
    return cpsr & 0x1Fu;
#else
    __asm__ volatile("mov $0x08, %%eax\n\tmov %%ax, %%ds" : : : "eax");
    return ATTACK_NOT_REFUSED;
#endif
}

#define READ(va) ((void)*(volatile uint32_t *)(uintptr_t)(va))
#define WRITE(va) (*(volatile uint32_t *)(uintptr_t)(va) = 0x0BAD0BADu)

static uint32_t attempt(uint32_t i, uint32_t victim_data, uint32_t victim_desc,
                        uint32_t own_desc)
{
    switch (i) {
    case ATK_READ_VICTIM:       READ(victim_data); break;
    case ATK_WRITE_VICTIM:      WRITE(victim_data); break;
    case ATK_WRITE_OWN_CODE:    WRITE(PIP_VA(__image_start)); break;
    case ATK_EXEC_OWN_DATA:     jump(PIP_VA(own_data)); break;
    case ATK_READ_KERNEL:       READ(KERNEL_SLOT_LOW); break;
    case ATK_WRITE_KERNEL:      WRITE(KERNEL_SLOT_HIGH); break;
    case ATK_EXEC_KERNEL:       jump(KERNEL_SLOT_LOW); break;
    case ATK_READ_OWN_PD:       READ(own_desc); break;
    case ATK_READ_VICTIM_PD:    READ(victim_desc); break;
    case ATK_READ_CONSOLE:      READ(PIP_CONSOLE_VA); break;
    case ATK_FORGE_TIMER:       (void)PIP_SOFTINT(PIP_VECTOR_TIMER, 0); break;
    case ATK_CREATE_FOREIGN:
        return Pip_CreatePartition(victim_desc, victim_data, own_desc, 0x900000, 0x901000);
    case ATK_ADD_VICTIM_PAGE:
        return Pip_AddVAddr(victim_data, victim_desc, FOREIGN_VA, 1, 1, 0);
    case ATK_PREPARE_VICTIM:
        return Pip_Prepare(victim_desc, FOREIGN_VA, PIP_VA(own_data)) & 1u;
    case ATK_COUNT_VICTIM:      return Pip_CountToMap(victim_desc, FOREIGN_VA);
    case ATK_MAPPED_VICTIM:     return Pip_MappedInChild(victim_data);
    case ATK_REMOVE_VICTIM:     return Pip_RemoveVAddr(victim_desc, 0x2000);
    case ATK_COLLECT_VICTIM:    return Pip_Collect(victim_desc, 0x2000);
    case ATK_DELETE_VICTIM:     return Pip_DeletePartition(victim_desc);
    case ATK_YIELD_SIBLING:     return Pip_Yield(victim_desc, 0, PIP_SLOT_NONE, 0, 0);
    case ATK_DISPATCH_SIBLING:  return Pip_Dispatch(victim_desc, 0, 0, 0, 0);
    case ATK_RESUME_SIBLING:    return Pip_Resume(victim_desc, 0);
    case ATK_INT_STATE_SIBLING: return Pip_GetIntState(victim_desc);
    case ATK_PRIV_REGISTER:     privileged_register(); break;
    case ATK_PRIV_TABLE:        privileged_table(); break;
    case ATK_MODE_SWITCH:       return mode_switch();
    case ATK_READ_CPU_STATE:    return cpu_state_holding(CPU_SECRET);
    case ATK_WRITE_CPU_STATE:   cpu_state_set(~CPU_SECRET); return cpu_state_holding(CPU_SECRET);
    case ATK_FORGED_STATUS:
        forged_round = forged_escapes = 0;
        resume_forged(forged_status(0));
    default:                    return 0xFFFFFFFFu;
    }
    return ATTACK_NOT_REFUSED;      /* a memory attempt that did not fault */
}

int main(uint32_t index, uint32_t victim_data, uint32_t victim_desc, uint32_t own_desc)
{
    report(attempt(index, victim_data, victim_desc, own_desc));
}
