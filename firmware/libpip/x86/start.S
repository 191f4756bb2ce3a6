/* Image entry, x86-32. The loader (root) or the parent's context (child) enters here
 * with eax ecx edx ebx = the context's first four registers (words 4..7); they become
 * main(a0, a1, a2, a3). esp := __stack_top (the end of .bss, ld/image.ld), .bss is
 * cleared, then pip_halt(main's result): only the root has the system page; in a child
 * that halt is a page fault for the parent. */
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
    call    pip_halt
3:  jmp     3b
    .size _start, . - _start
    .section .note.GNU-stack, "", @progbits
