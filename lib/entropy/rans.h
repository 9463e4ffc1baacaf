/*
 * rans.h - range asymmetric numeral system (rANS) coder with a 32-bit state
 * and 16-bit renormalisation.
 *
 * Coding model
 * ------------
 * A symbol is a sub-interval [start, start + freq) of [0, 2^scale_bits), with
 *     0 <= scale_bits <= 16,  1 <= freq,  start + freq <= 2^scale_bits.
 * Every symbol carries its own scale, so adaptive models (one distribution per
 * symbol) and raw "bypass" bits (freq 1, scale n) mix freely in one stream.
 *
 * The state x is a uint32_t kept in [L, 2^32) between symbols, L = 2^16.
 *
 * Encoding one symbol (symbols are encoded in REVERSE order, last first,
 * starting from x = L):
 *     x_max = ((L >> scale_bits) << 16) * freq        (= 2^(32 - scale_bits) * freq)
 *     while (x >= x_max) { emit the 16-bit word x & 0xffff; x >>= 16; }
 *     x = ((x / freq) << scale_bits) + x % freq + start
 * (x_max is computed in 64 bits: it reaches 2^32 when freq = 2^scale_bits.
 * The loop runs at most once, since x < 2^32 and x_max >= 2^16.)
 *
 * Decoding one symbol (in forward order):
 *     slot = x & (2^scale_bits - 1)             -> find the symbol holding slot
 *     x = freq * (x >> scale_bits) + slot - start
 *     while (x < L) x = (x << 16) | next 16-bit word
 *
 * Byte layout of a stream
 * -----------------------
 *     bytes 0..3   the encoder's final state, little-endian (always >= L)
 *     bytes 4..    the emitted 16-bit words, each little-endian, in the order
 *                  the decoder reads them (the reverse of the encoder's
 *                  emission order)
 * An empty stream (no symbols) is the 4 bytes 00 00 01 00 (x = L).
 *
 * Integrity: decoding every symbol brings the state back to exactly L, having
 * read exactly every byte; m2t_rans_decoder_finish() checks both. A stream
 * that was truncated or extended always fails this check, an altered one
 * fails it or decodes to other symbols (decoding is the exact inverse of
 * encoding), and the decoder never reads outside the caller's buffer.
 *
 * Efficiency: the stream exceeds the ideal code length, sum -log2(freq /
 * 2^scale_bits), by the 32 bits of the final state plus a fraction of a
 * percent (L = 2^16 leaves the state as little precision as a 16-bit scale
 * needs: measured 0.1-0.3% for skewed distributions at scale 16).
 */
#ifndef M2T_RANS_H
#define M2T_RANS_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define M2T_RANS_L (1u << 16)           /* lower bound of the normalised state */
#define M2T_RANS_WORD_BITS 16           /* renormalisation unit */
#define M2T_RANS_MAX_SCALE_BITS 16      /* largest scale_bits of a symbol */
#define M2T_RANS_STATE_BYTES 4          /* size of the stream header */

/* One buffered symbol; start + freq <= 2^16, so both fit 16 bits as stored. */
typedef struct {
    uint16_t start;
    uint16_t freq_minus_one;
    uint8_t scale_bits;
} m2t_rans_symbol;

/*
 * Encoder. rANS encodes backwards, so put() only records symbols, in the
 * order the decoder will read them, and finish() encodes them all in reverse.
 * Zero-initialise with m2t_rans_encoder_init(); release with _free().
 */
typedef struct {
    m2t_rans_symbol *symbols;  /* recorded symbols, decode order */
    size_t count;
    size_t capacity;
    uint8_t *bytes;            /* output of the last finish() */
    size_t bytes_capacity;
} m2t_rans_encoder;

void m2t_rans_encoder_init(m2t_rans_encoder *enc);
/* Releases all memory; the encoder may be initialised again. */
void m2t_rans_encoder_free(m2t_rans_encoder *enc);
/* Forgets the recorded symbols but keeps the memory, for the next stream. */
void m2t_rans_encoder_reset(m2t_rans_encoder *enc);

/* Out-of-line part of m2t_rans_encoder_put(): grows the symbol buffer. */
m2t_error m2t_rans_encoder_grow_(m2t_rans_encoder *enc);

/*
 * Records a symbol. M2T_ERROR_INVALID_ARGUMENT if it breaks the rules above
 * (nothing recorded), M2T_ERROR_NO_MEMORY if the buffer cannot grow.
 */
