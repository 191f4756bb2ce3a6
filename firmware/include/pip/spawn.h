/* Starting a child from an embedded image, in the pattern of Pip's x86 launcher
 * (pip-spec §5, L86 main.c): create the partition, give it the image's pages, a VIDT
 * page at PIP_VIDT_VA (R W), and one main context stored in that VIDT page and named by
 * VIDT slots 0, 48 and 49. So the context the kernel saves when the child is
 * interrupted (slot 48 or 49, docs/abi.md "Delivery" step 1) is the one a yield to the
 * child's slot 0 loads again: Pip_Yield(child.desc, 0, ...) starts or continues it. */
#ifndef PIP_SPAWN_H
#define PIP_SPAWN_H

#include <stdint.h>
#include "alloc.h"
#include "context.h"
#include "image.h"
#include "vidt.h"

typedef struct {
    uint32_t desc;              /* its descriptor's VA in the parent */
    const struct pip_image *img;
    pip_vidt_t vidt;            /* its VIDT page as the parent sees it */
    pip_context_t *ctx;         /* its main context as the parent sees it */
    uint32_t ctx_va;            /* the same context's VA in the child */
} pip_child_t;

enum {
    PIP_SPAWN_OK = 0,
    PIP_SPAWN_FAIL_CREATE = 1,  /* no pages or createPartition refused */
    PIP_SPAWN_FAIL_LOAD = 2,    /* giving the image's pages failed */
    PIP_SPAWN_FAIL_VIDT = 3,    /* giving the VIDT page failed */
};

/* Create the child and set its main context to start the image's entry with
 * a0..a3 = 0 and interrupt state 1. */
int Pip_SpawnChild(pip_alloc_t *a, pip_child_t *c, const struct pip_image *img);

/* (Re)set the child's main context: start at the image's entry with a0..a3 (main's
 * arguments, libpip's start files) and interrupt state pipflags. */
void Pip_ChildRestart(pip_child_t *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                      uint32_t pipflags);

/* After PIP_CHILD_EXIT_VECTOR was delivered for the child (register a handler for it in
 * the parent's VIDT): 1 and *code = its exit code (main's result, or exit's argument) if
 * its saved main context is at its exit (r0 / eax = code, r1 / ecx =
 * PIP_CHILD_EXIT_MAGIC; system.h pip_exit), else 0. A child resumed after its exit raises
 * the vector again. */
int Pip_ChildExitCode(const pip_child_t *c, uint32_t *code);

#endif
