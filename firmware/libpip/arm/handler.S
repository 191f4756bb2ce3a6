/* Entry of handler contexts (Pip_InitHandlerContext): the kernel loads the context with
 * r0..r3 = vector, child, address, access (docs/abi.md "Delivery" step 3), which are
 * already the AAPCS arguments; r4 holds the C handler (bit 0 set if Thumb). */
    .syntax unified
#if defined(__thumb__)
    .thumb                  /* the image's instruction set (-mthumb / -marm) */
#else
    .arm
#endif
    .text
    .global pip_handler_entry
    .type pip_handler_entry, %function
pip_handler_entry:
    blx     r4
    ldr     r0, =0xDEAD             @ PIP_HANDLER_RETURNED: handlers must not return
    bl      pip_halt
1:  b       1b
    .ltorg
    .size pip_handler_entry, . - pip_handler_entry
    .section .note.GNU-stack, "", %progbits
