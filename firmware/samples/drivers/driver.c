/* A device driver partition for the ODSI gateway (domains/gateway.toml): it owns one
 * register device page and serves requests from its manager over IPC (docs/domains.md
 * "Drivers").  main(data_va, device_va): its mailbox is the first four pages at data_va
 * (outbox, then inbox: the runtime's layout), the device's registers at device_va.
 *
 *   request  {"t": "req", "rid": uint, "op": "read" | "write", "reg": text, "value": uint}
 *   reply    {"t": "rep", "rid": uint | null, "reason": text, "value": uint | null}
 *
 * The channel policy lets only the driver's manager reach it; requests are still parsed
 * as untrusted (pip/cbor.h).  With nothing (more) to do it yields to its manager, saving
 * its context in its main slot: the manager's next yield to slot 0 resumes it there.
 * Built three times: DRIVER_TEMPERATURE and DRIVER_LAMP select a device's register table;
 * DRIVER_MEMORY makes store_app, an application keeping one value for the domain that
 * created it (object 26261), in its own memory (device_va 0).  DRIVER_VERSION (default 1)
 * is the driver's code version: from 2 on, the temperature driver also answers a read of
 * "version" with it (temp_driver_v2, the signed update of docs/trust.md "Updating a
 * driver"). */
#include <pip/pip.h>
#include <pip/cbor.h>
#include <pip/ipc.h>

typedef struct {
    const char *name;
    uint32_t offset;
    int writable;
} reg_t;

#ifndef DRIVER_VERSION
#define DRIVER_VERSION 1
#endif
#define CODE_VERSION 0xFFFFFFFFu            /* a register's offset: the driver's own version */

#if defined(DRIVER_TEMPERATURE) && DRIVER_VERSION >= 2
/* version 2: its code version as a read-only register besides the device's */
static const reg_t regs[] = {{"value", 0, 0}, {"period", 4, 1}, {"version", CODE_VERSION, 0}};
#elif defined(DRIVER_TEMPERATURE)
/* value: temperature in centi-degrees Celsius; period: sampling period in ms */
static const reg_t regs[] = {{"value", 0, 0}, {"period", 4, 1}};
#elif defined(DRIVER_LAMP)
/* on: the lamp is on (1) or off (0) */
static const reg_t regs[] = {{"on", 0, 1}};
#elif defined(DRIVER_MEMORY)
/* value: whatever the domain stores */
static const reg_t regs[] = {{"value", 0, 1}};
#else
#error "define DRIVER_TEMPERATURE, DRIVER_LAMP or DRIVER_MEMORY"
#endif
#define NREGS (sizeof regs / sizeof regs[0])

typedef struct {
    int has_rid, has_value, is_req, op;     /* op: 0 none, 1 read, 2 write */
    uint32_t rid, value;
    const reg_t *reg;
    int reg_given;
} request_t;

/* 0 if the payload is a request map we understand (unknown keys are skipped) */
static int parse(const uint8_t *buf, uint32_t len, request_t *q)
{
    pip_cbor_reader r;
    pip_cbor_item it, v;
    pip_cbor_reader_init(&r, buf, len);
    if (pip_cbor_next(&r, &it) || it.major != PIP_CBOR_MAP)
        return -1;
    for (uint64_t i = 0; i < it.arg; i++) {
        pip_cbor_item key;
        if (pip_cbor_next(&r, &key) || key.major != PIP_CBOR_TEXT)
            return -1;
        pip_cbor_reader at = r;             /* the value, for keys read as one item */
        if (pip_cbor_skip(&r) || pip_cbor_next(&at, &v))
            return -1;
        int uint32 = v.major == PIP_CBOR_UINT && v.arg <= 0xFFFFFFFFu;
        if (pip_cbor_is_text(&key, "t")) {
            q->is_req = pip_cbor_is_text(&v, "req");
        } else if (pip_cbor_is_text(&key, "rid")) {
            q->has_rid = uint32;
            q->rid = (uint32_t)v.arg;
        } else if (pip_cbor_is_text(&key, "op")) {
            q->op = pip_cbor_is_text(&v, "read") ? 1 : pip_cbor_is_text(&v, "write") ? 2 : 0;
        } else if (pip_cbor_is_text(&key, "reg")) {
            q->reg_given = 1;
            for (uint32_t n = 0; n < NREGS; n++)
                if (pip_cbor_is_text(&v, regs[n].name))
                    q->reg = &regs[n];
        } else if (pip_cbor_is_text(&key, "value")) {
            q->has_value = uint32;
            q->value = (uint32_t)v.arg;
        }
    }
    return pip_cbor_done(&r) ? 0 : -1;
}

/* what a request does to the device: the reply's reason; *out the value read */
static const char *handle(const request_t *q, volatile uint32_t *device, int *read,
                          uint32_t *out)
{
    if (!q->is_req || !q->has_rid || !q->op)
        return "malformed";
    if (!q->reg)
        return "unknown_path";
    volatile uint32_t *reg = device + q->reg->offset / 4;
    if (q->op == 1) {
        *read = 1;
        *out = q->reg->offset == CODE_VERSION ? DRIVER_VERSION : *reg;
        return "content";
    }
    if (!q->reg->writable)
        return "not_allowed";
    if (!q->has_value)
        return "malformed";
    *reg = q->value;
    return "changed";
}

static void yield_to_manager(void)
{
    Pip_Yield(0, PIP_SERVICE_VECTOR, 0, 0, 0);
}

static void serve(const pip_ipc_mailbox *mb, volatile uint32_t *device)
{
    static uint8_t in[PIP_IPC_MAX_PAYLOAD], out[64];
    uint16_t src, dst;
    uint32_t seq;
    int32_t n;
    while (pip_ipc_refusal(mb, &dst, &seq))
        ;                                   /* a reply refused: nothing to undo */
    while ((n = pip_ipc_receive(mb, in, sizeof in, &src, &seq)) >= 0) {
        request_t q = {0};
        int read = 0;
        uint32_t value = 0;
        const char *reason = parse(in, (uint32_t)n, &q) ? "malformed"
                                                         : handle(&q, device, &read, &value);
        pip_cbor w;
        pip_cbor_init(&w, out, sizeof out);
        pip_cbor_map(&w, 4);
        pip_cbor_text(&w, "t");
        pip_cbor_text(&w, "rep");
        pip_cbor_text(&w, "rid");
        if (q.has_rid)
            pip_cbor_uint(&w, q.rid);
        else
            pip_cbor_null(&w);
        pip_cbor_text(&w, "reason");
        pip_cbor_text(&w, reason);
        pip_cbor_text(&w, "value");
        if (read)
            pip_cbor_uint(&w, value);
        else
            pip_cbor_null(&w);
        while (pip_ipc_send(mb, src, out, w.len) == PIP_IPC_E_FULL)
            yield_to_manager();             /* the relay drains the outbox meanwhile */
    }
}

int main(uint32_t data_va, uint32_t device_va)
{
    static uint32_t memory[NREGS];          /* the registers when there is no device */
    volatile uint32_t *registers = device_va ? (volatile uint32_t *)(uintptr_t)device_va
                                             : memory;
    pip_ipc_mailbox mb = {(uint8_t *)(uintptr_t)data_va,
                          (uint8_t *)(uintptr_t)data_va + 2 * PIP_PAGE_SIZE};
    for (;;) {
        if (pip_ipc_endpoint(&mb) > 0)
            serve(&mb, registers);
        yield_to_manager();
    }
}
