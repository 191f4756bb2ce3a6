/* Entry of the static Linux executables (harness/linux.c): linux_main(the initial
 * stack pointer), then the exit system call with its result. */
#if defined(__arm__)
    .syntax unified
#if defined(__thumb__)
    .thumb
#else
    .arm
#endif
    .section .text.start, "ax", %progbits
    .global _start
    .type _start, %function
_start:
    mov     r0, sp
    bl      linux_main
    movs    r7, #1                  @ exit (EABI)
    svc     #0
1:  b       1b
    .size _start, . - _start
    .section .note.GNU-stack, "", %progbits
#elif defined(__i386__)
    .section .text.start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    mov     %esp, %eax
    and     $-16, %esp
    sub     $12, %esp               /* 16-byte aligned at the call */
    push    %eax
    call    linux_main
    mov     %eax, %ebx
    mov     $1, %eax                /* exit */
    int     $0x80
1:  jmp     1b
    .size _start, . - _start
    .section .note.GNU-stack, "", @progbits
#else
#error "ARM or x86-32"
#endif