static inline m2t_error m2t_rans_encoder_put(m2t_rans_encoder *enc, uint32_t start,
                                             uint32_t freq, unsigned scale_bits)
{
    if (scale_bits > M2T_RANS_MAX_SCALE_BITS || freq == 0 ||
        start + (uint64_t)freq > (1u << scale_bits))
        return M2T_ERROR_INVALID_ARGUMENT;
    if (enc->count == enc->capacity)
        M2T_TRY(m2t_rans_encoder_grow_(enc));
    m2t_rans_symbol *sym = &enc->symbols[enc->count++];
    sym->start = (uint16_t)start;
    sym->freq_minus_one = (uint16_t)(freq - 1);
    sym->scale_bits = (uint8_t)scale_bits;
    return M2T_OK;
}

/*
 * Records nbits (0..16) raw bits: value < 2^nbits as the symbol
 * (start = value, freq = 1, scale_bits = nbits). nbits = 0 codes nothing.
 */
m2t_error m2t_rans_encoder_put_bits(m2t_rans_encoder *enc, uint32_t value, unsigned nbits);

/*
 * Encodes every recorded symbol and returns the stream. *data points into the
 * encoder and stays valid until the next put, reset, finish or free. The
 * recorded symbols are kept: finish() may be called again after more puts.
 * At most 4 + 2 * (number of symbols) bytes.
 */
m2t_error m2t_rans_encoder_finish(m2t_rans_encoder *enc, const uint8_t **data, size_t *size);

/*
 * Decoder. Reads only inside [data, data + size). A problem (a word needed
 * past the end, a bad stored state) is recorded in `error` and decoding goes
 * on harmlessly with zero words; m2t_rans_decoder_finish() reports it.
 */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;        /* next byte to read */
    uint32_t state;
    m2t_error error;   /* first problem met; M2T_OK while all is well */
} m2t_rans_decoder;

/*
 * Starts decoding a stream. M2T_ERROR_BITSTREAM_TRUNCATED if size < 4,
 * M2T_ERROR_BITSTREAM_CORRUPT if the stored state is below L (an encoder
 * never produces one). The decoder is usable either way (its state is then
 * L) and the same error comes back from m2t_rans_decoder_finish().
 */
m2t_error m2t_rans_decoder_init(m2t_rans_decoder *dec, const void *data, size_t size);

/* The next symbol's slot in [0, 2^scale_bits): the caller finds the symbol
 * whose interval holds it, then calls m2t_rans_decoder_advance(). */
static inline uint32_t m2t_rans_decoder_peek(const m2t_rans_decoder *dec, unsigned scale_bits)
{
    return dec->state & ((1u << scale_bits) - 1);
}

/*
 * Consumes the symbol (start, freq, scale_bits) that holds the peeked slot.
 * Passing a symbol that does not hold the slot is a caller bug: the state
 * becomes garbage (unsigned arithmetic, no undefined behaviour) and the
 * stream fails m2t_rans_decoder_finish().
 */
static inline void m2t_rans_decoder_advance(m2t_rans_decoder *dec, uint32_t start,
                                            uint32_t freq, unsigned scale_bits)
{
    uint32_t mask = (1u << scale_bits) - 1;
    uint32_t x = dec->state;
    x = freq * (x >> scale_bits) + (x & mask) - start;
    /* A valid state needs one word at most. */
    while (x < M2T_RANS_L) {
        if (dec->size - dec->pos < 2) {
            /* Past the end: a zero word, and stop, lest a garbage state of 0
             * spin here forever. */
            if (dec->error == M2T_OK)
                dec->error = M2T_ERROR_BITSTREAM_TRUNCATED;
            x <<= M2T_RANS_WORD_BITS;
            break;
        }
        x = x << M2T_RANS_WORD_BITS | (uint32_t)dec->data[dec->pos] |
            (uint32_t)dec->data[dec->pos + 1] << 8;
        dec->pos += 2;
    }
    dec->state = x;
}

/* Reads nbits (0..16) raw bits written by m2t_rans_encoder_put_bits(). */
static inline uint32_t m2t_rans_decoder_get_bits(m2t_rans_decoder *dec, unsigned nbits)
{
    uint32_t value = m2t_rans_decoder_peek(dec, nbits);
    m2t_rans_decoder_advance(dec, value, 1, nbits);
    return value;
}

/*
 * After the last symbol: M2T_OK only if the stream ended exactly there with
 * the state back at L. Otherwise the error met on the way (see init), or
 * M2T_ERROR_BITSTREAM_TRUNCATED (a word was missing), or
 * M2T_ERROR_BITSTREAM_CORRUPT (wrong final state, bytes left over).
 */
m2t_error m2t_rans_decoder_finish(const m2t_rans_decoder *dec);

#endif
