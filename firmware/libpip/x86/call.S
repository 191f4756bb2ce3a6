/* Kernel call stub, x86-32 (docs/abi.md "Kernel calls"): number in eax, arguments ebx
 * ecx edx esi edi ebp, `sysenter`, result in eax; the kernel preserves the other
 * registers (this is the machine's sysenter, not the CPU's SYSENTER/SYSEXIT protocol).
 * C prototype (cdecl): uint32_t pip_call6(a0, a1, a2, a3, a4, a5, number). */
    .text
    .global pip_call6
    .type pip_call6, @function
pip_call6:
    push    %ebp
    push    %ebx
    push    %esi
    push    %edi
    mov     20(%esp), %ebx
    mov     24(%esp), %ecx
    mov     28(%esp), %edx
    mov     32(%esp), %esi
    mov     36(%esp), %edi
    mov     40(%esp), %ebp
    mov     44(%esp), %eax
    sysenter
    pop     %edi
    pop     %esi
    pop     %ebx
    pop     %ebp
    ret
    .size pip_call6, . - pip_call6
    .section .note.GNU-stack, "", @progbits
