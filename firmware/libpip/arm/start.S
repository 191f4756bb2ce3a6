/* Image entry, ARM or Thumb-2 (assembled in the image's state). The loader (root) or
 * the parent's context (child) enters here with r0..r3 = the context's first four
 * registers; they reach main(a0, a1, a2, a3) untouched. sp := __stack_top (the stack
 * is the end of .bss, ld/image.ld), .bss is cleared, then pip_halt(main's result):
 * only the root has the system page; in a child that halt is a page fault for the
 * parent. */
    .syntax unified
#if defined(__thumb__)
    .thumb                  /* the image's instruction set (-mthumb / -marm) */
#else
    .arm
#endif
    .section .text.start, "ax", %progbits
    .global _start
    .type _start, %function
_start:
    ldr     r4, =__stack_top
    mov     sp, r4
    ldr     r4, =__bss_start
    ldr     r5, =__bss_end
    movs    r6, #0
1:  cmp     r4, r5
    bhs     2f
    str     r6, [r4], #4
    b       1b
2:  bl      main
    bl      pip_halt
3:  b       3b
    .ltorg
    .size _start, . - _start
    .section .note.GNU-stack, "", %progbits
