/* pipweak: the root lends its child, the attacker, what a careless parent might (weak.h):
 * a page of its own read-only, a device page read-write and WEAK_POOL_PAGES free pages;
 * a sibling, the attacker sample's victim, is there to be named in forged events. For each
 * attempt the root restarts the attacker, takes the event that ends the attempt, checks
 * what could have been harmed with reads of its own pages that stayed accessible and
 * mappedInChild (which cannot fault), prints "weak N: what: contained (how)" or
 * "weak N: what: NOT CONTAINED (what happened)", tells the host (WEAK_HOST_VERDICT), then
 * restarts the attacker to delete its grandchild, which gives every lent page back.
 * Which attempts a kernel contains depends on its policy (docs/kernel.md §9): the root
 * halts 0 after all of them, the host judges. */
#include <pip/pip.h>
#include "weak.h"

extern const struct pip_image attack_victim_image, pipweak_attacker_image;

/* The device page lent to the attacker, as the root sees it: a host with an extra device
 * patches this word (Machine.device_va); by default the system page, which each cleanup
 * gives back before the root touches it again (its halt). In .data: the start file
 * clears .bss. */
volatile uint32_t weak_device_va = PIP_SYSTEM_VA;

enum event_kind {   /* what ends an attempt */
    EV_SOFTINT,     /* the attacker's svc #64, its registers unreadable (saved elsewhere) */
    EV_PAGE_FAULT,  /* a page fault of the attacker */
    EV_REPORT,      /* the attacker's report: WEAK_DONE or WEAK_REFUSED */
    EV_ANY,         /* forged events: whatever the root's handler is told */
};

struct attempt {
    const char *what;
    enum event_kind ends;
    const char *call;       /* the call that must be refused, 0 if none is reported */
    const char *kept;       /* how the root sees it contained when no refusal is reported */
};

static const struct attempt attempts[WEAK_COUNT] = {
    [WEAK_SAVE_READ_ONLY] = {"save its context in the read-only page", EV_SOFTINT, 0,
                             "the kernel skipped the save: page intact"},
    [WEAK_SAVE_CODE] = {"save its context in its own code", EV_PAGE_FAULT, 0,
                        "the kernel skipped the save: code intact"},
    [WEAK_RELEND_WRITABLE] = {"re-lend the read-only page writable to a grandchild", EV_REPORT,
                              "addVAddr", "page intact"},
    [WEAK_READ_ONLY_TABLE] = {"make the read-only page a grandchild's page directory",
                              EV_REPORT, "createPartition", "the page is still the root's"},
    [WEAK_DEVICE_TABLE] = {"make the device page a grandchild's page table", EV_REPORT,
                           "prepare", "the page is still the root's"},
    [WEAK_FORGED_DISPATCH] = {"dispatch a page fault of the victim to the root", EV_ANY,
                              "dispatch", "the root's handler got the attacker's report"},
    [WEAK_FORGED_YIELD] = {"yield to the root's page-fault handler", EV_ANY, "yield",
                           "the root's handler got the attacker's report"},
};

struct event {
    uint32_t vector, desc, addr, access;    /* the handler's registers */
};

static pip_alloc_t heap;
static pip_vidt_t vidt;
static pip_child_t victim, evil;
static volatile uint32_t *read_only;    /* the page lent read-only, in the root */
static uint32_t code_digest_at_start;
static uint32_t attempt, contained, cleaning;

static uint32_t report_word(int i)      /* r0 / r1 of the attacker's last report */
{
    return evil.ctx->regs[PIP_REG_ARG0 + i];
}

static int is_report(const struct event *ev)
{
    return ev->vector == PIP_SERVICE_VECTOR && ev->desc == evil.desc;
}

static int expected(const struct event *ev)
{
    switch (attempts[attempt].ends) {
    case EV_SOFTINT:
        return is_report(ev);
    case EV_PAGE_FAULT:
        return ev->vector == PIP_VECTOR_PAGE_FAULT && ev->desc == evil.desc;
    case EV_REPORT:
        return is_report(ev) && (report_word(0) == WEAK_DONE || report_word(0) == WEAK_REFUSED);
    default:
        return 1;
    }
}

