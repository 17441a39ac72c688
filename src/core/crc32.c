/* CRC-32 (IEEE 802.3, the zlib/PNG one): reflected polynomial 0xEDB88320,
 * initial value and final xor 0xFFFFFFFF. Incremental: start with crc = 0 and
 * feed the result back in, al_crc32(al_crc32(0, a, n), b, m) == CRC of a||b.
 * Table-driven, one byte per step; the table is built once on first use. */
#include "core/core.h"

#include <pthread.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t al_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = crc ^ 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
