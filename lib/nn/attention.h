/* attention.h - deterministic multi-head attention over a key/value cache.
 *
 * The entropy model decodes a patch group by group: each step appends the
 * keys and values of its tokens to a cache and lets its queries attend to
 * everything cached. The encoder may instead run all tokens at once with a
 * block-triangular mask; both give the same bits, because a masked key
 * contributes an exact 0 to every sum (see m2t_attention).
 *
 * Per head h, with d = head_dim and t over the cached keys in order:
 *   s_t  = (sum_{i ascending} q_i k_{t,i}) * (1 / sqrtf(d)) + mask_t
 *   p    = softmax(s)                       (m2t_det_softmax: own exp)
 *   o_i  = sum_{t ascending} p_t v_{t,i}
 * Every sum starts from 0 and runs in the order shown; no BLAS, no FMA.
 *
 * Layouts (floats):
 *   q, k, v rows: [rows][heads * head_dim], head h at columns h*d .. h*d+d-1
 *                 (PyTorch's view(b, t, heads, d)), each row `ld` apart, so
 *                 the three thirds of a fused qkv output can be passed as is.
 *   cache keys:   [heads][head_dim][capacity], transposed so that one query's
 *                 scores vectorise across keys.
 *   cache values: [heads][capacity][head_dim].
 *   output:       [rows][heads * head_dim], contiguous.
 */
#ifndef M2T_NN_ATTENTION_H
#define M2T_NN_ATTENTION_H

#include <stddef.h>

#include "common/common.h"

typedef struct {
    int heads;
    int head_dim;
    int capacity;   /* keys it has room for */
    int length;     /* keys it holds */
    float *keys;    /* [heads][head_dim][capacity] */
    float *values;  /* [heads][capacity][head_dim] */
} m2t_kv_cache;

/* Floats of storage a cache needs: 2 * heads * head_dim * capacity. */
size_t m2t_kv_cache_floats(int heads, int head_dim, int capacity);

/* Sets up an empty cache on caller-owned storage of m2t_kv_cache_floats()
 * floats (the cache does not own it and never frees it). */
m2t_error m2t_kv_cache_init(m2t_kv_cache *cache, int heads, int head_dim, int capacity,
                            float *storage);

/* Forgets every key (length = 0), keeping the storage. */
void m2t_kv_cache_reset(m2t_kv_cache *cache);

/* Appends `rows` keys and values, k and v as [rows][heads * head_dim] with
 * rows `ld` floats apart. M2T_ERROR_INVALID_ARGUMENT if they do not fit. */
m2t_error m2t_kv_cache_append(m2t_kv_cache *cache, const float *k, const float *v, int rows,
                              size_t ld);

/* Scratch, in floats, m2t_attention() needs with this cache. */
size_t m2t_attention_scratch_floats(const m2t_kv_cache *cache);

/*
 * out[rows][heads * head_dim] = attention of `rows` queries (q, rows ldq
 * floats apart) over the cache's `length` keys.
 * mask: NULL for none, else an additive mask, row r at mask + r * mask_ld,
 * entries 0 .. length-1 used; -INFINITY removes a key. A query whose every
 * key is removed gets an all-zero output (not NaN). A removed key adds
 * exactly +0 to the output, so appending keys that every query masks out
 * changes no bit of the result.
 * out must not overlap q or the cache.
 */
m2t_error m2t_attention(const m2t_kv_cache *cache, const float *q, int rows, size_t ldq,
                        const float *mask, size_t mask_ld, float *out, float *scratch,
                        size_t scratch_floats);

#endif
