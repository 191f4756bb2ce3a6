/* Minimal CBOR (RFC 8949) for firmware partitions' IPC payloads: a writer for the few
 * types replies need, and a bounds-checked reader for requests from other partitions
 * (untrusted: every length is checked against the buffer, nesting is bounded, and
 * indefinite lengths are refused). */
#ifndef PIP_CBOR_H
#define PIP_CBOR_H

#include <stdint.h>

/* ---- writer: overflowing the buffer sets `error`; the length is then meaningless ---- */
typedef struct {
    uint8_t *buf;
    uint16_t cap, len;
    int error;
} pip_cbor;

void pip_cbor_init(pip_cbor *w, void *buf, uint16_t cap);
void pip_cbor_int(pip_cbor *w, int32_t v);
void pip_cbor_uint(pip_cbor *w, uint32_t v);
void pip_cbor_text(pip_cbor *w, const char *s);
void pip_cbor_map(pip_cbor *w, uint16_t pairs);
void pip_cbor_array(pip_cbor *w, uint16_t items);
void pip_cbor_null(pip_cbor *w);

/* ---- reader ---- */
enum { PIP_CBOR_UINT = 0, PIP_CBOR_NEGINT, PIP_CBOR_BYTES, PIP_CBOR_TEXT, PIP_CBOR_ARRAY,
       PIP_CBOR_MAP, PIP_CBOR_TAG, PIP_CBOR_SIMPLE };
#define PIP_CBOR_NULL_VALUE 22      /* simple value `null` */
#define PIP_CBOR_MAX_DEPTH  16      /* nesting pip_cbor_skip accepts */

typedef struct {
    const uint8_t *pos, *end;
} pip_cbor_reader;

typedef struct {
    uint8_t major;                  /* PIP_CBOR_* */
    uint64_t arg;                   /* value, length, count, tag, simple value or float bits */
    const uint8_t *data;            /* bytes / text: the string (arg bytes, not terminated) */
} pip_cbor_item;

void pip_cbor_reader_init(pip_cbor_reader *r, const void *buf, uint32_t len);
/* Read one item's head (and a string's contents); arrays, maps and tags leave their
 * contents to the next calls.  0, or -1 on truncated or unsupported input. */
int pip_cbor_next(pip_cbor_reader *r, pip_cbor_item *it);
/* Skip one whole item, contents included.  0, or -1. */
int pip_cbor_skip(pip_cbor_reader *r);
/* 1 if the reader consumed its whole buffer. */
int pip_cbor_done(const pip_cbor_reader *r);
/* 1 if the item is the text string s. */
int pip_cbor_is_text(const pip_cbor_item *it, const char *s);

#endif
