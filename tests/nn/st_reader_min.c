/* st_reader_min.c - stand-in for lib/model/safetensors.c in the nn tests.
 *
 * The parity test reads tests/ref/nn_ref.safetensors through the library's
 * reader API (lib/model/safetensors.h). While lib/model/safetensors.c does
 * not exist yet, tests/nn/meson.build compiles this file instead: the subset
 * of that API the test uses (open, close, find, load_f32), float32 only,
 * with enough checking for a file we wrote ourselves. Once the library's
 * reader is in the tree it is used and this file can be deleted. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

struct m2t_st_file {
    uint8_t *bytes;
    size_t size;
    m2t_st_tensor *tensors;
    size_t count;
};

static m2t_error read_whole_file(const char *path, uint8_t **bytes, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return M2T_ERROR_IO;
    m2t_error err = M2T_ERROR_IO;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        *bytes = malloc((size_t)n + 1);
        if (!*bytes)
            err = M2T_ERROR_NO_MEMORY;
        else if (fread(*bytes, 1, (size_t)n, f) == (size_t)n) {
            *size = (size_t)n;
            err = M2T_OK;
        } else {
            free(*bytes);
        }
    }
    fclose(f);
    return err;
}

/* One header entry {dtype, shape, data_offsets} -> t; data starts at base. */
static m2t_error parse_tensor(const char *name, json_t *h, const uint8_t *base, size_t data_size,
                              m2t_st_tensor *t)
{
    json_t *shape = json_object_get(h, "shape"), *offsets = json_object_get(h, "data_offsets");
    const char *dtype = json_string_value(json_object_get(h, "dtype"));
    if (!dtype || strcmp(dtype, "F32") != 0 || !json_is_array(shape) ||
        json_array_size(shape) > M2T_ST_MAX_DIMS || json_array_size(offsets) != 2)
        return M2T_ERROR_MODEL_CORRUPT;
    t->dtype = M2T_ST_F32;
    t->ndim = (int)json_array_size(shape);
    t->count = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_int_t d = json_integer_value(json_array_get(shape, (size_t)i));
        if (d < 0 || d > (1 << 30))
            return M2T_ERROR_MODEL_CORRUPT;
        t->shape[i] = d;
        t->count *= (size_t)d;
    }
    json_int_t begin = json_integer_value(json_array_get(offsets, 0));
    json_int_t end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < begin || (size_t)end > data_size ||
        (size_t)(end - begin) != t->count * sizeof(float))
        return M2T_ERROR_MODEL_CORRUPT;
    t->data = base + begin;
    t->nbytes = (size_t)(end - begin);
    t->name = strdup(name);
    return t->name ? M2T_OK : M2T_ERROR_NO_MEMORY;
}

static m2t_error parse_header(m2t_st_file *f)
{
    if (f->size < 8)
        return M2T_ERROR_MODEL_CORRUPT;
    uint64_t header_len = m2t_load_le64(f->bytes);
    if (header_len > f->size - 8)
        return M2T_ERROR_MODEL_CORRUPT;
    json_t *root = json_loadb((const char *)f->bytes + 8, (size_t)header_len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return M2T_ERROR_MODEL_CORRUPT;
    }
    const uint8_t *base = f->bytes + 8 + header_len;
    const size_t data_size = f->size - 8 - (size_t)header_len;
    f->tensors = calloc(json_object_size(root) + 1, sizeof *f->tensors);
    m2t_error err = f->tensors ? M2T_OK : M2T_ERROR_NO_MEMORY;
    const char *name;
    json_t *h;
    json_object_foreach(root, name, h) {
        if (err != M2T_OK || strcmp(name, "__metadata__") == 0)
            continue;
        err = parse_tensor(name, h, base, data_size, &f->tensors[f->count]);
        if (err == M2T_OK)
            f->count++;
    }
    json_decref(root);
    return err;
}

m2t_error m2t_st_open(const char *path, m2t_st_file **out)
{
    m2t_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return M2T_ERROR_NO_MEMORY;
    m2t_error err = read_whole_file(path, &f->bytes, &f->size);
    if (err == M2T_OK)
        err = parse_header(f);
    if (err != M2T_OK) {
        m2t_st_close(f);
        return err;
    }
    *out = f;
    return M2T_OK;
}

void m2t_st_close(m2t_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->bytes);
    free(f);
}

const m2t_st_tensor *m2t_st_find(const m2t_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

m2t_error m2t_st_read_f32(const m2t_st_file *f, const char *name, int ndim,
                          const int64_t *shape, float *out)
{
    const m2t_st_tensor *t = m2t_st_find(f, name);
    if (!t || t->ndim != ndim)
        return M2T_ERROR_MODEL_CORRUPT;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return M2T_ERROR_MODEL_CORRUPT;
    for (size_t i = 0; i < t->count; i++)   /* little-endian file, any host */
        out[i] = ((union { uint32_t u; float f; }){.u = m2t_load_le32(t->data + 4 * i)}).f;
    return M2T_OK;
}

m2t_error m2t_st_load_f32(const m2t_st_file *f, const char *name, int ndim,
                          const int64_t *shape, float **out)
{
    const m2t_st_tensor *t = m2t_st_find(f, name);
    if (!t)
        return M2T_ERROR_MODEL_CORRUPT;
    float *buf = m2t_malloc_array(t->count, sizeof *buf);
    if (!buf)
        return M2T_ERROR_NO_MEMORY;
    m2t_error err = m2t_st_read_f32(f, name, ndim, shape, buf);
    if (err != M2T_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    return M2T_OK;
}
