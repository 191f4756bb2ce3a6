/* Mailbox IPC for firmware partitions: send / receive / refusals on the byte layout of
 * docs/ipc.md (the same as ipc/mailbox.py); payloads are CBOR (pip/cbor.h).
 * The relay runs in the ancestors; a partition only touches its own mailbox pages. */
#ifndef PIP_IPC_H
#define PIP_IPC_H

#include <stdint.h>

#define PIP_IPC_MAGIC        0x4D504950u  /* "PIPM" */
#define PIP_IPC_VERSION      2            /* 2: pending counts at PIP_IPC_PENDING_OFF */
#define PIP_IPC_HEADER_SIZE  32
#define PIP_IPC_SLOT_SIZE    512
#define PIP_IPC_MAX_PAYLOAD  (PIP_IPC_SLOT_SIZE - PIP_IPC_HEADER_SIZE)
#define PIP_IPC_MAX_ENDPOINT 511
/* Offsets from the outbox VA (control page, then outbox slots) and the inbox VA. */
#define PIP_IPC_PENDING_OFF  0x008        /* u8 counts of READY slots, indexed below */
#define PIP_IPC_STATUS_OFF   0x400
#define PIP_IPC_STATUS_SLOTS 32
#define PIP_IPC_SEQ_OFF      0x800
#define PIP_IPC_OUTBOX_OFF   0x1000
#define PIP_IPC_OUTBOX_SLOTS 8
#define PIP_IPC_INBOX_SLOTS  16

enum { PIP_IPC_FREE = 0, PIP_IPC_READY = 1, PIP_IPC_CLAIMED = 2 };
/* Pending counts: raised before a slot becomes READY, lowered after it is freed, so a count
 * is never below the READY slots it counts; readers may skip a ring whose count is 0. */
enum { PIP_IPC_PENDING_OUTBOX = 0,   /* READY outbox slots */
       PIP_IPC_PENDING_MINE = 1,     /* READY inbox messages for this partition */
       PIP_IPC_PENDING_TRANSIT = 2,  /* other READY inbox slots (for descendants) */
       PIP_IPC_PENDING_STATUS = 3,   /* READY refusals in the status ring */
       PIP_IPC_PENDING_COUNTS = 4 };
enum { PIP_IPC_UNAUTHORISED = 1, PIP_IPC_OVERSIZED, PIP_IPC_UNDELIVERABLE, PIP_IPC_INBOX_FULL,
       PIP_IPC_MALFORMED };
/* Negative results of pip_ipc_send / pip_ipc_receive. */
enum { PIP_IPC_E_NOT_MAILBOX = -1, PIP_IPC_E_BAD_DEST = -2, PIP_IPC_E_TOO_BIG = -3,
       PIP_IPC_E_FULL = -4, PIP_IPC_E_EMPTY = -5, PIP_IPC_E_BUFFER = -6 };

typedef struct {
    uint8_t state, kind;       /* kind: 0 message, else a PIP_IPC_* refusal reason */
    uint16_t length, src, dst;
    uint32_t seq;
    uint16_t origin_owner;     /* relay bookkeeping (CLAIMED slots) */
    uint8_t origin_ring, origin_slot, tries;
    uint8_t reserved[15];
} pip_ipc_header;

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
