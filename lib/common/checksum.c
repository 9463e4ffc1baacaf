/* checksum.c - CRC-32 (latents, headers) and FNV-1a 64 (model identity). */
#include <zlib.h>

#include "common.h"

uint32_t m2t_crc32(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    /* zlib takes uInt lengths: feed huge buffers in pieces. */
    while (size > 0) {
        uInt chunk = size > (1u << 30) ? (1u << 30) : (uInt)size;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        size -= chunk;
    }
    return crc;
}

uint64_t m2t_fnv1a64(uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
