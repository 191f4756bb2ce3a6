/* CBOR writer and reader; see pip/cbor.h. */
#include <pip/cbor.h>
#include <pip/mem.h>

/* ---- writer ---- */
void pip_cbor_init(pip_cbor *w, void *buf, uint16_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->error = 0;
}

static void put(pip_cbor *w, uint8_t byte)
{
    if (w->len >= w->cap)
        w->error = 1;
    else
        w->buf[w->len++] = byte;
}

static void head(pip_cbor *w, uint8_t major, uint32_t v)
{
    major <<= 5;
    if (v < 24) {
        put(w, major | (uint8_t)v);
    } else if (v < 0x100) {
        put(w, major | 24);
        put(w, (uint8_t)v);
    } else if (v < 0x10000) {
        put(w, major | 25);
        put(w, (uint8_t)(v >> 8));
        put(w, (uint8_t)v);
    } else {
        put(w, major | 26);
        for (int shift = 24; shift >= 0; shift -= 8)
            put(w, (uint8_t)(v >> shift));
    }
}

void pip_cbor_int(pip_cbor *w, int32_t v)
{
    if (v >= 0)
        head(w, PIP_CBOR_UINT, (uint32_t)v);
    else
        head(w, PIP_CBOR_NEGINT, (uint32_t)(-(v + 1)));
}

void pip_cbor_uint(pip_cbor *w, uint32_t v)
{
    head(w, PIP_CBOR_UINT, v);
}

void pip_cbor_text(pip_cbor *w, const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    head(w, PIP_CBOR_TEXT, n);
    for (uint32_t i = 0; i < n; i++)
        put(w, (uint8_t)s[i]);
}

void pip_cbor_map(pip_cbor *w, uint16_t pairs)
{
    head(w, PIP_CBOR_MAP, pairs);
}

void pip_cbor_array(pip_cbor *w, uint16_t items)
{
    head(w, PIP_CBOR_ARRAY, items);
}

void pip_cbor_null(pip_cbor *w)
{
    head(w, PIP_CBOR_SIMPLE, PIP_CBOR_NULL_VALUE);
}

/* ---- reader ---- */
void pip_cbor_reader_init(pip_cbor_reader *r, const void *buf, uint32_t len)
{
    r->pos = buf;
    r->end = r->pos + len;
}

int pip_cbor_next(pip_cbor_reader *r, pip_cbor_item *it)
{
    if (r->pos >= r->end)
        return -1;
    uint8_t initial = *r->pos++, info = initial & 31;
    it->major = initial >> 5;
    it->data = 0;
    if (info < 24) {
        it->arg = info;
    } else if (info <= 27) {                   /* 1, 2, 4 or 8 bytes follow, big-endian */
        uint32_t n = 1u << (info - 24);
        if ((uint32_t)(r->end - r->pos) < n)
            return -1;
        it->arg = 0;
        for (uint32_t i = 0; i < n; i++)
            it->arg = it->arg << 8 | *r->pos++;
    } else {
        return -1;                             /* reserved, or an indefinite length */
    }
    if (it->major == PIP_CBOR_BYTES || it->major == PIP_CBOR_TEXT) {
        if (it->arg > (uint64_t)(r->end - r->pos))
            return -1;
        it->data = r->pos;
        r->pos += it->arg;
    }
    return 0;
}

static int skip(pip_cbor_reader *r, int depth)
{
    pip_cbor_item it;
    if (depth > PIP_CBOR_MAX_DEPTH || pip_cbor_next(r, &it))
        return -1;
    uint64_t inner = it.major == PIP_CBOR_ARRAY ? it.arg
                   : it.major == PIP_CBOR_MAP ? 2 * it.arg
                   : it.major == PIP_CBOR_TAG ? 1 : 0;
    for (uint64_t i = 0; i < inner; i++)
        if (skip(r, depth + 1))                /* fails at the buffer's end at the latest */
            return -1;
    return 0;
}

int pip_cbor_skip(pip_cbor_reader *r)
{
    return skip(r, 0);
}

int pip_cbor_done(const pip_cbor_reader *r)
{
    return r->pos == r->end;
}

int pip_cbor_is_text(const pip_cbor_item *it, const char *s)
{
    if (it->major != PIP_CBOR_TEXT)
        return 0;
    uint32_t n = 0;
    while (s[n])
        n++;
    return it->arg == n && memcmp(it->data, s, n) == 0;
}
