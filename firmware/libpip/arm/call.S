/* Kernel call stub, ARM and Thumb-2 (docs/abi.md "Kernel calls"): number in r7,
 * arguments r0..r5, `svc #0`, result in r0; the kernel preserves the other registers.
 * C prototype: uint32_t pip_call6(a0, a1, a2, a3, a4, a5, number); AAPCS passes a0..a3
 * in r0..r3 and a4, a5, number on the stack. */
    .syntax unified
#if defined(__thumb__)
    .thumb                  /* the image's instruction set (-mthumb / -marm) */
#else
    .arm
#endif
    .text
    .global pip_call6
    .type pip_call6, %function
pip_call6:
    push    {r4, r5, r7, lr}
    ldr     r4, [sp, #16]
    ldr     r5, [sp, #20]
    ldr     r7, [sp, #24]
    svc     #0
    pop     {r4, r5, r7, pc}
    .size pip_call6, . - pip_call6
    .section .note.GNU-stack, "", %progbits
