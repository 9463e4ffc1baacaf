/* rans.c - rANS encoder (buffered, reverse order) and decoder. See rans.h. */
#include "entropy/rans.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_SYMBOL_CAPACITY 1024

void m2t_rans_encoder_init(m2t_rans_encoder *enc)
{
    memset(enc, 0, sizeof(*enc));
}

void m2t_rans_encoder_free(m2t_rans_encoder *enc)
{
    free(enc->symbols);
    free(enc->bytes);
    m2t_rans_encoder_init(enc);
}

void m2t_rans_encoder_reset(m2t_rans_encoder *enc)
{
    enc->count = 0;
}

m2t_error m2t_rans_encoder_grow_(m2t_rans_encoder *enc)
{
    size_t capacity = INITIAL_SYMBOL_CAPACITY, bytes;
    if ((enc->capacity != 0 && m2t_mul_size(enc->capacity, 2, &capacity) != 0) ||
        m2t_mul_size(capacity, sizeof(*enc->symbols), &bytes) != 0)
        return M2T_ERROR_NO_MEMORY;
    m2t_rans_symbol *symbols = realloc(enc->symbols, bytes);
    if (!symbols)
        return M2T_ERROR_NO_MEMORY;
    enc->symbols = symbols;
    enc->capacity = capacity;
    return M2T_OK;
}

m2t_error m2t_rans_encoder_put_bits(m2t_rans_encoder *enc, uint32_t value, unsigned nbits)
{
    if (nbits > M2T_RANS_MAX_SCALE_BITS || value >> nbits != 0)
        return M2T_ERROR_INVALID_ARGUMENT;
    if (nbits == 0)
        return M2T_OK;   /* a one-symbol alphabet carries no information */
    return m2t_rans_encoder_put(enc, value, 1, nbits);
}

/* Makes room for the largest possible output of `symbols` symbols. */
static m2t_error reserve_output(m2t_rans_encoder *enc, size_t symbols)
{
    /* Each symbol emits at most one 16-bit word (see rans.h). */
    size_t needed;
    if (m2t_mul_size(symbols, 2, &needed) != 0 || needed > SIZE_MAX - M2T_RANS_STATE_BYTES)
        return M2T_ERROR_NO_MEMORY;
    needed += M2T_RANS_STATE_BYTES;
    if (needed <= enc->bytes_capacity)
        return M2T_OK;
    uint8_t *bytes = realloc(enc->bytes, needed);
    if (!bytes)
        return M2T_ERROR_NO_MEMORY;
    enc->bytes = bytes;
    enc->bytes_capacity = needed;
    return M2T_OK;
}

/*
 * Encodes one symbol into state *x; a renormalisation word, if any, is stored
 * just below *out, which moves down: the stream is written back to front, so
 * the decoder reads words in the opposite order of their emission.
 */
static inline void encode_symbol(uint32_t *x, const m2t_rans_symbol *sym, uint8_t **out)
{
    uint32_t freq = (uint32_t)sym->freq_minus_one + 1;
    unsigned scale_bits = sym->scale_bits;
    /* 64 bits: x_max = 2^32 when freq = 2^scale_bits (never renormalises). */
    uint64_t x_max = ((uint64_t)(M2T_RANS_L >> scale_bits) << M2T_RANS_WORD_BITS) * freq;
    uint32_t state = *x;
    if (state >= x_max) {   /* at most once: state < 2^32 and x_max >= 2^16 */
        *out -= 2;
        (*out)[0] = (uint8_t)state;
        (*out)[1] = (uint8_t)(state >> 8);
        state >>= M2T_RANS_WORD_BITS;
    }
    *x = ((state / freq) << scale_bits) + state % freq + sym->start;
}

m2t_error m2t_rans_encoder_finish(m2t_rans_encoder *enc, const uint8_t **data, size_t *size)
{
    M2T_TRY(reserve_output(enc, enc->count));
    uint8_t *end = enc->bytes + enc->bytes_capacity;
    uint8_t *out = end;
    uint32_t x = M2T_RANS_L;
    for (size_t i = enc->count; i-- > 0;)
        encode_symbol(&x, &enc->symbols[i], &out);
    out -= M2T_RANS_STATE_BYTES;
    m2t_store_le32(out, x);
    *data = out;
    *size = (size_t)(end - out);
    return M2T_OK;
}

m2t_error m2t_rans_decoder_init(m2t_rans_decoder *dec, const void *data, size_t size)
{
    memset(dec, 0, sizeof(*dec));
    dec->data = data;
    dec->size = size;
    dec->state = M2T_RANS_L;
    if (size < M2T_RANS_STATE_BYTES) {
        dec->pos = size;
        dec->error = M2T_ERROR_BITSTREAM_TRUNCATED;
        return dec->error;
    }
    dec->pos = M2T_RANS_STATE_BYTES;
    uint32_t stored = m2t_load_le32(dec->data);
    if (stored < M2T_RANS_L) {
        dec->error = M2T_ERROR_BITSTREAM_CORRUPT;
        return dec->error;
    }
    dec->state = stored;
    return M2T_OK;
}

m2t_error m2t_rans_decoder_finish(const m2t_rans_decoder *dec)
{
    if (dec->error != M2T_OK)
        return dec->error;
    if (dec->state != M2T_RANS_L || dec->pos != dec->size)
        return M2T_ERROR_BITSTREAM_CORRUPT;
    return M2T_OK;
}
