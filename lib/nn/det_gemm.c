/* det_gemm.c - the fixed-order matrix product (see det_gemm.h).
 *
 * Work is cut three ways, none of which touches the order of any output's
 * additions:
 *  - depth in blocks of DEPTH_BLOCK: the weights of one block (at most
 *    DEPTH_BLOCK x cols floats) stay in L2 while every row passes over them;
 *  - rows in blocks of TILE_ROWS, columns in tiles of TILE_COLS: one tile's
 *    accumulators live in vector registers for a whole depth block, each
 *    weight vector loaded once per tile and used for all its rows;
 *  - leftover rows in blocks of 8, 4, 2, 1 and a leftover column tile.
 * The tile function is forced inline and called with constant sizes, so
 * each call site compiles to a fully unrolled kernel.
 *
 * Shapes measured on an AVX-512 CPU for the analysis transform (depth 3200,
 * 128 columns): 12 x 32 tiles (24 of the 32 vector registers) and 640-deep
 * blocks give ~250 GFLOP/s on one core, 25% more than m2t_dense's 8 x 32
 * tiles over the whole depth.
 */
#include "nn/det_gemm.h"

#include "common/common.h"
#include "nn/detmath.h"

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/*
 * Sanitizers turn the tiles' register accumulators into checked memory and
 * stop vectorisation: the analysis ran 70 times slower under
 * -fsanitize=address,undefined, which made every test that compresses an
 * image crawl (OpenBLAS, which this kernel replaces, was never instrumented
 * either). So the tile loops are not instrumented, and instead
 * m2t_det_gemm_accumulate() touches the first and last float of each operand
 * in instrumented code: the kernel reads and writes nothing outside those
 * ranges, so AddressSanitizer still sees an operand that is too short.
 */
#if defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__))
#define NOT_SANITIZED __attribute__((no_sanitize("address", "undefined")))
#else
#define NOT_SANITIZED
#endif

enum { TILE_ROWS = 12, TILE_COLS = 32, DEPTH_BLOCK = 640 };

/* One depth block of the product: x and wt already point at its first k. */
typedef struct {
    const float *x;
    size_t ldx;
    const float *wt;
    int cols;   /* row stride of wt and y */
    int depth;
    float *y;
} gemm_block;

/* rows x cols outputs starting at row `row`, column `col`. */
NOT_SANITIZED static ALWAYS_INLINE void gemm_tile(const gemm_block *b, int row, int col, int rows,
                                                  int cols)
{
    const float *x = b->x + (size_t)row * b->ldx;
    float *y = b->y + (size_t)row * b->cols + col;
    float acc[TILE_ROWS * TILE_COLS];

    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            acc[r * cols + j] = y[(size_t)r * b->cols + j];

    for (int k = 0; k < b->depth; k++) {
        const float *w = b->wt + (size_t)k * b->cols + col;
        for (int r = 0; r < rows; r++) {
            const float xk = x[(size_t)r * b->ldx + k];
            for (int j = 0; j < cols; j++)
                acc[r * cols + j] = acc[r * cols + j] + xk * w[j];
        }
    }

    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            y[(size_t)r * b->cols + j] = acc[r * cols + j];
}

/* All columns of `rows` rows from `row`; rows is a constant at each call
 * site, the last tile is narrower when cols % TILE_COLS != 0. */
NOT_SANITIZED static ALWAYS_INLINE void gemm_rows(const gemm_block *b, int row, int rows)
{
    int col = 0;
    for (; col + TILE_COLS <= b->cols; col += TILE_COLS)
        gemm_tile(b, row, col, rows, TILE_COLS);
    if (col < b->cols)
        gemm_tile(b, row, col, rows, b->cols - col);
}

M2T_NN_CLONES NOT_SANITIZED
static void gemm_depth_block(gemm_block b, int rows)
{
    int row = 0;
    for (; row + TILE_ROWS <= rows; row += TILE_ROWS)
        gemm_rows(&b, row, TILE_ROWS);
    if (rows - row >= 8) {
        gemm_rows(&b, row, 8);
        row += 8;
    }
    if (rows - row >= 4) {
        gemm_rows(&b, row, 4);
        row += 4;
    }
    if (rows - row >= 2) {
        gemm_rows(&b, row, 2);
        row += 2;
    }
    if (rows - row >= 1)
        gemm_rows(&b, row, 1);
}

/* Reads the first and last float of every range the kernel touches, in
 * instrumented code (see NOT_SANITIZED); the volatile sink keeps the
 * compiler from dropping the reads. */
static void touch_operand_ends(const float *x, size_t ldx, int rows, int depth, const float *wt,
                               int cols, const float *y)
{
    volatile float sink;
    sink = x[0];
    sink = x[(size_t)(rows - 1) * ldx + (size_t)(depth - 1)];
    sink = wt[0];
    sink = wt[(size_t)depth * cols - 1];
    sink = y[0];
    sink = y[(size_t)rows * cols - 1];
    (void)sink;
}

void m2t_det_gemm_accumulate(const float *x, size_t ldx, int rows, int depth, const float *wt,
                             int cols, float *y)
{
    if (rows <= 0 || depth <= 0 || cols <= 0)
        return;
    touch_operand_ends(x, ldx, rows, depth, wt, cols, y);
    /* Blocks in ascending k: each output continues its sum where the
     * previous block left it. */
    for (int k0 = 0; k0 < depth; k0 += DEPTH_BLOCK) {
        gemm_block b = {x + k0, ldx, wt + (size_t)k0 * cols, cols,
                        M2T_MIN(DEPTH_BLOCK, depth - k0), y};
        gemm_depth_block(b, rows);
    }
}
