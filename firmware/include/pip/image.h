/* Child images embedded in a parent image (firmware/tools/embed.py): each ELF PT_LOAD
 * segment of the child is stored page-aligned in the parent (code segments in the
 * parent's code, writable ones in its data), so the parent can give those very pages
 * with the segment's rights. Pages past the file part (.bss, stack) are fresh zeroed
 * pages from the parent's allocator. */
#ifndef PIP_IMAGE_H
#define PIP_IMAGE_H

#include <stdint.h>
#include "abi.h"
#include "alloc.h"

#define PIP_PF_X 1u     /* ELF p_flags */
#define PIP_PF_W 2u
#define PIP_PF_R 4u

struct pip_segment {
    uint32_t va;            /* page-aligned VA in the child */
    uint32_t file_pages;    /* pages stored in the parent at `pages` */
    uint32_t mem_pages;     /* total pages (file_pages + zero pages) */
    uint32_t flags;         /* ELF p_flags */
    uint8_t *pages;         /* the stored pages, in the parent; 0 if file_pages == 0 */
};

struct pip_image {
    uint32_t entry;         /* ELF e_entry (bit 0 set for a Thumb entry) */
    uint32_t nsegs;
    struct pip_segment seg[];
};

/* Give every page of the image to the child desc at its VA (code R X, data R W).
 * Returns PIP_MAP_OK or the first failure (map.h). */
int Pip_LoadImage(pip_alloc_t *a, uint32_t desc, const struct pip_image *img);

/* The parent's view of the child's page at va_child, if it is a stored page, else 0. */
uint8_t *Pip_ImagePage(const struct pip_image *img, uint32_t va_child);

#endif
