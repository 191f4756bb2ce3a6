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
    default:                    return 0xFFFFFFFFu;
    }
    return ATTACK_NOT_REFUSED;      /* a memory attempt that did not fault */
}

int main(uint32_t index, uint32_t victim_data, uint32_t victim_desc, uint32_t own_desc)
{
    report(attempt(index, victim_data, victim_desc, own_desc));
}