static void fill_read_only(void)
{
    for (int i = 0; i < 1024; i++)
        read_only[i] = WEAK_PATTERN;
}

static int read_only_intact(void)
{
    for (int i = 0; i < 1024; i++)
        if (read_only[i] != WEAK_PATTERN)
            return 0;
    return 1;
}

/* The root still maps the page accessible and it is still lent to the attacker only:
 * mappedInChild fails (0) once the page is not accessible, where a read would fault. */
static int still_lent(uint32_t va)
{
    return Pip_MappedInChild(va) == evil.desc;
}

/* FNV-1a over the attacker's code pages (the root's embedded copy, which it gave). */
static uint32_t code_digest(void)
{
    uint32_t h = 2166136261u;
    for (uint32_t s = 0; s < evil.img->nsegs; s++) {
        const struct pip_segment *seg = &evil.img->seg[s];
        const volatile uint32_t *w = (const volatile uint32_t *)seg->pages;
        if (seg->flags & PIP_PF_X)
            for (uint32_t i = 0; i < seg->file_pages * PIP_PAGE_SIZE / 4; i++)
                h = (h ^ w[i]) * 16777619u;
    }
    return h;
}

static int contained_now(const struct event *ev)
{
    switch (attempt) {
    case WEAK_SAVE_READ_ONLY:
    case WEAK_RELEND_WRITABLE:  return read_only_intact();
    case WEAK_SAVE_CODE:        return code_digest() == code_digest_at_start;
    case WEAK_READ_ONLY_TABLE:  return still_lent(PIP_VA(read_only));
    case WEAK_DEVICE_TABLE:     return still_lent(weak_device_va);
    default:                    return is_report(ev) && report_word(0) == WEAK_REFUSED;
    }
}

static void put_source(uint32_t desc)
{
    if (desc == victim.desc)
        pip_puts("the victim");
    else if (desc == evil.desc)
        pip_puts("the attacker");
    else
        pip_puthex(desc);
}

static void put_event(const struct event *ev)
{
    pip_puts("vector ");
    pip_putdec(ev->vector);
    pip_puts(" from ");
    put_source(ev->desc);
}

static void put_harm(const struct event *ev)
{
    switch (attempt) {
    case WEAK_SAVE_READ_ONLY:
        pip_puts("the kernel saved the attacker's context in it");
        break;
    case WEAK_SAVE_CODE:
        pip_puts("the kernel saved the attacker's context in its code");
        break;
    case WEAK_RELEND_WRITABLE:
        pip_puts("the grandchild wrote it: word 0 is ");
        pip_puthex(read_only[0]);
        break;
    case WEAK_READ_ONLY_TABLE:
    case WEAK_DEVICE_TABLE:
        pip_puts("it became a kernel table of the grandchild: the root lost access to it");
        break;
    default:
        pip_puts("the root's handler ran, told ");
        put_event(ev);
    }
}

static __attribute__((noreturn)) void unexpected(const char *when, const struct event *ev)
{
    pip_puts(when);
    pip_puts("UNEXPECTED ");
    put_event(ev);
    pip_puts(" at ");
    pip_puthex(ev->addr);
    pip_puts(" access ");
    pip_putdec(ev->access);
    pip_puts(", report ");
    pip_puthex(report_word(0));
    pip_puts(" ");
    pip_puthex(report_word(1));
    pip_puts("\n");
    pip_halt(2);
}

/* Print the attempt's verdict line; 1 if contained. */
static int judge(const struct event *ev)
{
    const struct attempt *a = &attempts[attempt];
    pip_puts("weak ");
    pip_putdec(attempt + 1);
    pip_puts(": ");
    pip_puts(a->what);
    pip_puts(": ");
    if (!expected(ev))
        unexpected("", ev);
    int ok = contained_now(ev);
    pip_puts(ok ? "contained (" : "NOT CONTAINED (");
    if (!ok) {
        put_harm(ev);
    } else if (a->call && is_report(ev) && report_word(0) == WEAK_REFUSED) {
        pip_puts(a->call);
        pip_puts(" refused, returned ");
        pip_putdec(report_word(1));
    } else {
        pip_puts(a->kept);
    }
    pip_puts(")\n");
    return ok;
}

