/* ll.c - the configuration-pages linked list ("shadow 3", pip-spec §3.3,
 * docs/kernel.md §2): word 0 first free pair, word 1 free pairs, pairs
 * (VA in parent, PA), words max-1 / max the next LL page. */
#include "core.h"

static inline uint32_t ll_max(const pip_kernel *k) { return k->table_size - 1; }

/* initConfigPagesList */
void ll_init(pip_kernel *k, uint32_t page) {
    uint32_t *ll = tbl(k, page);
    if (!ll) return;
    uint32_t last = k->table_size - 4;          /* VA cell of the last pair */
    ll[0] = 2;
    ll[1] = k->table_size / 2 - 2;
    for (uint32_t i = 2; i <= last; i += 2) {
        ll[i] = 0;
        ll[i + 1] = i == last ? 0 : i + 2;
    }
    ll[ll_max(k) - 1] = 0;
    ll[ll_max(k)] = 0;
}

/* checkEnoughEntriesLinkedList: first LL page from `page` with >= 3 free pairs */
uint32_t ll_find_enough(pip_kernel *k, uint32_t page) {
    for (uint32_t n = 0; n < k->npages; n++) {
        uint32_t *ll = tbl(k, page);
        if (!ll) return 0;
        if (ll[1] >= 3) return page;
        page = pe_page(ll[ll_max(k)]);
    }
    return 0;
}

static inline int pair_index_ok(const pip_kernel *k, uint32_t i) {
    return i >= 2 && i <= k->table_size - 4 && !(i & 1);
}

/* insertEntryIntoLL */
void ll_insert(pip_kernel *k, uint32_t page, uint32_t va, uint32_t pa) {
    uint32_t *ll = tbl(k, page);
    if (!ll || !pair_index_ok(k, ll[0])) { k->corrupt = 1; return; }
    uint32_t i = ll[0], next = ll[i + 1];
    ll[i] = va;
    ll[i + 1] = pa;
    ll[0] = next;
    ll[1] -= 1;
}

/* parseConfigPagesList: the pair holding pa, searched from head; returns its
 * VA cell index (0 if absent) and the LL page holding it */
uint32_t ll_find_pa(pip_kernel *k, uint32_t head, uint32_t pa, uint32_t *ll_page) {
    uint32_t page = head;
    for (uint32_t n = 0; n < k->npages; n++) {
        uint32_t *ll = tbl(k, page);
        if (!ll) return 0;
        for (uint32_t i = 2; i <= k->table_size - 4; i += 2)
            if (ll[i] && ll[i + 1] == pa) {
                *ll_page = page;
                return i;
            }
        page = pe_page(ll[ll_max(k)]);
    }
    return 0;
}

/* free the pair at index i: it becomes the first free pair */
void ll_remove(pip_kernel *k, uint32_t page, uint32_t i) {
    uint32_t *ll = tbl(k, page);
    if (!ll || !pair_index_ok(k, i)) return;
    ll[i] = 0;
    ll[i + 1] = ll[0];
    ll[0] = i;
    ll[1] += 1;
}
