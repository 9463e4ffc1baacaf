/* image_test.h - the little the image tests share: checks that count
 * failures and go on, test images, whole-file reading. */
#ifndef M2T_IMAGE_TEST_H
#define M2T_IMAGE_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2t.h"

/* meson counts a test that exits with 77 as skipped. */
#define TEST_SKIP 77

static int test_failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures++;                                                        \
        }                                                                           \
    } while (0)

/* Checks that expr returns the error code want; `what` names the case. */
#define CHECK_ERR(what, expr, want)                                                    \
    do {                                                                               \
        m2t_error got_ = (expr);                                                       \
        if (got_ != (want)) {                                                          \
            fprintf(stderr, "%s:%d: %s: %s gave \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, (what), #expr, m2t_error_name(got_), m2t_error_name(want)); \
            test_failures++;                                                           \
        }                                                                              \
    } while (0)

static inline int test_result(const char *name)
{
    if (test_failures != 0)
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
    else
        printf("%s: all checks passed\n", name);
    return test_failures != 0;
}

/* An image whose pixels follow a fixed pseudo-random sequence (an LCG), so
 * that compressors cannot cheat and failures are reproducible. */
static inline m2t_image make_test_image(uint32_t width, uint32_t height, uint32_t channels,
                                        uint32_t seed)
{
    m2t_image img = {width, height, channels, NULL};
    const size_t n = (size_t)width * height * channels;
    img.pixels = malloc(n);
    if (img.pixels == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        img.pixels[i] = (uint8_t)(state >> 24);
    }
    return img;
}

static inline int same_image(const m2t_image *a, const m2t_image *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           memcmp(a->pixels, b->pixels, (size_t)a->width * a->height * a->channels) == 0;
}

/* Reads a whole file; NULL if it cannot. */
static inline uint8_t *read_whole_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *data = NULL;
    size_t used = 0, capacity = 0;
    for (;;) {
        if (used == capacity) {
            capacity = capacity ? 2 * capacity : 65536;
            uint8_t *grown = realloc(data, capacity);
            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + used, 1, capacity - used, f);
        used += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        return NULL;
    }
    *size = used;
    return data;
}

#endif
