/* AES-128 (FIPS-197): the S-box computed from its definition (multiplicative inverse
 * in GF(2^8), then the affine transform, §5.1.1), key expansion (§5.2), the cipher
 * (§5.1) and the inverse cipher (§5.3), byte-oriented.  Known answers: FIPS-197
 * Appendix B (key 2b7e1516..., input 3243f6a8... -> 3925841d...) and Appendix C.1
 * (key 00010203..., input 00112233... -> 69c4e0d8...), both ways.  Each rep: the two
 * vectors, then 16 KiB of pseudo-random data encrypted in CBC mode, decrypted, compared. */
#include "program.h"

const uint32_t program_default_reps = 14;

#define BLOCKS 1024u

static uint8_t sbox[256], inv_sbox[256];
static uint8_t plain[BLOCKS * 16], cipher[BLOCKS * 16], back[BLOCKS * 16];

static uint8_t xtime(uint8_t a)
{
    return (uint8_t)(a << 1 ^ (a & 0x80 ? 0x1B : 0));
}

static uint8_t gmul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    while (b) {
        if (b & 1)
            p ^= a;
        a = xtime(a);
        b >>= 1;
    }
    return p;
}

static uint8_t rotl8(uint8_t x, unsigned n)
{
    return (uint8_t)(x << n | x >> (8 - n));
}

static void make_sbox(void)
{
    for (unsigned x = 0; x < 256; x++) {
        uint8_t inv = 0;                         /* x^254 = x^-1, and 0 for 0 */
        if (x) {
            uint8_t power = (uint8_t)x;
            inv = 1;
            for (unsigned e = 254; e; e >>= 1) {
                if (e & 1)
                    inv = gmul(inv, power);
                power = gmul(power, power);
            }
        }
        uint8_t s = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63;
        sbox[x] = s;
        inv_sbox[s] = (uint8_t)x;
    }
}

static void expand_key(const uint8_t key[16], uint8_t rk[176])
{
    bp_copy(rk, key, 16);
    uint8_t rcon = 1;
    for (unsigned i = 4; i < 44; i++) {
        uint8_t t[4];
        bp_copy(t, rk + 4 * (i - 1), 4);
        if (i % 4 == 0) {
            uint8_t first = t[0];
            t[0] = sbox[t[1]] ^ rcon;
            t[1] = sbox[t[2]];
            t[2] = sbox[t[3]];
            t[3] = sbox[first];
            rcon = xtime(rcon);
        }
        for (unsigned j = 0; j < 4; j++)
            rk[4 * i + j] = rk[4 * (i - 4) + j] ^ t[j];
    }
}

static void add_round_key(uint8_t s[16], const uint8_t *rk)
{
    for (unsigned i = 0; i < 16; i++)
        s[i] ^= rk[i];
}

static void encrypt(const uint8_t rk[176], const uint8_t in[16], uint8_t out[16])
{
    uint8_t s[16], t[16];
    bp_copy(s, in, 16);
    add_round_key(s, rk);
    for (unsigned round = 1; round <= 10; round++) {
        for (unsigned c = 0; c < 4; c++)            /* SubBytes and ShiftRows */
            for (unsigned r = 0; r < 4; r++)
                t[r + 4 * c] = sbox[s[r + 4 * ((c + r) % 4)]];
        if (round < 10) {
            for (unsigned c = 0; c < 4; c++) {      /* MixColumns */
                uint8_t *a = t + 4 * c;
                uint8_t all = a[0] ^ a[1] ^ a[2] ^ a[3], first = a[0];
                s[4 * c + 0] = a[0] ^ all ^ xtime(a[0] ^ a[1]);
                s[4 * c + 1] = a[1] ^ all ^ xtime(a[1] ^ a[2]);
                s[4 * c + 2] = a[2] ^ all ^ xtime(a[2] ^ a[3]);
                s[4 * c + 3] = a[3] ^ all ^ xtime(a[3] ^ first);
            }
        } else {
            bp_copy(s, t, 16);
        }
        add_round_key(s, rk + 16 * round);
    }
    bp_copy(out, s, 16);
}

