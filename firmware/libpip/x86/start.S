/* Image entry, x86-32, for a root or, built with -DPIP_IMAGE_CHILD, a child (the start
 * files crt0-*.o, docs/sdk.md). The loader (root) or the parent's context (child) enters
 * here with eax ecx edx ebx = the context's first four registers (words 4..7); they
 * become main(a0, a1, a2, a3). esp := __stack_top (the stack's own pages above a guard
 * page, ld/image.ld), .bss is cleared, then exit(main's result): the C library's
 * (atexit, stdio flushed) or libpip's, both ending in pip_exit (libpip/exit.c), which
 * reads pip_image_kind: the root halts, a child raises PIP_CHILD_EXIT_VECTOR to its
 * parent with the code. */
    .section .text.start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    mov     $__stack_top, %esp
    mov     $__bss_start, %edi
1:  cmp     $__bss_end, %edi
    jae     2f
    movl    $0, (%edi)
    add     $4, %edi
    jmp     1b
2:  push    %ebx
    push    %edx
    push    %ecx
    push    %eax
    call    main
    push    %eax
    call    exit
3:  jmp     3b
    .size _start, . - _start

    .section .rodata.pip_image_kind, "a", @progbits
    .global pip_image_kind
    .type pip_image_kind, @object
    .balign 4
pip_image_kind:
#if defined(PIP_IMAGE_CHILD)
    .long   1
#else
    .long   0
#endif
    .size pip_image_kind, 4
    .section .note.GNU-stack, "", @progbits
