/* CRC-32 (ISO-HDLC / IEEE 802.3: reflected polynomial 0xEDB88320, initial and final
 * value 0xFFFFFFFF), table-driven, one byte per step (short blocks).  Known answers from
 * the CRC RevEng catalogue ("CRC-32/ISO-HDLC"): check = 0xCBF43926 over "123456789",
 * residue: the CRC of a message followed by its own CRC (little-endian) is 0x2144DF1C.
 * Each rep: the check string, then a 64 KiB pseudo-random buffer with its CRC appended,
 * whose CRC must be the residue; the table is checked against a bitwise CRC. */
#include "program.h"

const uint32_t program_default_reps = 450;

#define BUF (64u * 1024u)

static uint32_t table[256];
static uint8_t buf[BUF + 4];
/* the check string: writable and of external linkage, so that no compiler folds its CRC at
 * compile time (clang does for a static const array) and it stays in the image, where
 * tests/bench corrupt it to see the check fail */
uint8_t crc32_check[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static uint32_t crc_table(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (n--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t program_run(uint32_t reps)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        table[i] = c;
    }
    const uint8_t *check = crc32_check;
    if (crc_bitwise(check, 9) != 0xCBF43926u)
        return 1;
    uint32_t seed = 0x12345678u;
    for (uint32_t i = 0; i < BUF; i++)
        buf[i] = (uint8_t)(bp_rand(&seed) >> 24);
    if (crc_bitwise(buf, 4096) != crc_table(buf, 4096))
        return 2;
    for (uint32_t r = 0; r < reps; r++) {
        if (crc_table(check, 9) != 0xCBF43926u)
            return 3;
        buf[r % BUF] ^= (uint8_t)r;                 /* a different message each rep */
        uint32_t crc = crc_table(buf, BUF);
        for (int k = 0; k < 4; k++)
            buf[BUF + k] = (uint8_t)(crc >> (8 * k));
        if (crc_table(buf, BUF + 4) != 0x2144DF1Cu)
            return 4;
    }
    return 0;
}
