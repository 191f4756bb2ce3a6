/* LZSS (J. A. Storer, T. G. Szymanski, JACM 29(4), 1982): a 32 KiB text of words in
 * pseudo-random order compressed with a 4 KiB window (matches of 3..18 bytes found
 * through hash chains), then decompressed.  Format: a flag byte before every 8 items,
 * bit i set for a literal byte, clear for a match of two bytes (12-bit distance - 1,
 * 4-bit length - 3).  Checked: the round trip gives the text back, the decoder ends
 * exactly at the end of the code, and the text compresses to less than half. */
#include "program.h"

const uint32_t program_default_reps = 45;

#define TEXT (32u * 1024u)
#define WINDOW 4096u
#define MIN_MATCH 3u
#define MAX_MATCH 18u
#define CHAIN 32u
#define HASH 4096u

static uint8_t text[TEXT], code[TEXT + TEXT / 8 + 16], back[TEXT];
static uint16_t head[HASH];                      /* position + 1 of the latest, 0: none */
static uint16_t prev[TEXT];

static uint32_t hash3(const uint8_t *p)
{
    return ((uint32_t)p[0] << 7 ^ (uint32_t)p[1] << 3 ^ p[2]) % HASH;
}

static void make_text(uint32_t seed)
{
    static const char *const words[16] = {
        "the ", "partition ", "kernel ", "page ", "of ", "and ", "memory ", "child ",
        "a ", "yields ", "to ", "its ", "parent ", "table ", "in ", "isolation ",
    };
    uint32_t n = 0;
    while (n < TEXT) {
        const char *w = words[bp_rand(&seed) % 16];
        while (*w && n < TEXT)
            text[n++] = (uint8_t)*w++;
    }
}

static uint32_t compress(const uint8_t *in, uint32_t n, uint8_t *out)
{
    bp_fill(head, 0, sizeof head);
    uint32_t o = 0, flag_at = 0, items = 8, i = 0;
    while (i < n) {
        if (items == 8) {
            flag_at = o++;
            out[flag_at] = 0;
            items = 0;
        }
        uint32_t best = 0, distance = 0;
        if (i + MIN_MATCH <= n) {
            uint32_t h = hash3(in + i), limit = n - i < MAX_MATCH ? n - i : MAX_MATCH;
            uint32_t candidate = head[h], steps = 0;
            while (candidate && i - (candidate - 1) <= WINDOW && steps++ < CHAIN) {
                uint32_t at = candidate - 1, len = 0;
                while (len < limit && in[at + len] == in[i + len])
                    len++;
                if (len > best) {
                    best = len, distance = i - at;
                    if (len == limit)
                        break;
                }
                candidate = prev[at];
            }
        }
        uint32_t take = best >= MIN_MATCH ? best : 1;
        if (take == 1) {
            out[flag_at] |= (uint8_t)(1u << items);
            out[o++] = in[i];
        } else {
            out[o++] = (uint8_t)(distance - 1);
            out[o++] = (uint8_t)((distance - 1) >> 8 << 4 | (take - MIN_MATCH));
        }
        items++;
        for (uint32_t end = i + take; i < end; i++)       /* index what was coded */
            if (i + MIN_MATCH <= n) {
                uint32_t h = hash3(in + i);
                prev[i] = head[h];
                head[h] = (uint16_t)(i + 1);
            }
    }
    return o;
}

static uint32_t decompress(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t capacity,
                           uint32_t *produced)
{
    uint32_t i = 0, o = 0;
    while (i < n) {
        uint8_t flags = in[i++];
        for (unsigned item = 0; item < 8 && i < n; item++) {
            if (flags >> item & 1) {
                if (o == capacity)
                    return 0;
                out[o++] = in[i++];
                continue;
            }
            if (i + 2 > n)
                return 0;
            uint32_t distance = ((uint32_t)in[i + 1] >> 4 << 8 | in[i]) + 1;
            uint32_t len = (in[i + 1] & 15u) + MIN_MATCH;
            i += 2;
            if (distance > o || len > capacity - o)
                return 0;
            for (uint32_t k = 0; k < len; k++, o++)
                out[o] = out[o - distance];
        }
    }
    *produced = o;
    return i;
}

uint32_t program_run(uint32_t reps)
{
    for (uint32_t r = 0; r < reps; r++) {
        make_text(0x51ED270Bu + r);
        uint32_t size = compress(text, TEXT, code), produced = 0;
        if (size >= TEXT / 2)
            return 1;
        if (decompress(code, size, back, TEXT, &produced) != size || produced != TEXT)
            return 2;
        if (!bp_equal(back, text, TEXT))
            return 3;
    }
    return 0;
}
