/* Give an embedded child image's pages to the child (image.h). */
#include <pip/image.h>
#include <pip/map.h>

int Pip_LoadImage(pip_alloc_t *a, uint32_t desc, const struct pip_image *img)
{
    for (uint32_t s = 0; s < img->nsegs; s++) {
        const struct pip_segment *seg = &img->seg[s];
        uint32_t rights = PIP_R | ((seg->flags & PIP_PF_W) ? PIP_W : 0)
                        | ((seg->flags & PIP_PF_X) ? PIP_X : 0);
        for (uint32_t i = 0; i < seg->mem_pages; i++) {
            uint32_t src = i < seg->file_pages
                         ? (uint32_t)(uintptr_t)(seg->pages + i * PIP_PAGE_SIZE)
                         : pip_alloc_zeroed(a);
            if (!src)
                return PIP_MAP_FAIL_ALLOC;
            int status = Pip_MapPageWrapper(a, src, desc, seg->va + i * PIP_PAGE_SIZE,
                                            rights);
            if (status != PIP_MAP_OK)
                return status;
        }
    }
    return PIP_MAP_OK;
}

uint8_t *Pip_ImagePage(const struct pip_image *img, uint32_t va_child)
{
    for (uint32_t s = 0; s < img->nsegs; s++) {
        const struct pip_segment *seg = &img->seg[s];
        uint32_t off = va_child - seg->va;
        if (va_child >= seg->va && off / PIP_PAGE_SIZE < seg->file_pages)
            return seg->pages + (off & ~(PIP_PAGE_SIZE - 1));
    }
    return 0;
}
