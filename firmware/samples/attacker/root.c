/* attacker: the root creates a victim (a data page of VICTIM_PATTERN) and an attacker,
 * runs the attacker's attempts one at a time (attacks.h) and checks each is refused:
 * memory attempts must fault (delivered to the root, the attacker's parent, docs/abi.md
 * "Delivery"), calls must fail. For each attempt the root restarts the attacker from a
 * fresh context (its main context, VIDT slots 0/48/49, spawn.h) with the attempt's
 * index in r0, and yields to it. At the end it checks the victim's page, prints
 * "victim intact" and a verdict, and halts with 0 only if every attempt was refused. */
#include <pip/pip.h>
#include "attacks.h"
#include "victim.h"

extern const struct pip_image attack_victim_image, attack_evil_image;

enum target {       /* where a fault must be reported, r2 of the handler */
    AT_NONE,        /* r2 = 0: not a page fault */
    AT_VICTIM_DATA, AT_VICTIM_PD, AT_OWN_PD, AT_OWN_CODE, AT_OWN_DATA,
    AT_KERNEL_LOW, AT_KERNEL_HIGH, AT_CONSOLE,
};

struct expectation {
    const char *what;
    uint32_t vector;        /* the fault expected, or PIP_SERVICE_VECTOR for a report */
    uint32_t access;        /* page faults: PIP_ACCESS_* (r3) */
    enum target target;     /* page faults: the address (r2) */
    uint32_t result;        /* reports: the call's expected result */
};

/* what a privileged instruction in user mode raises: ARM undefined, x86 #GP */
#if defined(__arm__)
#define PRIVILEGED_VECTOR PIP_VECTOR_INVALID_OPCODE
#else
#define PRIVILEGED_VECTOR PIP_VECTOR_GENERAL_PROTECTION
#endif

#define FAULT(w, acc, t) {w, PIP_VECTOR_PAGE_FAULT, PIP_ACCESS_##acc, t, 0}
#define CALL(w, r) {w, PIP_SERVICE_VECTOR, 0, AT_NONE, r}

static const struct expectation expected[ATK_COUNT] = {
    [ATK_READ_VICTIM]       = FAULT("read the victim's data page", READ, AT_VICTIM_DATA),
    [ATK_WRITE_VICTIM]      = FAULT("write the victim's data page", WRITE, AT_VICTIM_DATA),
    [ATK_WRITE_OWN_CODE]    = FAULT("write its own code page", WRITE, AT_OWN_CODE),
    [ATK_EXEC_OWN_DATA]     = FAULT("execute its own data page", EXECUTE, AT_OWN_DATA),
    [ATK_READ_KERNEL]       = FAULT("read the kernel slot", READ, AT_KERNEL_LOW),
    [ATK_WRITE_KERNEL]      = FAULT("write the kernel slot", WRITE, AT_KERNEL_HIGH),
    [ATK_EXEC_KERNEL]       = FAULT("execute the kernel slot", EXECUTE, AT_KERNEL_LOW),
    [ATK_READ_OWN_PD]       = FAULT("read its own descriptor", READ, AT_OWN_PD),
    [ATK_READ_VICTIM_PD]    = FAULT("read the victim's descriptor", READ, AT_VICTIM_PD),
    [ATK_READ_CONSOLE]      = FAULT("read the console page", READ, AT_CONSOLE),
    [ATK_FORGE_TIMER]       = {"raise the timer vector by software", PIP_VECTOR_LOW_SOFTINT,
                               0, AT_NONE, 0},
    [ATK_CREATE_FOREIGN]    = CALL("createPartition from foreign pages", 0),
    [ATK_ADD_VICTIM_PAGE]   = CALL("addVAddr of the victim's page", 0),
    [ATK_PREPARE_VICTIM]    = CALL("prepare in the victim", 0),
    [ATK_COUNT_VICTIM]      = CALL("countToMap in the victim", 0),
    [ATK_MAPPED_VICTIM]     = CALL("mappedInChild of the victim's page", 0),
    [ATK_REMOVE_VICTIM]     = CALL("removeVAddr in the victim", 0),
    [ATK_COLLECT_VICTIM]    = CALL("collect in the victim", 0),
    [ATK_DELETE_VICTIM]     = CALL("deletePartition of the victim", 0),
    [ATK_YIELD_SIBLING]     = CALL("yield to the victim, a sibling", PIP_YIELD_INVALID_CHILD),
    [ATK_DISPATCH_SIBLING]  = CALL("dispatch to the victim", PIP_YIELD_INVALID_CHILD),
    [ATK_RESUME_SIBLING]    = CALL("resume the victim", PIP_YIELD_INVALID_CHILD),
    [ATK_INT_STATE_SIBLING] = CALL("get_int_state of the victim", PIP_GET_INT_STATE_ERROR),
    [ATK_PRIV_REGISTER]     = {"read a control register", PRIVILEGED_VECTOR, 0, AT_NONE, 0},
    [ATK_PRIV_TABLE]        = {"load a translation table base", PRIVILEGED_VECTOR, 0, AT_NONE, 0},
#if defined(__arm__)
    [ATK_MODE_SWITCH]       = CALL("switch to SVC mode, IRQs masked (mode after)", 0x10),
#else
    [ATK_MODE_SWITCH]       = {"load a kernel segment", PRIVILEGED_VECTOR, 0, AT_NONE, 0},
#endif
    [ATK_FORGED_STATUS]     = CALL("resume forged status words (privileged runs)", 0),
    [ATK_READ_CPU_STATE]    = CALL("read the root's FP / thread registers (secrets seen)", 0),
    [ATK_WRITE_CPU_STATE]   = CALL("overwrite the FP / thread registers", 0),
};

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t victim, evil;
static uint32_t victim_data;        /* the victim's data page, in the root */
static uint32_t attempt, refused;

