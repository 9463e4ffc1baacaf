/* conv_det.h - 2-D convolution with one fixed order of IEEE operations.
 *
 * The analysis transform decides the quantized latents, and so the bytes of
 * the bitstream. With OpenBLAS (conv.h) its last bits depend on the CPU and
 * on the kernels OpenBLAS picks for it, so the same image could give
 * different (equally valid) bitstreams on different machines. This
 * convolution computes every output as
 *
 *     out[oy][ox][o] = bias[o]                (0 without a bias), then
 *     for ky = 0..k-1, kx = 0..k-1, i = 0..cin-1, in this order:
 *         out[oy][ox][o] = out[oy][ox][o] + in[iy][ix][i] * w[o][i][ky][kx]
 *
 * with iy = oy * stride + ky - k/2, ix = ox * stride + kx - k/2 and
 * in[iy][ix][i] = 0 outside the image (the zero products are part of the
 * sequence), each step a rounded multiply then a rounded add. The result is
 * the same on every IEEE-754 machine, whatever the SIMD width or thread
 * count. (PyTorch's nn.Conv2d computes the same function, in another order.)
 *
 * Shapes, layouts and packed weights are those of conv.h (m2t_conv2d,
 * m2t_conv2d_pack_weights): the packed [ky][kx][cin][cout] matrix is indexed
 * by k = (ky * kernel + kx) * cin + i, the order above.
 *
 * Method: im2col over chunks of output pixels, then m2t_det_gemm_accumulate
 * (det_gemm.h) from the bias.
 */
#ifndef M2T_NN_CONV_DET_H
#define M2T_NN_CONV_DET_H

#include <stddef.h>

#include "common/common.h"
#include "nn/conv.h"

/*
 * Scratch, in floats, m2t_conv2d_det_forward() works well with for an input
 * of in_h x in_w: the im2col rows of a chunk of up to M2T_CONV_DET_CHUNK
 * output pixels; 0 for a 1x1 stride-1 convolution (the input already is the
 * im2col matrix) and for an invalid shape. Anything down to one pixel's row
 * (kernel^2 * cin floats) also works and gives the same bits.
 */
size_t m2t_conv2d_det_scratch_floats(const m2t_conv2d *conv, int in_h, int in_w);

/* Output pixels per im2col chunk: a multiple of the product's 12-row tiles,
 * small enough that a chunk's rows stay in L2 (measured best, 5x5x128). */
#define M2T_CONV_DET_CHUNK 96

/*
 * out[oh][ow][cout] = conv(in[in_h][in_w][cin]) in the order above, oh and
 * ow from m2t_conv2d_out_size(). out must not overlap in. scratch: see
 * above (may be NULL/0 for 1x1 stride 1).
 * Errors: M2T_ERROR_INVALID_ARGUMENT for a bad shape or too little scratch.
 */
m2t_error m2t_conv2d_det_forward(const m2t_conv2d *conv, const float *in, int in_h, int in_w,
                                 float *out, float *scratch, size_t scratch_floats);

#endif
