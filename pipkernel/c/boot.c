/* boot.c - the physical memory buffer, the kernel-side page attributes, and the
 * root partition's initial state (docs/kernel.md §3, §9). */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS under -std=c11 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "core.h"

#define ROOT_PD 1
#define ROOT_BASE_PAGES 6   /* null page, PD, MMU root, sh1 root, sh2 root, LL */

uint32_t pip_root_va_start(const pip_kernel *k) {
    return (uint32_t)(PIP_KERNEL_INDEX + 1) << (PAGE_SHIFT + (k->levels - 1) * k->index_bits);
}

uint32_t pip_vidt_va(const pip_kernel *k) { return k->va_mask & ~PAGE_MASK; }

/* tables (x3: MMU, sh1, sh2) below the root needed to map `free` pages the root way */
static uint64_t tables_needed(const pip_kernel *k, uint64_t free) {
    uint64_t start = pip_root_va_start(k), vidt = pip_vidt_va(k), count = 0;
    if (free == 0) return 0;
    uint64_t last = start + (free - 1) * 4096;          /* one past the linear range */
    for (uint32_t d = 1; d < k->levels; d++) {
        uint32_t shift = PAGE_SHIFT + (k->levels - d) * k->index_bits;
        uint64_t tables = free > 1 ? ((last - 1) >> shift) - (start >> shift) + 1 : 0;
        if (free == 1 || (vidt >> shift) != ((last - 1) >> shift)) tables++;  /* the VIDT's */
        count += tables;
    }
    return 3 * count;
}

/* map `page` at va in the root, creating MMU/sh1/sh2 tables from *next_page */
static void root_map(pip_kernel *k, uint32_t va, uint32_t page, uint32_t *next_page) {
    uint32_t t[3] = {mmu_root(k, ROOT_PD), sh1_root(k, ROOT_PD), sh2_root(k, ROOT_PD)};
    for (uint32_t d = 0; d + 1 < k->levels; d++) {
        uint32_t idx = idx_of(k, va, k->levels - 1 - d);
        for (int i = 0; i < 3; i++) {
            uint32_t *w = tbl(k, t[i]);
            if (!w[idx]) w[idx] = (*next_page)++ << PAGE_SHIFT | PIP_PTE_ALL;
            t[i] = pe_page(w[idx]);
        }
    }
    tbl(k, t[0])[idx_of(k, va, 0)] = page << PAGE_SHIFT | PIP_PTE_ALL;
}

/* the geometry fields of k, or 0 when (npages, table_size, levels) is not a valid geometry */
static int set_geometry(pip_kernel *k, uint32_t npages, uint32_t table_size, uint32_t levels) {
    uint32_t bits = 0;
    while ((1u << bits) < table_size) bits++;
    if (table_size < PIP_MIN_TABLE_SIZE || table_size > PIP_MAX_TABLE_SIZE ||
        (1u << bits) != table_size || levels < 2 || PAGE_SHIFT + levels * bits > 32 ||
        npages < ROOT_BASE_PAGES + 2 || npages > PIP_MAX_PAGES)
        return 0;
    k->npages = npages, k->table_size = table_size, k->levels = levels, k->index_bits = bits;
    k->va_mask = (uint32_t)(((uint64_t)1 << (PAGE_SHIFT + levels * bits)) - 1);
    return 1;
}

/* the most pages the root can map (its VIDT included) together with the tables mapping them */
static uint64_t root_free(const pip_kernel *k) {
    uint64_t avail = k->npages - ROOT_BASE_PAGES, free = avail;
    while (free > 0 && free + tables_needed(k, free) > avail) free--;
    return free;
}

uint32_t pip_root_free_pages(uint32_t npages, uint32_t table_size, uint32_t levels) {
    pip_kernel k = {0};
    return set_geometry(&k, npages, table_size, levels) ? (uint32_t)root_free(&k) : 0;
}

int pip_boot(pip_kernel *k, uint32_t npages, uint32_t table_size, uint32_t levels,
             uint32_t policy) {
    memset(k, 0, sizeof *k);
    if (policy > PIP_POLICY_HARDENED) return PIP_BOOT_BAD_GEOMETRY;   /* the API checks it first */
    if (!set_geometry(k, npages, table_size, levels)) return PIP_BOOT_BAD_GEOMETRY;
    k->policy = policy;
    k->cli_index = PIP_CLI_SAVE_INDEX(table_size);
    k->sti_index = PIP_STI_SAVE_INDEX(table_size);

    uint64_t free = root_free(k);
    uint64_t capacity = (pip_vidt_va(k) - (uint64_t)pip_root_va_start(k)) / 4096 + 1;
    if (free < 2) return PIP_BOOT_TOO_FEW_PAGES;
    if (free > capacity) return PIP_BOOT_TOO_MANY_PAGES;

    size_t bytes = (size_t)npages << PAGE_SHIFT;
    void *mem = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return PIP_BOOT_NO_MEMORY;
    if (!(k->device = calloc(npages, 1))) {
        munmap(mem, bytes);
        return PIP_BOOT_NO_MEMORY;
    }
    k->mem = mem;
    k->root = k->current = ROOT_PD;

    uint32_t *pd = tbl(k, ROOT_PD);
    for (uint32_t slot = 0; slot < 5; slot++)           /* identity VA = PA */
        pd[2 * slot] = pd[2 * slot + 1] = (ROOT_PD + slot) << PAGE_SHIFT;
    pd[PIP_PD_PARENT] = PIP_ROOT_IO_MASK;
    ll_init(k, ll_head(k, ROOT_PD));

    uint32_t next_table = ROOT_BASE_PAGES;
    uint32_t first_free = ROOT_BASE_PAGES + (uint32_t)tables_needed(k, free);
    for (uint32_t i = 0; i + 1 < free; i++)
        root_map(k, pip_root_va_start(k) + i * 4096, first_free + i, &next_table);
    root_map(k, pip_vidt_va(k), first_free + (uint32_t)free - 1, &next_table);
    return next_table == first_free ? 0 : PIP_BOOT_BAD_GEOMETRY;
}

void pip_shutdown(pip_kernel *k) {
    if (k->mem) munmap(k->mem, (size_t)k->npages << PAGE_SHIFT);
    free(k->device);
    k->mem = 0, k->device = 0;
}

/* The loader's one change to a page table (docs/abi.md "Memory map"): the rights
 * of the root's image pages, as Pip's boot maps the root binary.  Root only. */
int pip_root_set_rights(pip_kernel *k, uint32_t va, uint32_t r, uint32_t w, uint32_t x) {
    uint32_t *pte = leaf(k, mmu_root(k, k->root), va_page(k, va));
    if (!pte || !pe_present(*pte)) return -1;
    *pte = (*pte & ~(uint32_t)(PIP_PTE_READ | PIP_PTE_WRITE | PIP_PTE_EXEC)) |
           (r ? PIP_PTE_READ : 0) | (w ? PIP_PTE_WRITE : 0) | (x ? PIP_PTE_EXEC : 0);
    return 0;
}
