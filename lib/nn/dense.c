/* dense.c - deterministic dense layers and layer normalisation (see dense.h).
 *
 * The kernel works on tiles of up to TILE_ROWS rows by TILE_COLS outputs whose
 * accumulators stay in vector registers for the whole k loop; each weight
 * row segment is loaded once per tile and used for all its rows. The tile
 * function is forced inline and called with constant sizes, so every call
 * site compiles to a fully unrolled kernel; the sizes only decide which
 * outputs are computed together, never the order of any output's additions.
 */
#include "nn/dense.h"

#include <math.h>
#include <string.h>

#include "nn/detmath.h"

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* A tile holds at most TILE_FLOATS accumulators: 16 AVX-512 registers.
 * Shapes (measured best): 8 rows x 32 columns; the last rows, in blocks of
 * 4, 2 and 1, take wider tiles (64, 128, 128) so that enough independent
 * additions are in flight. */
enum { TILE_ROWS = 8, TILE_FLOATS = 256 };

typedef enum { OUTPUT_STORE, OUTPUT_ADD } output_mode;

void m2t_dense_pack_weights(const float *weight, int in, int out, float *wt)
{
    for (int k = 0; k < in; k++)
        for (int n = 0; n < out; n++)
            wt[(size_t)k * out + n] = weight[(size_t)n * in + k];
}

/* Operands of one dense call: pointers and row strides in floats. */
typedef struct {
    const float *x;
    size_t ldx;
    const float *wt;
    size_t ldw;
    const float *bias;
    float *y;
    size_t ldy;
    int in;
    output_mode mode;
} dense_args;

/* rows x cols outputs from output column n of a's rows (a.x and a.y already
 * point at the tile's first row). */
static ALWAYS_INLINE void dense_tile(const dense_args *a, int n, int rows, int cols)
{
    const float *bias = a->bias ? a->bias + n : NULL;
    float acc[TILE_FLOATS];

    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            acc[r * cols + j] = bias ? bias[j] : 0.0f;

    for (int k = 0; k < a->in; k++) {
        const float *w = a->wt + (size_t)k * a->ldw + n;
        for (int r = 0; r < rows; r++) {
            const float xk = a->x[(size_t)r * a->ldx + k];
            for (int j = 0; j < cols; j++)
                acc[r * cols + j] = acc[r * cols + j] + xk * w[j];
        }
    }

    for (int r = 0; r < rows; r++) {
        float *yr = a->y + (size_t)r * a->ldy + n;
        if (a->mode == OUTPUT_ADD)
            for (int j = 0; j < cols; j++)
                yr[j] = yr[j] + acc[r * cols + j];
        else
            for (int j = 0; j < cols; j++)
                yr[j] = acc[r * cols + j];
    }
}

/* All the outputs of `rows` rows, in tiles `cols` wide (both constants at
 * each call site); a narrower tile finishes the row when out % cols != 0. */
static ALWAYS_INLINE void dense_row_block(const dense_args *a, int out, int rows, int cols)
{
    int n = 0;
    for (; n + cols <= out; n += cols)
        dense_tile(a, n, rows, cols);
    if (n < out)
        dense_tile(a, n, rows, out - n);
}

M2T_NN_CLONES
static void dense_run(dense_args a, int rows, int out)
{
    int r = 0;
    for (; r + TILE_ROWS <= rows; r += TILE_ROWS) {
        dense_row_block(&a, out, TILE_ROWS, TILE_FLOATS / TILE_ROWS);
        a.x += TILE_ROWS * a.ldx;
        a.y += TILE_ROWS * a.ldy;
    }
    /* Fewer than TILE_ROWS rows left: blocks of 4, 2 and 1 rows. */
    for (int block = TILE_ROWS / 2; block >= 1; block /= 2) {
        if (rows - r < block)
            continue;
        if (block == 4)
            dense_row_block(&a, out, 4, 64);
        else if (block == 2)
            dense_row_block(&a, out, 2, 128);
        else
            dense_row_block(&a, out, 1, 128);
        r += block;
        a.x += block * a.ldx;
        a.y += block * a.ldy;
    }
}

static void dense_dispatch(const float *x, size_t ldx, int rows, int in, const float *wt,
                           size_t ldw, const float *bias, int out, float *y, size_t ldy,
                           output_mode mode)
{
    dense_args a = {x, ldx, wt, ldw, bias, y, ldy, in, mode};
    dense_run(a, rows, out);
}

void m2t_dense_strided(const float *x, size_t ldx, int rows, int in, const float *wt,
                       size_t ldw, const float *bias, int out, float *y, size_t ldy)
{
    dense_dispatch(x, ldx, rows, in, wt, ldw, bias, out, y, ldy, OUTPUT_STORE);
}

void m2t_dense(const float *x, int rows, int in, const float *wt, const float *bias, int out,
               float *y)
{
    dense_dispatch(x, in, rows, in, wt, out, bias, out, y, out, OUTPUT_STORE);
}

void m2t_dense_add(const float *x, int rows, int in, const float *wt, const float *bias,
                   int out, float *y)
{
    dense_dispatch(x, in, rows, in, wt, out, bias, out, y, out, OUTPUT_ADD);
}

void m2t_dense_gelu(const float *x, int rows, int in, const float *wt, const float *bias,
                    int out, float *y)
{
    dense_dispatch(x, in, rows, in, wt, out, bias, out, y, out, OUTPUT_STORE);
    m2t_det_gelu_inplace(y, (size_t)rows * out);
}

/* Static and cloned behind the public name: see detmath.c's exp_array. */
M2T_NN_CLONES
static void add_arrays(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = y[i] + x[i];
}

void m2t_add_inplace(float *y, const float *x, size_t n)
{
    add_arrays(y, x, n);
}

/* One row: sequential sums, so the result does not depend on vector width. */
static void layernorm_row(const float *x, int dim, const float *gamma, const float *beta,
                          float *y)
{
    float sum = 0.0f;
    for (int i = 0; i < dim; i++)
        sum += x[i];
    const float mean = sum / (float)dim;

    float sq = 0.0f;
    for (int i = 0; i < dim; i++) {
        const float d = x[i] - mean;
        sq += d * d;
    }
    const float rstd = 1.0f / sqrtf(sq / (float)dim + M2T_LAYERNORM_EPS);

    for (int i = 0; i < dim; i++) {
        float v = (x[i] - mean) * rstd;
        if (gamma)
            v = v * gamma[i];
        if (beta)
            v = v + beta[i];
        y[i] = v;
    }
}

void m2t_layernorm(const float *x, int rows, int dim, const float *gamma, const float *beta,
                   float *y)
{
    for (int r = 0; r < rows; r++)
        layernorm_row(x + (size_t)r * dim, dim, gamma, beta, y + (size_t)r * dim);
}
