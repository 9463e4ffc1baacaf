/* portability_test.h - small helpers shared by the C tests of tests/portability. */
#ifndef M2T_TESTS_PORTABILITY_TEST_H
#define M2T_TESTS_PORTABILITY_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks failed so far (a function, so that tools using only read_file()
 * do not trip over an unused variable). */
static inline int *test_failures(void)
{
    static int failures;
    return &failures;
}

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ++*test_failures();                                                  \
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

static inline float *test_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
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

/* Whole file into memory (malloc()ed); NULL if it cannot be read. */
static inline uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *data = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        data = malloc(len ? (size_t)len : 1);
    if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = data ? (size_t)len : 0;
    return data;
}

#endif
