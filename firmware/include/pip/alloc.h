/* A page allocator over a range of the caller's own VAs (pages it maps present,
 * accessible and not derived: the root's free pages after its image). Freed pages are
 * chained through their word 0. Pages are not cleared. */
#ifndef PIP_ALLOC_H
#define PIP_ALLOC_H

#include <stdint.h>

typedef struct {
    uint32_t next;      /* first never-allocated page */
    uint32_t end;       /* end of the range (exclusive) */
    uint32_t free;      /* freed pages, chained through word 0; 0 = none */
} pip_alloc_t;

void pip_alloc_init(pip_alloc_t *a, uint32_t start, uint32_t end);
uint32_t pip_alloc_page(pip_alloc_t *a);          /* 0 when exhausted */
uint32_t pip_alloc_zeroed(pip_alloc_t *a);        /* cleared page, 0 when exhausted */
void pip_free_page(pip_alloc_t *a, uint32_t va);

/* The root's heap: PIP_ROOT_HEAP_PAGES pages from the end of its image (__image_end).
 * The machine must give the root that many pages after the image (firmware/README.md). */
#ifndef PIP_ROOT_HEAP_PAGES
#define PIP_ROOT_HEAP_PAGES 256u
#endif
void pip_alloc_init_root(pip_alloc_t *a);

#endif
