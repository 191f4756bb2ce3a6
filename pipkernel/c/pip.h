/*
 * pip.h - public interface of the Pip proto-kernel core.
 *
 * The part between BEGIN CDEF and END CDEF is plain C declarations: the cffi
 * build script (pipkernel/_build.py) reads it as is, so this file is the only
 * place the interface is written.  Services are named after Pip's operations
 * (pip-spec.md §2, Services.v); every failure leaves its reason in
 * k->last_error (a PIP_E_* code of pip_abi.h, generated from pipkernel/abi.py).
 */
#ifndef PIP_H
#define PIP_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/* BEGIN CDEF */
typedef struct pip_kernel {
    uint8_t *mem;            /* simulated physical memory: npages * 4096 bytes */
    uint32_t npages;
    uint32_t table_size;     /* entries per table (power of two, 16..1024) */
    uint32_t levels;         /* MMU levels (>= 2) */
    uint32_t index_bits;     /* log2(table_size) */
    uint32_t va_mask;        /* VA_LIMIT - 1 */
    uint32_t root;           /* PD page of the root partition (1) */
    uint32_t current;        /* PD page of the running partition */
    uint32_t last_error;     /* reason of the last failure, 0 after a success */
    uint32_t corrupt;        /* set when a walk met a PA outside memory */
    uint32_t cli_index;      /* VIDT slot saving a context whose state is 0 */
    uint32_t sti_index;      /* ... whose state is not 0 */
    uint32_t policy;         /* PIP_POLICY_PIP or PIP_POLICY_HARDENED, fixed at boot */
    uint8_t *device;         /* npages bytes, kernel-side: device[page] != 0 for an MMIO page */
    uint32_t cpu[20];        /* CPU context of the running partition */
} pip_kernel;

/* boot.c */
int pip_boot(pip_kernel *k, uint32_t npages, uint32_t table_size, uint32_t levels,
             uint32_t policy);
void pip_shutdown(pip_kernel *k);
uint32_t pip_root_va_start(const pip_kernel *k);
uint32_t pip_vidt_va(const pip_kernel *k);
/* the pages a root booted on this geometry maps, its VIDT included (0: not a geometry) */
uint32_t pip_root_free_pages(uint32_t npages, uint32_t table_size, uint32_t levels);
int pip_root_set_rights(pip_kernel *k, uint32_t va, uint32_t r, uint32_t w, uint32_t x);

/* partition.c */
_Bool pip_createPartition(pip_kernel *k, uint32_t caller, uint32_t descChild,
                             uint32_t pdChild, uint32_t sh1Child, uint32_t sh2Child,
                             uint32_t llChild);
_Bool pip_deletePartition(pip_kernel *k, uint32_t caller, uint32_t descChild);

/* mapping.c */
_Bool pip_addVAddr(pip_kernel *k, uint32_t caller, uint32_t vaParent, uint32_t descChild,
                      uint32_t vaChild, uint32_t r, uint32_t w, uint32_t e);
_Bool pip_removeVAddr(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild);
uint32_t pip_mappedInChild(pip_kernel *k, uint32_t caller, uint32_t vaParent);

/* prepare.c: prepare returns the next VA with the success bit in bit 0 */
uint32_t pip_countToMap(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild);
uint32_t pip_prepare(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaChild,
                     uint32_t fstVA);
_Bool pip_collect(pip_kernel *k, uint32_t caller, uint32_t descChild, uint32_t vaToCollect);

/* control.c: 0 on success, else Pip's yield code */
uint32_t pip_yield(pip_kernel *k, uint32_t caller, uint32_t calleeDesc, uint32_t targetInterrupt,
                   uint32_t callerCtxSaveIndex, uint32_t flagsOnYield, uint32_t flagsOnWake);
uint32_t pip_dispatch(pip_kernel *k, uint32_t caller, uint32_t descriptor, uint32_t vint,
                      uint32_t notify, uint32_t data1, uint32_t data2);
uint32_t pip_resume(pip_kernel *k, uint32_t caller, uint32_t descriptor, uint32_t pipflags);
uint32_t pip_get_int_state(pip_kernel *k, uint32_t caller, uint32_t descChild);
void pip_set_int_state(pip_kernel *k, uint32_t caller, uint32_t state);
uint32_t pip_int_state(pip_kernel *k, uint32_t part);
/* Pip's interrupt model: the partition now running, or 0 (fault: panic; others: not taken) */
uint32_t pip_fault(pip_kernel *k, uint32_t vector, uint32_t addr, uint32_t access);
uint32_t pip_software_interrupt(pip_kernel *k, uint32_t vector);
uint32_t pip_hardware_interrupt(pip_kernel *k, uint32_t vector);

/* mmu.c: translation as the MMU does it; no allocation, O(levels) */
int pip_translate(pip_kernel *k, uint32_t part, uint32_t va, uint32_t access, uint32_t *pa);
int pip_user_copy(pip_kernel *k, uint32_t part, uint32_t va, uint8_t *buf, uint32_t n,
                  int to_memory, uint32_t *fault_va);

/* introspect.c: observable state, for the API and the invariants */
uint32_t pip_children(pip_kernel *k, uint32_t part, uint32_t *pds, uint32_t *vas, uint32_t cap);
uint32_t pip_parent(pip_kernel *k, uint32_t part);
uint32_t pip_mappings(pip_kernel *k, uint32_t part, uint32_t *vas, uint32_t *ptes, uint32_t cap);
uint32_t pip_config_pages(pip_kernel *k, uint32_t part, uint32_t *pages, uint32_t cap);
int pip_is_partition(pip_kernel *k, uint32_t part);

/* invariants.c: bit i set = property i of PIP_INV_* violated */
uint64_t pip_check_invariants(pip_kernel *k);

/* policy.c: device pages (1 <= page < npages; -1 otherwise), listed in ascending order */
int pip_mark_device(pip_kernel *k, uint32_t page);
uint32_t pip_device_pages(pip_kernel *k, uint32_t *pages, uint32_t cap);

/* properties.c: bit i set = property i of PIP_XPROP_* (beyond Pip's) violated */
uint64_t pip_check_extra_properties(pip_kernel *k);
/* END CDEF */

#endif
