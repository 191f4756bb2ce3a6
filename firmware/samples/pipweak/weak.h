/* pipweak: Pip's weak spots (docs/kernel.md §9 (a)-(d)) attacked from firmware. The root
 * lends its child, the attacker, what a careless parent might; the attacker abuses it, one
 * attempt per start (main(index, victim_desc)), each ending in a software interrupt, a
 * fault or a report (svc #64 / int $64 with r0 = enum weak_report, r1 = the call's
 * result) delivered to the root, which checks its own pages and prints a verdict. */
#ifndef WEAK_H
#define WEAK_H

#include <pip/abi.h>

/* What the root lends the attacker, at these VAs in the attacker. */
#define WEAK_READ_ONLY_VA 0x100000u   /* a page of the root's, R only, full of WEAK_PATTERN */
#define WEAK_DEVICE_VA    0x101000u   /* a device page of the root's, R W */
#define WEAK_POOL_VA      0x110000u   /* WEAK_POOL_PAGES free pages, R W, for a grandchild */
#define WEAK_POOL_PAGES   16u
#define WEAK_PATTERN      0x0DDBA11u

/* The grandchild an attempt creates is made of the pool's first pages, so its descriptor
 * is the pool's first page; the cleanup deletes it, which gives every pool page back. */
#define WEAK_GRANDCHILD WEAK_POOL_VA

enum weak_attempt {
    WEAK_SAVE_READ_ONLY,    /* (a) VIDT slots 48/49 name the read-only page; svc #64 */
    WEAK_SAVE_CODE,         /* (a) they name its own code (R X); a page fault */
    WEAK_RELEND_WRITABLE,   /* (b) addVAddr of the read-only page to a grandchild, w = 1;
                               the grandchild writes it and yields back */
    WEAK_READ_ONLY_TABLE,   /* (c) createPartition with the read-only page as the
                               grandchild's page directory */
    WEAK_DEVICE_TABLE,      /* (c) prepare of a grandchild's tables from a chain whose third
                               page is the device page */
    WEAK_FORGED_DISPATCH,   /* (d) dispatch to the root: vector 14, r0/r1 = "the victim
                               page-faulted" */
    WEAK_FORGED_YIELD,      /* (d) yield to the root's page-fault handler (vector 14) */
    WEAK_COUNT,
    WEAK_CLEANUP = WEAK_COUNT,  /* not an attempt: delete the grandchild, report */
};

enum weak_report {
    WEAK_DONE = 1,          /* the attack's call succeeded (r1: its result or what it saw) */
    WEAK_REFUSED = 2,       /* the attack's call failed (r1: its result) */
    WEAK_SETUP_FAILED = 3,  /* a step before the attack failed (r1: which) */
};

/* After each verdict the root makes this host call (docs/abi.md "Kernel calls") with
 * (attempt number from 1, contained), before the cleanup: a host handler sees the state
 * the attempt left. Without a handler it returns 0xFFFFFFFF and nothing happens. */
#define WEAK_HOST_VERDICT (PIP_HOST_CALL_BASE + 0x57u)

#endif