static __attribute__((noreturn)) void start(uint32_t index)
{
    Pip_ChildRestart(&evil, index, victim.desc, 0, 0, 1);
    Pip_RegisterInterrupt(&evil.vidt, PIP_CLI_SAVE_INDEX, evil.ctx_va);  /* undo (a) */
    Pip_RegisterInterrupt(&evil.vidt, PIP_STI_SAVE_INDEX, evil.ctx_va);
    pip_fail("yield to the attacker", Pip_Yield(evil.desc, 0, PIP_SLOT_NONE, 0, 0));
}

static __attribute__((noreturn)) void finish(void)
{
    pip_puts("pipweak: ");
    pip_putdec(contained);
    pip_puts(" of ");
    pip_putdec(WEAK_COUNT);
    pip_puts(" attempts contained\n");
    pip_halt(0);
}

static void handler(uint32_t vector, uint32_t desc, uint32_t addr, uint32_t access)
{
    const struct event ev = {vector, desc, addr, access};
    if (cleaning) {
        if (!is_report(&ev) || report_word(0) != WEAK_DONE)
            unexpected("pipweak: cleanup: ", &ev);
        if (!still_lent(PIP_VA(read_only)) || !still_lent(weak_device_va))
            pip_fail("a lent page did not come back", attempt + 1);
        cleaning = 0;
        if (++attempt == WEAK_COUNT)
            finish();
        fill_read_only();
        start(attempt);
    }
    uint32_t ok = (uint32_t)judge(&ev);
    contained += ok;
    (void)pip_call6(attempt + 1, ok, 0, 0, 0, 0, WEAK_HOST_VERDICT);
    cleaning = 1;
    start(WEAK_CLEANUP);
}

static void spawn(pip_child_t *c, const struct pip_image *img, const char *what)
{
    int status = Pip_SpawnChild(&heap, c, img);
    if (status != PIP_SPAWN_OK)
        pip_fail(what, (uint32_t)status);
}

static void lend(uint32_t src, uint32_t va, uint32_t rights)
{
    if (!src || Pip_MapPageWrapper(&heap, src, evil.desc, va, rights) != PIP_MAP_OK)
        pip_fail("lend a page to the attacker", va);
}

int main(void)
{
    static const uint32_t vectors[] = {
        PIP_SERVICE_VECTOR, PIP_VECTOR_DIVIDE_ERROR, PIP_VECTOR_BREAKPOINT,
        PIP_VECTOR_INVALID_OPCODE, PIP_VECTOR_DOUBLE_FAULT, PIP_VECTOR_GENERAL_PROTECTION,
        PIP_VECTOR_PAGE_FAULT,
    };

    pip_alloc_init_root(&heap);
    Pip_VidtInit(&vidt, PIP_VIDT_VA);
    spawn(&victim, &attack_victim_image, "spawn the victim");
    spawn(&evil, &pipweak_attacker_image, "spawn the attacker");
    read_only = (volatile uint32_t *)(uintptr_t)pip_alloc_page(&heap);
    lend(PIP_VA(read_only), WEAK_READ_ONLY_VA, PIP_R);
    lend(weak_device_va, WEAK_DEVICE_VA, PIP_RW);
    for (uint32_t i = 0; i < WEAK_POOL_PAGES; i++)
        lend(pip_alloc_page(&heap), WEAK_POOL_VA + i * PIP_PAGE_SIZE, PIP_RW);

    uint32_t stack = pip_alloc_page(&heap);
    if (!stack || !Pip_RegisterHandler(&vidt, handler, stack, vectors,
                                       sizeof vectors / sizeof vectors[0]))
        pip_fail("pipweak setup", 0);

    code_digest_at_start = code_digest();
    pip_puts("pipweak: ");
    pip_putdec(WEAK_COUNT);
    pip_puts(" attempts on a read-only page, a device page and free pages lent to a child\n");
    fill_read_only();
    start(0);
}
