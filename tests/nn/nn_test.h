/* nn_test.h - small helpers shared by the tests of lib/nn. */
#ifndef M2T_TESTS_NN_TEST_H
#define M2T_TESTS_NN_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nn_test_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            nn_test_failures++;                                                  \
        }                                                                        \
    } while (0)

/* For setup steps the rest of a test cannot do without. */
#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

static inline void *test_alloc(size_t floats)
{
    float *p = calloc(floats ? floats : 1, sizeof(float));
    REQUIRE(p != NULL);
    return p;
}

/* Deterministic pseudo-random floats in [-1, 1) (xorshift64*). */
typedef struct {
    uint64_t state;
} test_rng;

static inline float rng_float(test_rng *r)
{
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    uint64_t v = r->state * 0x2545F4914F6CDD1DULL;
    return (float)(v >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static inline void rng_fill(test_rng *r, float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * rng_float(r);
}

static inline int bits_equal(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/*
 * Compares got with ref elementwise: |got - ref| <= tol * max(|ref|, floor).
 * floor < 0 means "the largest |ref|", i.e. errors relative to the tensor's
 * peak. Prints the worst absolute and relative (same denominator) errors
 * and returns the worst relative one.
 */
static inline double check_close(const char *name, const float *got, const float *ref, size_t n,
                                 double tol, double floor)
{
    double peak = 0.0;
    for (size_t i = 0; i < n; i++)
        peak = fmax(peak, fabs((double)ref[i]));
    if (floor < 0.0)
        floor = peak;
    double max_abs = 0.0, max_rel = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double rel = d / fmax(fmax(fabs((double)ref[i]), floor), 1e-30);
        if (!(d == d) || !(rel <= max_rel)) {   /* NaN counts as the worst */
            max_rel = d == d ? rel : INFINITY;
            worst = i;
        }
        max_abs = fmax(max_abs, d);
    }
    int ok = max_rel <= tol;
    printf("%-28s n=%-6zu peak %-10.4g max abs err %-10.3g max rel err %-10.3g (tol %.0e)%s\n",
           name, n, peak, max_abs, max_rel, tol, ok ? "" : "  FAILED");
    if (!ok) {
        fprintf(stderr, "  %s[%zu]: got %.9g, expected %.9g\n", name, worst, got[worst],
                ref[worst]);
        nn_test_failures++;
    }
    return max_rel;
}

static inline int test_finish(const char *name)
{
    if (nn_test_failures) {
        fprintf(stderr, "%s: %d failure(s)\n", name, nn_test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