static void decrypt(const uint8_t rk[176], const uint8_t in[16], uint8_t out[16])
{
    uint8_t s[16], t[16];
    bp_copy(s, in, 16);
    add_round_key(s, rk + 160);
    for (unsigned round = 10; round >= 1; round--) {
        for (unsigned c = 0; c < 4; c++)            /* InvShiftRows and InvSubBytes */
            for (unsigned r = 0; r < 4; r++)
                t[r + 4 * ((c + r) % 4)] = inv_sbox[s[r + 4 * c]];
        add_round_key(t, rk + 16 * (round - 1));
        if (round > 1) {
            for (unsigned c = 0; c < 4; c++) {      /* InvMixColumns */
                const uint8_t *a = t + 4 * c;
                s[4 * c + 0] = gmul(a[0], 14) ^ gmul(a[1], 11) ^ gmul(a[2], 13) ^ gmul(a[3], 9);
                s[4 * c + 1] = gmul(a[0], 9) ^ gmul(a[1], 14) ^ gmul(a[2], 11) ^ gmul(a[3], 13);
                s[4 * c + 2] = gmul(a[0], 13) ^ gmul(a[1], 9) ^ gmul(a[2], 14) ^ gmul(a[3], 11);
                s[4 * c + 3] = gmul(a[0], 11) ^ gmul(a[1], 13) ^ gmul(a[2], 9) ^ gmul(a[3], 14);
            }
        } else {
            bp_copy(s, t, 16);
        }
    }
    bp_copy(out, s, 16);
}

struct vector {
    uint8_t key[16], in[16], out[16];
};

static const struct vector vectors[2] = {
    {   /* FIPS-197 Appendix B */
        {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c},
        {0x32, 0x43, 0xf6, 0xa8, 0x88, 0x5a, 0x30, 0x8d, 0x31, 0x31, 0x98, 0xa2, 0xe0, 0x37, 0x07, 0x34},
        {0x39, 0x25, 0x84, 0x1d, 0x02, 0xdc, 0x09, 0xfb, 0xdc, 0x11, 0x85, 0x97, 0x19, 0x6a, 0x0b, 0x32},
    },
    {   /* FIPS-197 Appendix C.1 */
        {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
        {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
        {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a},
    },
};

uint32_t program_run(uint32_t reps)
{
    uint8_t rk[176], block[16];
    make_sbox();
    uint32_t seed = 0xA5A5F00Du;
    for (uint32_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(bp_rand(&seed) >> 24);
    for (uint32_t r = 0; r < reps; r++) {
        for (unsigned v = 0; v < 2; v++) {
            expand_key(vectors[v].key, rk);
            encrypt(rk, vectors[v].in, block);
            if (!bp_equal(block, vectors[v].out, 16))
                return 1 + v;
            decrypt(rk, vectors[v].out, block);
            if (!bp_equal(block, vectors[v].in, 16))
                return 3 + v;
        }
        uint8_t iv[16] = {0};
        iv[0] = (uint8_t)r;
        const uint8_t *chain = iv;
        for (uint32_t b = 0; b < BLOCKS; b++) {     /* CBC encryption */
            for (unsigned i = 0; i < 16; i++)
                block[i] = plain[16 * b + i] ^ chain[i];
            encrypt(rk, block, cipher + 16 * b);
            chain = cipher + 16 * b;
        }
        chain = iv;
        for (uint32_t b = 0; b < BLOCKS; b++) {     /* CBC decryption */
            decrypt(rk, cipher + 16 * b, block);
            for (unsigned i = 0; i < 16; i++)
                back[16 * b + i] = block[i] ^ chain[i];
            chain = cipher + 16 * b;
        }
        if (!bp_equal(back, plain, sizeof plain))
            return 5;
        if (bp_equal(cipher, plain, 16))
            return 6;
    }
    return 0;
}
