/* conv_det.c - im2col + fixed-order product convolution (see conv_det.h). */
#include "nn/conv_det.h"

#include <string.h>

#include "nn/det_gemm.h"

size_t m2t_conv2d_det_scratch_floats(const m2t_conv2d *conv, int in_h, int in_w)
{
    if (!conv || !m2t_conv2d_shape_is_valid(conv, in_h, in_w) || m2t_conv2d_is_pointwise(conv))
        return 0;
    const size_t pixels = (size_t)m2t_conv2d_out_size(in_h, conv->stride) *
                          (size_t)m2t_conv2d_out_size(in_w, conv->stride);
    return M2T_MIN(pixels, (size_t)M2T_CONV_DET_CHUNK) * m2t_conv2d_patch_floats(conv);
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
    const size_t k = m2t_conv2d_patch_floats(c);
    m2t_det_gemm_accumulate(rows, k, (int)pixels, (int)k, c->weight, c->cout, out);
}

m2t_error m2t_conv2d_det_forward(const m2t_conv2d *conv, const float *in, int in_h, int in_w,
                                 float *out, float *scratch, size_t scratch_floats)
{
    if (!conv || !in || !out || !m2t_conv2d_shape_is_valid(conv, in_h, in_w))
        return M2T_ERROR_INVALID_ARGUMENT;
    const int out_w = m2t_conv2d_out_size(in_w, conv->stride);
    const size_t pixels = (size_t)m2t_conv2d_out_size(in_h, conv->stride) * out_w;
    const size_t k = m2t_conv2d_patch_floats(conv);

    if (m2t_conv2d_is_pointwise(conv)) {
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
        m2t_conv2d_im2col(conv, in, in_h, in_w, out_w, first, count, scratch);
        product_from_bias(conv, scratch, count, out + first * conv->cout);
    }
    return M2T_OK;
}