static uint32_t target_va(enum target t)
{
    switch (t) {
    case AT_VICTIM_DATA: return victim_data;
    case AT_VICTIM_PD:   return victim.desc;
    case AT_OWN_PD:      return evil.desc;
    case AT_OWN_CODE:    return evil.img->seg[0].va;
    case AT_OWN_DATA:    return evil.img->seg[1].va;
    case AT_KERNEL_LOW:  return KERNEL_SLOT_LOW;
    case AT_KERNEL_HIGH: return KERNEL_SLOT_HIGH;
    case AT_CONSOLE:     return PIP_CONSOLE_VA;
    default:             return 0;
    }
}

#define PAGE_OF(va) ((va) & ~(PIP_PAGE_SIZE - 1))

/* Page faults are compared by page: docs/abi.md says r2 is the faulting address, and a
 * machine may report the page's address instead; both are accepted and the page is
 * printed. */
static void put_target(uint32_t va)
{
    static const char *const names[] = {
        [AT_VICTIM_DATA] = "the victim's data page", [AT_VICTIM_PD] = "the victim's descriptor",
        [AT_OWN_PD] = "its own descriptor", [AT_OWN_CODE] = "its own code page",
        [AT_OWN_DATA] = "its own data page",
    };
    for (int t = AT_VICTIM_DATA; t <= AT_OWN_DATA; t++)
        if (PAGE_OF(va) == PAGE_OF(target_va((enum target)t))) {
            pip_puts(names[t]);
            return;
        }
    pip_puts("page ");
    pip_puthex(PAGE_OF(va));
}

static const char *access_name(uint32_t access)
{
    switch (access) {
    case PIP_ACCESS_READ: return "read";
    case PIP_ACCESS_WRITE: return "write";
    case PIP_ACCESS_EXECUTE: return "execute";
    default: return "access ?";
    }
}

