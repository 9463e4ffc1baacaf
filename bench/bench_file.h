/* bench_file.h - whole-file reading for the benchmark programs. */
#ifndef M2T_BENCH_FILE_H
#define M2T_BENCH_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads all of path into a malloc()ed buffer; 0 on success, -1 otherwise
 * (including an empty or unreadable file). */
static inline int bench_read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    *data = n > 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n) : NULL;
    int ok = *data && fread(*data, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(*data);
        *data = NULL;
        return -1;
    }
    *size = (size_t)n;
    return 0;
}

#endif
