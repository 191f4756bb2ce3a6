/* Image entry, ARM or Thumb-2 (assembled in the image's state), for a root or, built
 * with -DPIP_IMAGE_CHILD, a child (the start files crt0-*.o, docs/sdk.md). The loader
 * (root) or the parent's context (child) enters here with r0..r3 = the context's first
 * four registers; they reach main(a0, a1, a2, a3) untouched. sp := __stack_top (the
 * stack's own pages above a guard page, ld/image.ld), .bss is cleared, then
 * exit(main's result): the C library's (atexit, stdio flushed) or libpip's, both
 * ending in pip_exit (libpip/exit.c), which reads pip_image_kind: the root halts, a
 * child raises PIP_CHILD_EXIT_VECTOR to its parent with the code. */
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
    bl      exit
3:  b       3b
    .ltorg
    .size _start, . - _start

    .section .rodata.pip_image_kind, "a", %progbits
    .global pip_image_kind
    .type pip_image_kind, %object
    .balign 4
pip_image_kind:
#if defined(PIP_IMAGE_CHILD)
    .word   1
#else
    .word   0
#endif
    .size pip_image_kind, 4
    .section .note.GNU-stack, "", %progbits
