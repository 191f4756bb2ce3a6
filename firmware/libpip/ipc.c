/* Mailbox IPC on the layout of docs/ipc.md; see pip/ipc.h. */
#include <pip/ipc.h>
#include <pip/mem.h>

_Static_assert(sizeof(pip_ipc_header) == PIP_IPC_HEADER_SIZE, "slot header is 32 bytes");
/* what this file assumes of the layout (abi.h): mb->inbox is the inbox ring itself, the
 * message rings have PIP_IPC_SLOT_SIZE slots, the status ring header-only ones */
_Static_assert(PIP_IPC_INBOX_OFF == 2 * PIP_PAGE_SIZE, "the inbox region is the inbox ring");
_Static_assert(PIP_IPC_OUTBOX_SLOT_SIZE == PIP_IPC_SLOT_SIZE &&
               PIP_IPC_INBOX_SLOT_SIZE == PIP_IPC_SLOT_SIZE &&
               PIP_IPC_STATUS_SLOT_SIZE == PIP_IPC_HEADER_SIZE, "slot sizes");

static pip_ipc_header *slot(uint8_t *base, uint32_t i)
{
    return (pip_ipc_header *)(base + i * PIP_IPC_SLOT_SIZE);
}

static volatile uint8_t *pending(const pip_ipc_mailbox *mb, uint32_t which)
{
    return (volatile uint8_t *)(mb->outbox + PIP_IPC_PENDING_OFF + which);
}

/* Before a slot of the counted ring goes READY (counts saturate, never wrap to 0). */
static void pending_raise(const pip_ipc_mailbox *mb, uint32_t which)
{
    volatile uint8_t *count = pending(mb, which);
    if (*count != 0xFF)
        *count = (uint8_t)(*count + 1);
}

/* After a slot of the counted ring was freed. */
static void pending_lower(const pip_ipc_mailbox *mb, uint32_t which)
{
    volatile uint8_t *count = pending(mb, which);
    if (*count != 0)
        *count = (uint8_t)(*count - 1);
}

int32_t pip_ipc_endpoint(const pip_ipc_mailbox *mb)
{
    const uint32_t *w = (const uint32_t *)mb->outbox;
    if (w[0] != PIP_IPC_MAGIC || (w[1] & 0xFFFF) != PIP_IPC_VERSION)
        return PIP_IPC_E_NOT_MAILBOX;
    return (int32_t)(w[1] >> 16);
}

int32_t pip_ipc_send(const pip_ipc_mailbox *mb, uint16_t dst, const void *payload, uint16_t len)
{
    int32_t me = pip_ipc_endpoint(mb);
    if (me < 0)
        return me;
    if (dst == 0 || dst > PIP_IPC_MAX_ENDPOINT)
        return PIP_IPC_E_BAD_DEST;
    if (len > PIP_IPC_MAX_PAYLOAD)
        return PIP_IPC_E_TOO_BIG;
    uint8_t *slots = mb->outbox + PIP_IPC_OUTBOX_OFF;
    uint32_t i = 0;
    while (i < PIP_IPC_OUTBOX_SLOTS && slot(slots, i)->state != PIP_IPC_FREE)
        i++;
    if (i == PIP_IPC_OUTBOX_SLOTS)
        return PIP_IPC_E_FULL;
    /* the counter first: a crash leaves a gap, never two messages with one number */
    uint32_t *last = (uint32_t *)(mb->outbox + PIP_IPC_SEQ_OFF) + dst;
    uint32_t seq = *last + 1 ? *last + 1 : 1;
    *last = seq;
    pip_ipc_header *h = slot(slots, i);
    memcpy((uint8_t *)h + PIP_IPC_HEADER_SIZE, payload, len);
    pip_ipc_header fresh = {0};
    fresh.kind = 0;
    fresh.length = len;
    fresh.src = (uint16_t)me;
    fresh.dst = dst;
    fresh.seq = seq;
    *h = fresh;
    pending_raise(mb, PIP_IPC_PENDING_OUTBOX);
    *(volatile uint8_t *)&h->state = PIP_IPC_READY;   /* the slot goes live last */
    return (int32_t)seq;
}

int32_t pip_ipc_receive(const pip_ipc_mailbox *mb, void *buf, uint16_t cap, uint16_t *src,
                        uint32_t *seq)
{
    int32_t me = pip_ipc_endpoint(mb);
    if (me < 0)
        return me;
    pip_ipc_header *best = 0;
    for (uint32_t i = 0; i < PIP_IPC_INBOX_SLOTS; i++) {
        pip_ipc_header *h = slot(mb->inbox, i);
        if (h->state == PIP_IPC_READY && h->kind == 0 && h->dst == me
            && (!best || h->src < best->src || (h->src == best->src && h->seq < best->seq)))
            best = h;
    }
    if (!best)
        return PIP_IPC_E_EMPTY;
    if (best->length > cap || best->length > PIP_IPC_MAX_PAYLOAD)
        return PIP_IPC_E_BUFFER;
    memcpy(buf, (uint8_t *)best + PIP_IPC_HEADER_SIZE, best->length);
    *src = best->src;
    *seq = best->seq;
    *(volatile uint8_t *)&best->state = PIP_IPC_FREE;
    pending_lower(mb, PIP_IPC_PENDING_MINE);
    return best->length;
}

int32_t pip_ipc_refusal(const pip_ipc_mailbox *mb, uint16_t *dst, uint32_t *seq)
{
    pip_ipc_header *status = (pip_ipc_header *)(mb->outbox + PIP_IPC_STATUS_OFF);
    for (uint32_t i = 0; i < PIP_IPC_STATUS_SLOTS; i++) {
        if (status[i].state == PIP_IPC_READY) {
            *dst = status[i].dst;
            *seq = status[i].seq;
            int32_t reason = status[i].kind;
            *(volatile uint8_t *)&status[i].state = PIP_IPC_FREE;
            pending_lower(mb, PIP_IPC_PENDING_STATUS);
            return reason;
        }
    }
    return 0;
}
