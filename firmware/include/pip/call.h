/* Raw kernel calls and software interrupts (docs/abi.md "Kernel calls").
 *
 * pip_call6 is an assembly stub per architecture (libpip/<arch>/call.S):
 *   ARM/Thumb: number in r7, arguments r0..r5, `svc #0`, result r0.
 *   x86-32:    number in eax, arguments ebx ecx edx esi edi ebp, `sysenter`, result eax.
 * The kernel preserves every register but the result; the stub saves the callee-saved
 * registers it loads, so C sees an ordinary function.
 *
 * After a successful yield / dispatch / resume the caller does not continue: if its
 * context was saved, it continues later from the instruction after the call, with the
 * registers of the saved context (what r0/eax holds then is the kernel's choice:
 * firmware never relies on it, see firmware/README.md "Open questions").
 */
#ifndef PIP_CALL_H
#define PIP_CALL_H

#include <stdint.h>
#include "abi.h"

uint32_t pip_call6(uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                   uint32_t a4, uint32_t a5, uint32_t number);

/* Software interrupt n (48 <= n <= 255) to the parent, with r0..r3 (eax, ecx, edx, ebx:
 * context words 4..7) set to a..d; the parent reads them from the caller's saved
 * context. Returns r0/eax as found when the caller resumes (SWI_ERROR = 0xFFFFFFFF when
 * the parent has no handler, docs/abi.md "Delivery" step 2). n must be a constant. */
#if defined(__arm__)
#define PIP_SOFTINT4(n, a, b, c, d) __extension__ ({                                  \
    register uint32_t _r0 __asm__("r0") = (a);                                       \
    register uint32_t _r1 __asm__("r1") = (b);                                       \
    register uint32_t _r2 __asm__("r2") = (c);                                       \
    register uint32_t _r3 __asm__("r3") = (d);                                       \
    __asm__ volatile("svc %[num]" : "+r"(_r0)                                         \
                     : [num] "i"(n), "r"(_r1), "r"(_r2), "r"(_r3) : "memory");       \
    _r0; })
#elif defined(__i386__)
#define PIP_SOFTINT4(n, a, b, c, d) __extension__ ({                                  \
    uint32_t _eax = (a);                                                              \
    __asm__ volatile("int %[num]" : "+a"(_eax)                                        \
                     : [num] "i"(n), "c"(b), "d"(c), "b"(d) : "memory");             \
    _eax; })
#else
#error "libpip supports ARM (armv7-a) and x86-32 only"
#endif

#define PIP_SOFTINT(n, a) PIP_SOFTINT4(n, a, 0, 0, 0)

/* The fault a software interrupt below PIP_SWI_FIRST raises in its caller (docs/abi.md
 * "Interrupt vectors"): `svc #1..47` is an invalid instruction (6) on ARM, `int n`
 * with n < 48 a general protection fault (13) on x86. */
#if defined(__arm__)
#define PIP_VECTOR_LOW_SOFTINT PIP_VECTOR_INVALID_OPCODE
#else
#define PIP_VECTOR_LOW_SOFTINT PIP_VECTOR_GENERAL_PROTECTION
#endif

#endif