/* Print the outcome of the current attempt; returns 1 if it is the expected refusal. */
static int judge(uint32_t vector, uint32_t addr, uint32_t access)
{
    const struct expectation *e = &expected[attempt];
    uint32_t result = evil.ctx->regs[PIP_REG_ARG0];     /* r0 at its report */
    int ok;

    pip_puts("attack ");
    pip_putdec(attempt + 1);
    pip_puts(": ");
    pip_puts(e->what);
    pip_puts(": ");
    if (vector == PIP_SERVICE_VECTOR) {
        ok = e->vector == PIP_SERVICE_VECTOR && result == e->result;
        if (result == ATTACK_NOT_REFUSED)
            pip_puts("NOT REFUSED");
        else {
            pip_puts(ok ? "refused, returned " : "UNEXPECTED result ");
            pip_putdec(result);
        }
    } else if (vector == PIP_VECTOR_PAGE_FAULT) {
        ok = e->vector == vector && e->access == access
             && PAGE_OF(target_va(e->target)) == PAGE_OF(addr);
        pip_puts(ok ? "refused, page fault: " : "UNEXPECTED page fault: ");
        pip_puts(access_name(access));
        pip_puts(" at ");
        put_target(addr);
    } else {
        ok = e->vector == vector;
        pip_puts(ok ? "refused, vector " : "UNEXPECTED vector ");
        pip_putdec(vector);
    }
    pip_puts("\n");
    return ok;
}

static __attribute__((noreturn)) void start(uint32_t i)
{
    attempt = i;
    Pip_ChildRestart(&evil, i, victim_data, victim.desc, evil.desc, 1);
    pip_fail("yield to the attacker", Pip_Yield(evil.desc, 0, PIP_SLOT_NONE, 0, 0));
}

static __attribute__((noreturn)) void finish(void)
{
    const volatile uint32_t *page = (const volatile uint32_t *)(uintptr_t)victim_data;
    uint32_t intact = 1;
    for (int i = 0; i < 1024; i++)
        intact &= page[i] == VICTIM_PATTERN;
    pip_puts(intact ? "victim intact\n" : "victim CORRUPTED\n");
    uint32_t own = cpu_state_holding(CPU_SECRET) == CPU_STATE_REGS;
    pip_puts(own ? "root's CPU state intact\n" : "root's CPU state CHANGED\n");
    intact &= own;
    pip_puts("attacker: ");
    pip_putdec(refused);
    pip_puts(" of ");
    pip_putdec(ATK_COUNT);
    pip_puts(" attempts refused\n");
    pip_halt(intact && refused == ATK_COUNT ? 0 : 1);
}

static void handler(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    if (desc != evil.desc) {
        pip_puts("attacker: vector ");
        pip_putdec(vector);
        pip_puts(" from an unexpected partition\n");
        pip_halt(2);
    }
    refused += (uint32_t)judge(vector, addr, access);
    if (attempt + 1 >= ATK_COUNT)
        finish();
    start(attempt + 1);
}

static void spawn(pip_child_t *c, const struct pip_image *img, const char *what)
{
    int status = Pip_SpawnChild(&heap, c, img);
    if (status != PIP_SPAWN_OK)
        pip_fail(what, (uint32_t)status);
}

int main(void)
{
    static const uint32_t vectors[] = {
        PIP_SERVICE_VECTOR, PIP_VECTOR_DIVIDE_ERROR, PIP_VECTOR_BREAKPOINT,
        PIP_VECTOR_INVALID_OPCODE, PIP_VECTOR_DOUBLE_FAULT, PIP_VECTOR_GENERAL_PROTECTION,
        PIP_VECTOR_PAGE_FAULT, PIP_VECTOR_TIMER,
    };

    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    spawn(&victim, &attack_victim_image, "spawn the victim");
    spawn(&evil, &attack_evil_image, "spawn the attacker");
    victim_data = PIP_VA(Pip_ImagePage(&attack_victim_image, victim.img->seg[1].va));

    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors,
                                       sizeof vectors / sizeof vectors[0]) || !victim_data)
        pip_fail("attacker setup", 0);

    pip_puts("attacker: ");
    pip_putdec(ATK_COUNT);
    pip_puts(" attempts against a victim sibling\n");
    cpu_state_set(CPU_SECRET);
    start(0);
}
