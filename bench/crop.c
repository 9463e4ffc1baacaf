/* m2t-crop - cut the centre of an image: the 768x512 load-test photo.
 *
 *   m2t-crop IN.png WIDTHxHEIGHT OUT.png
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_file.h"
#include "m2t.h"

int main(int argc, char **argv)
{
    unsigned w, h;
    if (argc != 4 || sscanf(argv[2], "%ux%u", &w, &h) != 2) {
        fprintf(stderr, "usage: m2t-crop IN WIDTHxHEIGHT OUT.png\n");
        return 2;
    }
    uint8_t *data;
    void *png;
    size_t size, png_size;
    m2t_image in = {0};
    if (bench_read_file(argv[1], &data, &size) != 0 ||
        m2t_image_decode(data, size, 0, &in) != M2T_OK) {
        fprintf(stderr, "m2t-crop: cannot read %s\n", argv[1]);
        return 1;
    }
    free(data);
    if (w > in.width || h > in.height) {
        fprintf(stderr, "m2t-crop: %s is only %ux%u\n", argv[1], in.width, in.height);
        return 1;
    }
    m2t_image out = {w, h, in.channels, malloc((size_t)w * h * in.channels)};
    unsigned x0 = (in.width - w) / 2, y0 = (in.height - h) / 2;
    for (unsigned y = 0; out.pixels && y < h; y++)
        memcpy(out.pixels + (size_t)y * w * in.channels,
               in.pixels + ((size_t)(y0 + y) * in.width + x0) * in.channels, (size_t)w * in.channels);
    int rc = out.pixels && m2t_image_encode_png(&out, &png, &png_size) == M2T_OK ? 0 : 1;
    if (rc == 0) {
        FILE *f = fopen(argv[3], "wb");
        rc = !f || fwrite(png, 1, png_size, f) != png_size;
        if (f && fclose(f) != 0)
            rc = 1;
        free(png);
    }
    free(out.pixels);
    m2t_image_free(&in);
    if (rc)
        fprintf(stderr, "m2t-crop: cannot write %s\n", argv[3]);
    return rc;
}
