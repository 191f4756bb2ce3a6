/* Mailbox IPC for firmware partitions: send / receive / refusals on the byte layout of
 * docs/ipc.md (the same as ipc/mailbox.py); payloads are CBOR (pip/cbor.h).
 * The relay runs in the ancestors; a partition only touches its own mailbox pages. */
#ifndef PIP_IPC_H
#define PIP_IPC_H

#include <stdint.h>
#include "abi.h"     /* the layout: PIP_IPC_* offsets, sizes, states, pending counts, reasons,
                        and pip_ipc_header, a slot's header */

/* Negative results of pip_ipc_send / pip_ipc_receive. */
enum { PIP_IPC_E_NOT_MAILBOX = -1, PIP_IPC_E_BAD_DEST = -2, PIP_IPC_E_TOO_BIG = -3,
       PIP_IPC_E_FULL = -4, PIP_IPC_E_EMPTY = -5, PIP_IPC_E_BUFFER = -6 };

typedef struct {
    uint8_t *outbox;           /* two pages: control page, outbox slots */
    uint8_t *inbox;            /* two pages: inbox slots */
} pip_ipc_mailbox;

/* This partition's endpoint id, or PIP_IPC_E_NOT_MAILBOX if the control header is wrong. */
int32_t pip_ipc_endpoint(const pip_ipc_mailbox *mb);
/* Queue an encoded CBOR payload for endpoint dst; returns its sequence number (> 0). */
int32_t pip_ipc_send(const pip_ipc_mailbox *mb, uint16_t dst, const void *payload, uint16_t len);
/* Take one message for this partition (the one with the lowest (src, seq)); returns its
 * length and fills *src, *seq, or PIP_IPC_E_EMPTY / PIP_IPC_E_BUFFER (left in place). */
int32_t pip_ipc_receive(const pip_ipc_mailbox *mb, void *buf, uint16_t cap, uint16_t *src,
                        uint32_t *seq);
/* Take one refusal: returns its reason and fills *dst, *seq, or 0 if there is none. */
int32_t pip_ipc_refusal(const pip_ipc_mailbox *mb, uint16_t *dst, uint32_t *seq);

#endif
