/* Entry of handler contexts (Pip_InitHandlerContext): the kernel loads the context with
 * eax ecx edx ebx = vector, child, address, access (docs/abi.md "Delivery" step 3:
 * r0..r3 are context words 4..7); esi holds the C handler. cdecl wants the arguments
 * on the stack. */
    .text
    .global pip_handler_entry
    .type pip_handler_entry, @function
pip_handler_entry:
    push    %ebx
    push    %edx
    push    %ecx
    push    %eax
    call    *%esi
    push    $0xDEAD                 /* PIP_HANDLER_RETURNED: handlers must not return */
    call    pip_halt
1:  jmp     1b
    .size pip_handler_entry, . - pip_handler_entry
    .section .note.GNU-stack, "", @progbits
