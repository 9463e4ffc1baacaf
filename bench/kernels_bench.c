/* kernels_bench - the entropy model's deterministic dense kernel against
 * OpenBLAS cblas_sgemm on the shapes the transformer runs (one thread).
 *
 *   kernels_bench [SECONDS_PER_SHAPE]
 *
 * Rows are the tokens fed in one M2T step (1 .. 45 for the default schedule,
 * 256 for MT); (in, out) are the qkv, proj, fc1, fc2 and head products of a
 * d = 128 model with C = 128 and K = 3. Prints one JSON object per shape
 * with both GFLOP/s and their ratio (deterministic / sgemm).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nn/dense.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *random_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

/* Calls run() until `seconds` pass; returns GFLOP/s. */
static double rate(void (*run)(void *), void *arg, double flops, double seconds)
{
    long calls = 0;
    double t0 = now(), t;
    do {
        run(arg);
        calls++;
    } while ((t = now() - t0) < seconds);
    return flops * calls / t / 1e9;
}

typedef struct {
    int rows, in, out;
    float *x, *w, *wt, *b, *y;
} shape;

static void run_dense(void *arg)
{
    shape *s = arg;
    m2t_dense(s->x, s->rows, s->in, s->wt, s->b, s->out, s->y);
}

/* The OpenBLAS equivalent: y = x W^T + b (bias copied in, beta = 1). */
static void run_sgemm(void *arg)
{
    shape *s = arg;
    for (int r = 0; r < s->rows; r++)
        for (int n = 0; n < s->out; n++)
            s->y[(size_t)r * s->out + n] = s->b[n];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->rows, s->out, s->in, 1.0f, s->x,
                s->in, s->w, s->in, 1.0f, s->y, s->out);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    static const int rows[] = {1, 4, 16, 45, 256};
    static const int dims[][2] = {{128, 384}, {128, 128}, {128, 512}, {512, 128}, {128, 1152}};
    openblas_set_num_threads(1);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            shape s = {rows[r], dims[d][0], dims[d][1], NULL, NULL, NULL, NULL, NULL};
            s.x = random_floats((size_t)s.rows * s.in);
            s.w = random_floats((size_t)s.in * s.out);
            s.wt = malloc((size_t)s.in * s.out * sizeof(float));
            s.b = random_floats((size_t)s.out);
            s.y = malloc((size_t)s.rows * s.out * sizeof(float));
            m2t_dense_pack_weights(s.w, s.in, s.out, s.wt);
            double flops = 2.0 * s.rows * s.in * s.out;
            double det = rate(run_dense, &s, flops, seconds);
            double blas = rate(run_sgemm, &s, flops, seconds);
            printf("{\"rows\":%d,\"in\":%d,\"out\":%d,\"deterministic_gflops\":%.1f,"
                   "\"sgemm_gflops\":%.1f,\"ratio\":%.2f}\n",
                   s.rows, s.in, s.out, det, blas, det / blas);
            free(s.x);
            free(s.w);
            free(s.wt);
            free(s.b);
            free(s.y);
        }
    return 0;
}
