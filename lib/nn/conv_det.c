/* conv_det.c - im2col + fixed-order product convolution (see conv_det.h). */
#include "nn/conv_det.h"

#include <limits.h>
#include <string.h>

#include "nn/det_gemm.h"

/* Floats of one output pixel's im2col row: kernel * kernel * cin. */
static size_t patch_floats(const m2t_conv2d *c)
{
    return (size_t)c->kernel * c->kernel * c->cin;
}

static int is_pointwise(const m2t_conv2d *c)
{
    return c->kernel == 1 && c->stride == 1;
}

/* The limits of conv.h; patch_floats() must also fit the product's int depth. */
static int shape_is_valid(const m2t_conv2d *c, int in_h, int in_w)
{
    return c->cin > 0 && c->cout > 0 && c->kernel >= 1 && c->kernel <= M2T_CONV_MAX_KERNEL &&
           c->kernel % 2 == 1 && (c->stride == 1 || c->stride == 2) && in_h > 0 && in_w > 0 &&
           c->weight != NULL && c->cin <= INT_MAX / (M2T_CONV_MAX_KERNEL * M2T_CONV_MAX_KERNEL);
}

size_t m2t_conv2d_det_scratch_floats(const m2t_conv2d *conv, int in_h, int in_w)
{
    if (!conv || !shape_is_valid(conv, in_h, in_w) || is_pointwise(conv))
        return 0;
    const size_t pixels = (size_t)m2t_conv2d_out_size(in_h, conv->stride) *
                          (size_t)m2t_conv2d_out_size(in_w, conv->stride);
    return M2T_MIN(pixels, (size_t)M2T_CONV_DET_CHUNK) * patch_floats(conv);
}

/*
 * The im2col row of output pixel (oy, ox), in the order of the sum: for each
 * kernel row ky, the k input pixels under it are adjacent in HWC memory, so
 * the row is one copy of k * cin floats, with zeros where the window leaves
 * the image.
 */
static void im2col_pixel(const m2t_conv2d *c, const float *in, int in_h, int in_w, int oy,
                         int ox, float *dst)
{
    const int k = c->kernel, cin = c->cin, pad = k / 2;
    const int y0 = oy * c->stride - pad, x0 = ox * c->stride - pad;
    const int kx_begin = M2T_MAX(0, -x0);
    const int kx_end = M2T_MIN(k, in_w - x0);
    const size_t row_floats = (size_t)k * cin;

    for (int ky = 0; ky < k; ky++, dst += row_floats) {
        const int y = y0 + ky;
        if (y < 0 || y >= in_h) {
            memset(dst, 0, row_floats * sizeof *dst);
            continue;
        }
        const float *src = in + ((size_t)y * in_w + (x0 + kx_begin)) * cin;
        memset(dst, 0, (size_t)kx_begin * cin * sizeof *dst);
        memcpy(dst + (size_t)kx_begin * cin, src, (size_t)(kx_end - kx_begin) * cin * sizeof *dst);
        memset(dst + (size_t)kx_end * cin, 0, (size_t)(k - kx_end) * cin * sizeof *dst);
    }
}

/* Rows for `count` output pixels starting at flat index `first`. */
static void im2col_pixels(const m2t_conv2d *c, const float *in, int in_h, int in_w, int out_w,
                          size_t first, size_t count, float *col)
{
    const size_t k = patch_floats(c);
    int oy = (int)(first / (size_t)out_w), ox = (int)(first % (size_t)out_w);
    for (size_t i = 0; i < count; i++) {
        im2col_pixel(c, in, in_h, in_w, oy, ox, col + i * k);
        if (++ox == out_w) {
            ox = 0;
            oy++;
        }
    }
}

/* out[pixels][cout] = bias, then += rows[pixels][K] . weight[K][cout]. */
static void product_from_bias(const m2t_conv2d *c, const float *rows, size_t pixels, float *out)
{
    const size_t cout = (size_t)c->cout;
    for (size_t p = 0; p < pixels; p++) {
        if (c->bias)
            memcpy(out + p * cout, c->bias, cout * sizeof *out);
        else
            memset(out + p * cout, 0, cout * sizeof *out);
    }
    const size_t k = patch_floats(c);
    m2t_det_gemm_accumulate(rows, k, (int)pixels, (int)k, c->weight, c->cout, out);
}

m2t_error m2t_conv2d_det_forward(const m2t_conv2d *conv, const float *in, int in_h, int in_w,
                                 float *out, float *scratch, size_t scratch_floats)
{
    if (!conv || !in || !out || !shape_is_valid(conv, in_h, in_w))
        return M2T_ERROR_INVALID_ARGUMENT;
    const int out_w = m2t_conv2d_out_size(in_w, conv->stride);
    const size_t pixels = (size_t)m2t_conv2d_out_size(in_h, conv->stride) * out_w;
    const size_t k = patch_floats(conv);

    if (is_pointwise(conv)) {
        /* The input already is the im2col matrix; chunks keep the row
         * count within int and the output chunk in cache. */
        for (size_t first = 0; first < pixels; first += M2T_CONV_DET_CHUNK)
            product_from_bias(conv, in + first * k,
                              M2T_MIN((size_t)M2T_CONV_DET_CHUNK, pixels - first),
                              out + first * conv->cout);
        return M2T_OK;
    }
    if (!scratch || scratch_floats < k)
        return M2T_ERROR_INVALID_ARGUMENT;
    const size_t chunk = M2T_MIN(scratch_floats / k, (size_t)M2T_CONV_DET_CHUNK);
    for (size_t first = 0; first < pixels; first += chunk) {
        const size_t count = M2T_MIN(chunk, pixels - first);
        im2col_pixels(conv, in, in_h, in_w, out_w, first, count, scratch);
        product_from_bias(conv, scratch, count, out + first * conv->cout);
    }
    return M2T_OK;
}
